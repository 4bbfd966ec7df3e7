"""`stabtest report [REPORT] [--html [OUT]]`: a saved report's summary, and its dashboard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stabtest.cli.settings import Commands, add_setting_flags, command_settings
from stabtest.core.errors import StabtestError


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
        from stabtest.reporting.dashboard import write_run_dashboard

        def skipped(message: str) -> None:
            print(f"stabtest: warning: {message}", file=sys.stderr)

        out = write_run_dashboard(
            path,
            report,
            history_file=command_settings(args).history_file,
            out=Path(args.html) if args.html else None,
            on_skip=skipped,
        )
        print(f"dashboard: {out}")
    return 0


def add_commands(commands: Commands) -> None:
    rep = commands.add_parser("report", help="print the summary table of a JSON report")
    rep.add_argument("report", nargs="?", default="reports/stabtest.json")
    rep.add_argument(
        "--html",
        nargs="?",
        const="",
        metavar="OUT",
        help="also write the HTML dashboard (default: stabtest.html next to the report)",
    )
    add_setting_flags(rep)
    rep.set_defaults(func=_report)
