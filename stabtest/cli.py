"""The `stabtest` command: run suites, import benchmarks, talk to Label Studio, report.

`stabtest run` is pytest with the plugin (same options, same report); the other commands
work on files and servers without pytest.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stabtest.core.errors import StabtestError
from stabtest.core.settings import OPTIONS, Settings

if TYPE_CHECKING:
    from stabtest.remediation.dataset import DataOptions


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    import pytest

    # pytest itself tells paths from option values: `testpaths` applies only when no path
    # was given (guessing here would take `--stab-cache-dir DIR`'s DIR for a path).
    return int(pytest.main(["-o", "testpaths=suites", *_join_values(rest)]))


def _join_values(args: Sequence[str]) -> list[str]:
    """`--stab-cache-dir DIR` -> `--stab-cache-dir=DIR`: pytest picks its rootdir before it
    loads plugins, and would take an existing DIR for a test path there."""
    valued = {o.cli for o in OPTIONS if o.flag and not o.switch}
    joined: list[str] = []
    items = iter(args)
    for arg in items:
        value = next(items, None) if arg in valued else None
        joined.append(arg if value is None else f"{arg}={value}")
    return joined


def _import(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.importers import import_suite

    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            raise StabtestError(f"--option {item!r}: expected KEY=VALUE")
        options[key] = value
    text = import_suite(
        args.kind, Path(args.source), limit=args.limit, seed=args.seed, name=args.name, **options
    )
    if args.output == "-":
        sys.stdout.write(text)
    else:
        output = Path(args.output or f"suites/{args.name or args.kind}.yaml")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output} ({text.count(chr(10) + '- id: ')} cases)")
    return 0


def _report(args: argparse.Namespace, rest: list[str]) -> int:
    """Print the summary table; `--html [OUT]` also rebuilds the dashboard from the saved
    report, the run history and remediation.json, without rerunning anything."""
    from stabtest.core.report import read_report
    from stabtest.reporting.terminal import render_summary

    path = Path(args.report)
    report = read_report(path)
    print(render_summary(report))
    remediation = path.with_name("remediation.json")
    if remediation.is_file():
        from stabtest.reporting.remediation_view import read_remediation, remediation_lines

        try:
            lines = list(remediation_lines(read_remediation(remediation)))
        except StabtestError as error:
            print(f"stabtest: warning: remediation results not shown: {error}", file=sys.stderr)
        else:
            print(f"remediation ({remediation}):", *lines, sep="\n")
    if args.html is not None:
        from stabtest.core.configfiles import load_settings
        from stabtest.reporting.dashboard import write_run_dashboard

        def skipped(message: str) -> None:
            print(f"stabtest: warning: {message}", file=sys.stderr)

        out = write_run_dashboard(
            path,
            report,
            history_file=load_settings(Path.cwd()).history_file,
            out=Path(args.html) if args.html else None,
            on_skip=skipped,
        )
        print(f"dashboard: {out}")
    return 0


# -- Label Studio ----------------------------------------------------------------------------


def _settings(args: argparse.Namespace) -> Settings:
    """Settings as a run from this directory sees them, with this command's flags on top."""
    from stabtest.core.configfiles import load_settings

    cli = {
        "label_studio": getattr(args, "url", None),
        "label_studio_prefix": getattr(args, "prefix", None),
        "cache_dir": getattr(args, "cache_dir", None),
        "model": getattr(args, "stab_model", None),
    }
    settings = load_settings(Path.cwd(), cli)
    if hasattr(args, "url") and not settings.label_studio:
        raise StabtestError(
            "no Label Studio URL: pass --url URL, or set stab_label_studio (ini) or "
            "label_studio ([tool.stabtest] in pyproject.toml)"
        )
    return settings


def _push(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.adjudication.actions import push, push_fix, variants_of_report
    from stabtest.core.report import REPORT_NAME

    settings = _settings(args)
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

    settings = _settings(args)
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
    settings = _settings(args)
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


# -- baselines and history -----------------------------------------------------------------


def _gating_settings(args: argparse.Namespace) -> Settings:
    """Settings of a run from here, with the baseline and history flags of this command."""
    from stabtest.core.configfiles import load_settings

    cli = {
        "baseline_dir": getattr(args, "dir", None),
        "history_path": getattr(args, "path", None),
        "cache_dir": getattr(args, "cache_dir", None),
        "model": getattr(args, "stab_model", None),
    }
    return load_settings(Path.cwd(), cli)


def _report_path(args: argparse.Namespace, settings: Settings) -> Path:
    from stabtest.core.report import REPORT_NAME

    return Path(args.report) if args.report else settings.report_path / REPORT_NAME


def _baseline_name(args: argparse.Namespace, settings: Settings) -> str:
    from stabtest.reporting.baseline import DEFAULT_NAME

    return str(args.name or settings.baseline or settings.save_baseline or DEFAULT_NAME)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _bless(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.reporting.baseline import bless

    settings = _gating_settings(args)
    name = _baseline_name(args, settings)
    source = _report_path(args, settings)
    path, report = bless(source, settings.baseline_path, name)
    s = report.summary
    print(
        f"baseline {name!r} <- {source} (run {report.run_id}, {report.status}, {s.cases} "
        f"case(s), SI {_fmt(s.si)}, FC {_fmt(s.fc)}): wrote {path}"
    )
    return 0


def _baselines(args: argparse.Namespace, rest: list[str]) -> int:
    import time

    from tabulate import tabulate

    from stabtest.core.text import for_terminal
    from stabtest.reporting.baseline import list_baselines

    settings = _gating_settings(args)
    found = list_baselines(settings.baseline_path)
    if not found:
        print(f"no baselines in {settings.baseline_path} (stabtest baseline bless NAME)")
        return 0
    rows = []
    for stored in found:
        report = stored.report
        if report is None:
            rows.append([stored.name, f"unreadable: {stored.error}", "", "", "", "", ""])
            continue
        model = report.settings.get("model") or report.settings.get("backend") or "-"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(report.finished_at))
        s = report.summary
        rows.append(
            [stored.name, report.run_id, when, str(model), f"{s.cases}", _fmt(s.si), _fmt(s.fc)]
        )
    safe = [[for_terminal(str(cell), 100, layout=False) for cell in row] for row in rows]
    headers = ["name", "run", "finished", "model", "cases", "SI", "FC"]
    print(tabulate(safe, headers=headers, disable_numparse=True))
    print(f"in {settings.baseline_path}")
    return 0


def _show_baseline(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.reporting.baseline import load_baseline
    from stabtest.reporting.terminal import render_summary

    settings = _gating_settings(args)
    print(render_summary(load_baseline(settings.baseline_path, _baseline_name(args, settings))))
    return 0


def _compare(args: argparse.Namespace, rest: list[str]) -> int:
    """The last run's report against a baseline, without rerunning: exit 6 on regression."""
    from stabtest.core.compare import REGRESSION_EXIT, compare_reports
    from stabtest.core.report import read_report
    from stabtest.reporting.baseline import load_baseline
    from stabtest.reporting.compare_table import render_comparison

    settings = _gating_settings(args)
    name = _baseline_name(args, settings)
    baseline = load_baseline(settings.baseline_path, name)
    comparison = compare_reports(
        baseline,
        read_report(_report_path(args, settings)),
        name,
        si_tolerance=_tolerance(args.si_tolerance, settings.baseline_si_tolerance),
        fc_tolerance=_tolerance(args.fc_tolerance, settings.baseline_fc_tolerance),
        strict=args.strict or settings.baseline_strict,
        seed=settings.seed,
        resamples=settings.baseline_resamples,
    )
    print(render_comparison(comparison, limit=args.limit))
    return 0 if comparison.passed else REGRESSION_EXIT


def _tolerance(given: float | None, default: float) -> float:
    if given is None:
        return default
    if not 0.0 <= given <= 1.0:
        raise StabtestError(f"tolerance {given}: expected a number between 0 and 1")
    return given


def _history(args: argparse.Namespace, rest: list[str]) -> int:
    import json

    from stabtest.reporting.history import read_history

    settings = _gating_settings(args)
    path = settings.history_file
    if path is None:
        raise StabtestError("the history is off (history_path = off)")
    if args.limit is not None and args.limit < 1:
        raise StabtestError(f"--limit {args.limit}: expected a positive number")

    def skipped(message: str) -> None:
        print(f"stabtest: warning: {message}", file=sys.stderr)

    records = read_history(path, on_skip=skipped)
    if args.limit is not None:
        records = records[-args.limit :]
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in records], indent=1))
        return 0
    if not records:
        print(f"no runs recorded in {path} yet")
        return 0
    from stabtest.reporting.history_table import render_history

    print(render_history(records))
    print(f"{len(records)} run(s) from {path}")
    return 0


def _baseline_options(parser: argparse.ArgumentParser, name: bool = True) -> None:
    if name:
        parser.add_argument(
            "name",
            nargs="?",
            help="baseline name (default: stab_baseline / [tool.stabtest] baseline, else main)",
        )
    parser.add_argument("--dir", help="baseline directory (default: baseline_dir, baselines)")


def _add_gating_commands(commands: Any) -> None:
    base = commands.add_parser(
        "baseline",
        help="store, list, show and compare named baselines (release gating)",
        description="Named baselines live in baseline_dir (default baselines/, commit it). "
        "A run with --stab-baseline NAME is compared with one and exits 6 on a regression.",
    )
    actions = base.add_subparsers(dest="action", required=True)
    bless_cmd = actions.add_parser(
        "bless", help="promote the last run's report (reports/stabtest.json) to a baseline"
    )
    _baseline_options(bless_cmd)
    bless_cmd.add_argument("--report", help="report to promote (default: the last run's)")
    bless_cmd.set_defaults(func=_bless)
    list_cmd = actions.add_parser("list", help="list the stored baselines")
    _baseline_options(list_cmd, name=False)
    list_cmd.set_defaults(func=_baselines)
    show = actions.add_parser("show", help="print a baseline's summary table")
    _baseline_options(show)
    show.set_defaults(func=_show_baseline)
    cmp = actions.add_parser(
        "compare",
        help="compare the last run's report with a baseline (exit 6 on a regression)",
    )
    _baseline_options(cmp)
    cmp.add_argument("--report", help="report to compare (default: the last run's)")
    cmp.add_argument("--si-tolerance", type=float, help="default: baseline_si_tolerance")
    cmp.add_argument("--fc-tolerance", type=float, help="default: baseline_fc_tolerance")
    cmp.add_argument("--strict", action="store_true", help="gate noise and changed cases too")
    cmp.add_argument("--limit", type=int, default=30, help="case rows shown (default: 30)")
    cmp.set_defaults(func=_compare)

    hist = commands.add_parser(
        "history", help="print the run history (one line per run, newest last)"
    )
    hist.add_argument("--limit", type=int, help="only the last N runs")
    hist.add_argument("--json", action="store_true", help="print the records as JSON")
    hist.add_argument("--path", help="history file (default: <cache_dir>/history.jsonl)")
    hist.add_argument("--cache-dir", help="stabtest cache dir")
    hist.set_defaults(func=_history)


# -- explore -------------------------------------------------------------------------------

EXPLORE_FOUND, EXPLORE_NOT_FOUND, EXPLORE_ORIGINAL_FAILS = 0, 1, 3
"""Exit statuses of `stabtest explore` (2 stays every command's error status)."""


def _explore(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.core.configfiles import load_settings
    from stabtest.explore.render import render_exploration
    from stabtest.explore.search import Budget, Explorer, database_dir
    from stabtest.explore.target import resolve_target
    from stabtest.session import Session

    settings = load_settings(Path.cwd(), {o.name: getattr(args, o.ini) for o in OPTIONS if o.flag})
    target = resolve_target(args.target, Path(settings.rootdir))
    given = {"max_generations": args.max_generations, "max_seconds": args.max_seconds}
    operators = [name.strip() for name in (args.operators or "").split(",") if name.strip()]
    try:
        budget = Budget(**{k: v for k, v in given.items() if v is not None})
        explorer = Explorer(
            Session(settings),
            target.scope,
            target.case,
            budget,
            operators=operators,
            max_depth=args.max_depth,
            database_dir=database_dir(settings.cache_path),
        )
    except ValueError as error:  # a bad budget, depth or operator name
        raise StabtestError(str(error)) from None
    exploration = explorer.run()
    print(*render_exploration(exploration, budget), sep="\n")
    if exploration.status == "original_fails":
        return EXPLORE_ORIGINAL_FAILS
    if exploration.finding is None:
        return EXPLORE_NOT_FOUND
    if args.write:
        from stabtest.explore.writeback import add_paraphrase

        written = add_paraphrase(
            target.path, target.case.id, exploration.finding.text, target.scope
        )
        if written.added:
            print(f"wrote {target.scope}:{written.line}: a paraphrase of {target.case.id}")
        else:
            print(f"{target.scope}: {target.case.id} already has this wording; unchanged")
    return EXPLORE_FOUND


def _setting_flags(parser: argparse.ArgumentParser) -> None:
    """Every `--stab-*` flag of a run, from the one declaration in core.settings."""
    group = parser.add_argument_group("settings (as for a run; ini and pyproject apply)")
    for option in OPTIONS:
        if not option.flag:
            continue
        if option.switch:
            group.add_argument(
                option.cli, dest=option.ini, action="store_const", const=True, help=option.help
            )
        else:
            group.add_argument(
                option.cli,
                dest=option.ini,
                action="append" if option.repeat else "store",
                metavar=option.metavar,
                help=option.help,
            )


def _add_explore_command(commands: Any) -> None:
    exp = commands.add_parser(
        "explore",
        help="search for the smallest perturbation of a case's prompt that breaks the model",
        description="Search compositions of the perturbation operators (hypothesis, through "
        "the generation cache) for a wording of the case's prompt whose answer is wrong or "
        "diverges from the original's, shrink it to the fewest operators, print it and add "
        "it to the suite as a paraphrase. Exit 0: found, 1: none within the budget, 3: the "
        "original prompt already fails, 2: error.",
    )
    exp.add_argument(
        "target", metavar="SUITE::CASE", help="e.g. suites/capitals.yaml::capital-of-france"
    )
    exp.add_argument(
        "--max-generations",
        type=int,
        metavar="N",
        help="answers the model may generate (cache hits are free; default: 60)",
    )
    exp.add_argument(
        "--max-seconds", type=float, metavar="S", help="wall-clock budget (default: 300)"
    )
    exp.add_argument(
        "--operators", metavar="LIST", help="comma-separated operators to compose (default: all)"
    )
    exp.add_argument(
        "--max-depth",
        type=int,
        default=3,
        metavar="N",
        help="operators composed at most (default: 3)",
    )
    exp.add_argument(
        "--no-write",
        dest="write",
        action="store_false",
        help="do not add the found variant to the suite file",
    )
    _setting_flags(exp)
    exp.set_defaults(func=_explore)


# -- remediation -----------------------------------------------------------------------------


def _data_options(args: argparse.Namespace) -> DataOptions:
    from stabtest.remediation.dataset import DataOptions

    return DataOptions(
        weak=args.weak,
        min_confidence=args.min_confidence,
        stability_weight=args.stability_weight,
        replay_weight=args.replay_weight,
        rewrite=args.restate,
    )


def _remediate(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.remediation.gate import Gate
    from stabtest.remediation.loop import Plan, remediate
    from stabtest.remediation.partition import Roles
    from stabtest.remediation.train import Hyperparameters
    from stabtest.reporting.remediation_view import remediation_lines

    settings = _settings(args)
    plan = Plan(
        data=_data_options(args),
        roles=Roles(args.control_fraction, args.validation_fraction, args.retain_weight),
        hp=Hyperparameters(
            method=args.method,
            learning_rate=args.lr,
            epochs=args.epochs,
            max_steps=args.steps,
            batch_size=args.batch_size,
            lora_r=args.lora_r,
            lora_alpha=2 * args.lora_r,
            seed=settings.seed,
        ),
        gate=Gate(
            args.min_si_drop,
            args.max_fc_drop,
            args.min_rdr_ratio,
            args.max_control_fc_drop,
            args.control_rule,
        ),
        eval_variants=args.eval_variants,
        budget_minutes=args.budget_minutes,
        search=args.search,
        rounds=args.rounds,
        min_kept=args.min_kept,
    )
    try:
        result = remediate(settings, plan)
    except KeyboardInterrupt:
        path = settings.report_path / "remediation.json"
        print(f"remediation interrupted: what finished is in {path}", file=sys.stderr)
        return 130
    body = json.loads(Path(result.report_path).read_text(encoding="utf-8"))
    print(*remediation_lines(body), sep="\n")
    print(f"report: {result.report_path}")
    if result.status == "interrupted":
        return 130
    return 0 if result.accepted else 1


def _models(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.remediation.models import describe, rounds

    settings = _settings(args)
    found = rounds(settings.cache_path)
    if not found:
        print(f"no remediation rounds under {settings.cache_path / 'models'}")
    for model_round in found:
        for line in describe(model_round):
            print(line)
    return 0


def _export(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.remediation.dataset import write_jsonl
    from stabtest.remediation.loop import training_examples

    settings = _settings(args)
    examples = training_examples(settings, _data_options(args), args.kind)
    output = Path(args.output or f"{args.kind}.jsonl")
    count = write_jsonl(output, examples, args.kind)
    print(f"wrote {output} ({count} {args.kind} example(s))")
    return 0


def _training_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weak",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train on confident automatic failures, not only human labels (default: on)",
    )
    parser.add_argument("--min-confidence", type=float, default=0.8, metavar="X")
    parser.add_argument(
        "--stability-weight",
        type=float,
        default=2.0,
        metavar="W",
        help="loss weight of semantic-divergence and session-drift failures (default: 2)",
    )
    parser.add_argument(
        "--replay-weight",
        type=float,
        default=0.5,
        metavar="W",
        help="also train on the model's own right answers in corrected cases at this weight "
        "(default: 0.5; 0: off)",
    )
    parser.add_argument(
        "--restate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="restate a target written from a reference in the model's own words (a "
        "blank filled, or the model's sentence stating it), so training does not teach a "
        "new style (default: on)",
    )
    parser.add_argument("--cache-dir", help="stabtest cache dir (gold store, models)")


def _label_studio_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", help="Label Studio URL (default: stab_label_studio / [tool.stabtest])"
    )
    parser.add_argument(
        "--prefix", help="project title prefix (default: stab_label_studio_prefix or stabtest)"
    )
    parser.add_argument("--cache-dir", help="stabtest cache dir holding the outbox and gold store")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stabtest", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run suites (default: suites/) with pytest; pytest and --stab-* options pass through",
    )
    run.set_defaults(func=_run)

    imp = commands.add_parser("import", help="turn benchmark data into a suite file")
    imp.add_argument("kind", choices=["truthfulqa", "gsm8k", "pararel"])
    imp.add_argument("source", help="data file (truthfulqa, gsm8k) or directory (pararel)")
    imp.add_argument("-o", "--output", help="suite file to write ('-' for stdout)")
    imp.add_argument("--limit", type=int, help="at most this many cases")
    imp.add_argument("--seed", type=int, default=0, help="seed for sampled selections")
    imp.add_argument("--name", help="suite name (default: the kind)")
    imp.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="importer option, e.g. category=Fiction, relations=P36,P17",
    )
    imp.set_defaults(func=_import)

    rep = commands.add_parser("report", help="print the summary table of a JSON report")
    rep.add_argument("report", nargs="?", default="reports/stabtest.json")
    rep.add_argument(
        "--html",
        nargs="?",
        const="",
        metavar="OUT",
        help="also write the HTML dashboard (default: stabtest.html next to the report)",
    )
    rep.set_defaults(func=_report)

    token = "token: LABEL_STUDIO_API_KEY or the ini key stab_label_studio_token"
    push = commands.add_parser(
        "push",
        help="push failed and escalated answers of a report (and the outbox) to Label Studio",
        description=f"Push failed and escalated answers to Label Studio, one project per "
        f"suite; tasks already there are skipped, parked ones are sent first ({token}).",
    )
    push.add_argument("report", nargs="?", help="JSON report (default: reports/stabtest.json)")
    _label_studio_options(push)
    push.set_defaults(func=_push)

    pull = commands.add_parser(
        "pull",
        help="pull human labels from Label Studio into the gold store",
        description=f"Pull annotations into the gold store; later runs use them ({token}).",
    )
    _label_studio_options(pull)
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
    cal.add_argument("--cache-dir", help="stabtest cache dir holding the gold store")
    cal.set_defaults(func=_calibrate)

    rem = commands.add_parser(
        "remediate",
        help="fine-tune on the last run's failures, rerun held-out variants, accept or reject",
        description="Train one round (TRL: LoRA SFT or DPO) on adjudicated and confident "
        "failures of reports/stabtest.json, rerun the suites on held-out variants with the "
        "base and the new model, and gate. Exit 0: accepted, 1: rejected.",
    )
    _training_data_options(rem)
    rem.add_argument(
        "--stab-model", metavar="NAME_OR_DIR", help="the model to remediate (default: stab_model)"
    )
    rem.add_argument("--method", choices=["sft", "dpo"], default="sft")
    rem.add_argument("--lr", type=float, default=2e-4, help="learning rate (default: 2e-4)")
    rem.add_argument("--epochs", type=float, default=2.0)
    rem.add_argument("--steps", type=int, default=-1, help="max steps (default: by epochs)")
    rem.add_argument("--batch-size", type=int, default=4)
    rem.add_argument("--lora-r", type=int, default=16)
    rem.add_argument(
        "--retain-weight",
        type=float,
        default=0.5,
        metavar="W",
        help="train on the base model's own answers in cases with nothing to correct at this "
        "weight, against forgetting (default: 0.5; 0: off, those cases join the control)",
    )
    rem.add_argument(
        "--control-fraction",
        type=float,
        default=0.25,
        metavar="X",
        help="share of the cases (by hash) never trained on, to measure forgetting (0.25)",
    )
    rem.add_argument(
        "--validation-fraction",
        type=float,
        default=0.25,
        metavar="X",
        help="share of training wordings kept to choose the configuration and step (0.25)",
    )
    rem.add_argument(
        "--search",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="try a few configurations within --budget-minutes, chosen on validation "
        "(default: on; --no-search trains the given one)",
    )
    rem.add_argument(
        "--budget-minutes", type=float, default=30.0, help="time for a round's search (30)"
    )
    rem.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds: each accepted round is rerun and the next trains on its failures (1)",
    )
    rem.add_argument(
        "--min-kept",
        type=float,
        default=0.95,
        metavar="X",
        help="a candidate must keep this share of right validation answers right (0.95)",
    )
    rem.add_argument("--eval-variants", type=int, default=4, help="held-out rule variants/case")
    rem.add_argument("--min-si-drop", type=float, default=0.4, help="relative (default: 0.4)")
    rem.add_argument("--max-fc-drop", type=float, default=0.02)
    rem.add_argument(
        "--min-rdr-ratio",
        type=float,
        default=0.8,
        help="answer diversity across cases, after/before",
    )
    rem.add_argument("--max-control-fc-drop", type=float, default=0.02)
    rem.add_argument(
        "--control-rule",
        choices=["interval", "estimate"],
        default="interval",
        help="judge control FC on its 95%% interval (default) or its point estimate",
    )
    rem.set_defaults(func=_remediate)

    mod = commands.add_parser("models", help="list remediation rounds (versioned models)")
    mod.add_argument("--cache-dir", help="stabtest cache dir")
    mod.set_defaults(func=_models)

    exp = commands.add_parser(
        "export", help="write remediation training data as JSONL (prompt/completion or DPO)"
    )
    exp.add_argument("kind", choices=["sft", "dpo"])
    exp.add_argument("--format", choices=["jsonl"], default="jsonl")
    exp.add_argument("-o", "--output", help="file to write (default: KIND.jsonl)")
    _training_data_options(exp)
    exp.set_defaults(func=_export)
    _add_gating_commands(commands)
    _add_explore_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return int(args.func(args, rest))
    except StabtestError as error:
        print(f"stabtest: error: {error}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as error:  # a file we could not read or write
        print(f"stabtest: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
