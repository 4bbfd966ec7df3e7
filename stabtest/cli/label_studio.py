"""`stabtest push | pull | calibrate`: Label Studio and the gold store, without pytest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stabtest.cli.settings import Commands, add_setting_flags, command_settings
from stabtest.core.errors import StabtestError


def _push(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.adjudication.actions import push, push_fix, variants_of_report
    from stabtest.core.report import REPORT_NAME

    settings = command_settings(args, needs_url=True)
    report_path = Path(args.report or Path(settings.report_path, REPORT_NAME))
    variants, run_id = variants_of_report(report_path)
    pushed = push(settings, variants, run_id=run_id)
    print(pushed.line())
    if not pushed.ok:
        error, *fix = push_fix(pushed, "`stabtest push` again", "--url")
        print(f"stabtest: error: {error}", *fix, sep="\n", file=sys.stderr)
        return 1
    return 0


def _pull(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.adjudication.actions import gold_path, pull

    settings = command_settings(args, needs_url=True)
    pulled = pull(settings)
    if not pulled.ok:
        print(f"stabtest: error: {pulled.error}", file=sys.stderr)
        return 1
    print(pulled.line())
    from stabtest.adjudication.gold import GoldStore

    print(f"gold store: {gold_path(settings)} ({GoldStore(gold_path(settings)).count()} label(s))")
    for line in (*pulled.warnings, *(f"skipped: {t}" for t in pulled.unknown_tasks)):
        print(f"warning: {line}", file=sys.stderr)
    for line in pulled.missing_projects:
        print(f"stabtest: error: {line}", file=sys.stderr)
    return 1 if pulled.missing_projects else 0


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _calibrate(args: argparse.Namespace, rest: list[str]) -> int:
    from tabulate import tabulate

    from stabtest.adjudication.actions import gold_path
    from stabtest.adjudication.calibrate import calibration_curve, choose_threshold, parse_targets
    from stabtest.adjudication.gold import GoldStore
    from stabtest.reporting.agreement_text import AGREEMENT_HEADERS, agreement_cells

    targets = parse_targets(args.target or [])
    wanted = ", ".join(f"{name} >= {value:g}" for name, value in targets.items())
    settings = command_settings(args)
    path = gold_path(settings)
    if not path.is_file():
        raise StabtestError(
            f"no gold store at {path}: pull human labels first "
            f"(stabtest pull --url URL, or a run with --stab-pull)"
        )
    store = GoldStore(path)
    rows = store.calibration_rows()
    if not rows:
        raise StabtestError(
            f"the gold store {path} holds no label usable for calibration (a pass/fail human "
            f"label of an answer whose automatic leaning and confidence are known)"
        )
    curve = calibration_curve(rows)
    chosen = choose_threshold(curve, targets)
    table = [
        [
            f"{p.threshold:g}",
            *agreement_cells(p.agreement),
            _pct(p.escalation_rate),
            p.kept,
            p.escalated,
            "<- chosen" if p == chosen else "",
        ]
        for p in curve
    ]
    print(f"gold store: {path} ({len(rows)} labelled verdict(s) usable for calibration)")
    print(
        tabulate(
            table,
            headers=["escalate_below", *AGREEMENT_HEADERS, "escalated", "kept", "sent", ""],
            disable_numparse=True,
        )
    )
    print("P/R correct: precision/recall of the answers a human called correct; the same for")
    print("incorrect; bal. acc.: the mean of the two recalls. Only verdicts kept count.")
    precision = store.precision()
    print(
        "AP of the pushed verdicts: "
        + ", ".join(f"{k} {'-' if v is None else f'{v:.3f}'}" for k, v in precision.items())
    )
    if chosen is None:
        best = max((p for p in curve if p.ap is not None), key=lambda p: p.ap or 0.0)
        print(
            f"stabtest: error: no threshold reaches {wanted} (best AP: {best.ap:.3f} "
            f"at escalate_below = {best.threshold:g}); nothing written. Lower --target or "
            f"label more answers.",
            file=sys.stderr,
        )
        return 1
    print(
        f"escalate_below = {chosen.threshold:g}: AP {chosen.ap:.3f} on the {chosen.kept} "
        f"verdict(s) kept, {_pct(chosen.escalation_rate)} escalated (target {wanted})"
    )
    if args.write:
        from stabtest.core.configfiles import load_settings, write_setting

        where = write_setting(Path(args.write), "escalate_below", chosen.threshold)
        print(f"wrote {where} = {chosen.threshold:g}")
        effective = load_settings(Path.cwd()).escalate_below
        if effective != chosen.threshold:
            print(
                f"stabtest: warning: a run here still uses escalate_below = {effective:g}: "
                f"a setting of higher precedence (ini stab_escalate_below over "
                f"[tool.stabtest]) overrides {args.write}",
                file=sys.stderr,
            )
    return 0


def add_commands(commands: Commands) -> None:
    token = "token: LABEL_STUDIO_API_KEY or the ini key stab_label_studio_token"
    push = commands.add_parser(
        "push",
        help="push failed and escalated answers of a report (and the outbox) to Label Studio",
        description=f"Push failed and escalated answers to Label Studio, one project per "
        f"suite; tasks already there are skipped, parked ones are sent first ({token}). "
        f"--url, --prefix and --cache-dir are short for --stab-label-studio, "
        f"--stab-label-studio-prefix and --stab-cache-dir.",
    )
    push.add_argument("report", nargs="?", help="JSON report (default: reports/stabtest.json)")
    add_setting_flags(push)
    push.set_defaults(func=_push)

    pull = commands.add_parser(
        "pull",
        help="pull human labels from Label Studio into the gold store",
        description=f"Pull annotations into the gold store; later runs use them ({token}).",
    )
    add_setting_flags(pull)
    pull.set_defaults(func=_pull)

    cal = commands.add_parser(
        "calibrate",
        help="choose escalate_below from the gold store",
        description="Print AP, per-class precision and recall, and the escalation rate per "
        "escalate_below threshold, and choose the cheapest one that reaches every target.",
    )
    cal.add_argument(
        "--target",
        action="append",
        metavar="[FIGURE=]VALUE",
        help="a figure to reach, repeatable: 0.95 (AP) or one of ap, precision_correct, "
        "recall_correct, precision_incorrect, recall_incorrect, balanced_accuracy, e.g. "
        "--target recall_correct=0.8 (default: AP 0.9)",
    )
    cal.add_argument(
        "--write",
        metavar="FILE",
        help="write the chosen value: pyproject.toml ([tool.stabtest] escalate_below) or "
        "pytest.ini/tox.ini/setup.cfg (stab_escalate_below)",
    )
    add_setting_flags(cal)
    cal.set_defaults(func=_calibrate)
