"""The `stabtest` command: run suites, import benchmarks, talk to Label Studio, report.

`stabtest run` is pytest with the plugin (same options, same report); the other commands
work on files and servers without pytest.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence

from stabtest.cli import (
    explore,
    gating,
    importing,
    judge_noise,
    label_studio,
    remediation,
    report,
    run,
    scale,
)
from stabtest.core.errors import StabtestError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stabtest", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for module in (
        run,
        importing,
        report,
        label_studio,
        remediation,
        gating,
        judge_noise,
        explore,
        scale,
    ):
        module.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command not in {"run", "plan"}:  # pytest's own arguments
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return int(args.func(args, rest))
    except StabtestError as error:
        print(f"stabtest: error: {error}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as error:  # a file we could not read or write
        print(f"stabtest: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
