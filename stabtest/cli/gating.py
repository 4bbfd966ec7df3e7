"""`stabtest baseline bless | list | show | compare` and `stabtest history`: release gating
on saved reports, without rerunning anything."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stabtest.cli.settings import Commands, add_setting_flags, command_settings
from stabtest.core.errors import StabtestError
from stabtest.core.settings import Settings


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

    settings = command_settings(args)
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

    settings = command_settings(args)
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

    settings = command_settings(args)
    print(render_summary(load_baseline(settings.baseline_path, _baseline_name(args, settings))))
    return 0


def _compare(args: argparse.Namespace, rest: list[str]) -> int:
    """The last run's report against a baseline, without rerunning: exit 6 on regression."""
    from dataclasses import replace

    from stabtest.core.compare import REGRESSION_EXIT
    from stabtest.core.report import read_report
    from stabtest.finish.baseline_gate import compare_with_baseline
    from stabtest.reporting.baseline import load_baseline
    from stabtest.reporting.compare_table import render_comparison

    settings = command_settings(args)
    settings = replace(
        settings,
        baseline_si_tolerance=_tolerance(args.si_tolerance, settings.baseline_si_tolerance),
        baseline_fc_tolerance=_tolerance(args.fc_tolerance, settings.baseline_fc_tolerance),
        baseline_strict=args.strict or settings.baseline_strict,
    )
    name = _baseline_name(args, settings)
    baseline = load_baseline(settings.baseline_path, name)
    report = read_report(_report_path(args, settings))
    comparison, lines = compare_with_baseline(settings, baseline, report, name)
    print(render_comparison(comparison, limit=args.limit))
    for line in lines:
        print(line)
    return 0 if comparison.passed else REGRESSION_EXIT


def _tolerance(given: float | None, default: float) -> float:
    if given is None:
        return default
    if not 0.0 <= given <= 1.0:
        raise StabtestError(f"tolerance {given}: expected a number between 0 and 1")
    return given


MIN_TREND_RUNS = 3
"""Below this a history has no trend to show (a slope of two points has no interval)."""


def _history(args: argparse.Namespace, rest: list[str]) -> int:
    import json

    from stabtest.reporting.history import read_history

    settings = command_settings(args)
    path = settings.history_file
    if path is None:
        raise StabtestError("the history is off (history_path = off)")
    if args.limit is not None and args.limit < 1:
        raise StabtestError(f"--limit {args.limit}: expected a positive number")
    if args.trend < 0:
        raise StabtestError(f"--trend {args.trend}: expected 0 (off) or a number of runs")

    def skipped(message: str) -> None:
        print(f"stabtest: warning: {message}", file=sys.stderr)

    every = read_history(path, on_skip=skipped)
    records = every[-args.limit :] if args.limit is not None else every
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in records], indent=1))
        return 0
    if not records:
        print(f"no runs recorded in {path} yet")
        return 0
    from stabtest.reporting.history_table import render_history

    print(render_history(records))
    print(f"{len(records)} run(s) from {path}")
    if args.trend > 0 and len(every) >= MIN_TREND_RUNS:
        from stabtest.reporting.history_trend import trend_lines

        for line in trend_lines(every, last=args.trend):
            print(line)
    return 0


def _baseline_options(parser: argparse.ArgumentParser, name: bool = True) -> None:
    if name:
        parser.add_argument(
            "name",
            nargs="?",
            help="baseline name (default: stab_baseline / [tool.stabtest] baseline, else main)",
        )
    add_setting_flags(parser)


def add_commands(commands: Commands) -> None:
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
    hist.add_argument(
        "--trend",
        type=int,
        default=10,
        metavar="N",
        help="flag SI/FC drifting over the last N runs: a least-squares slope with its 95%% "
        "interval (default: 10; 0: off)",
    )
    add_setting_flags(hist)
    hist.set_defaults(func=_history)
