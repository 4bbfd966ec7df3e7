"""`stabtest run`: pytest with the plugin (same options, same report)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from stabtest.cli.settings import Commands
from stabtest.core.flags import valued_flags


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    import pytest

    # pytest itself tells paths from option values: `testpaths` applies only when no path
    # was given (guessing here would take `--stab-cache-dir DIR`'s DIR for a path).
    return int(pytest.main(["-o", "testpaths=suites", *join_values(rest)]))


def join_values(args: Sequence[str]) -> list[str]:
    """`--stab-cache-dir DIR` -> `--stab-cache-dir=DIR`: pytest picks its rootdir before it
    loads plugins, and would take an existing DIR for a test path there."""
    valued = valued_flags()  # the plugin's flags: the same builder
    joined: list[str] = []
    items = iter(args)
    for arg in items:
        value = next(items, None) if arg in valued else None
        joined.append(arg if value is None else f"{arg}={value}")
    return joined


def add_commands(commands: Commands) -> None:
    run = commands.add_parser(
        "run",
        help="run suites (default: suites/) with pytest; pytest and --stab-* options pass through",
    )
    run.set_defaults(func=_run)
