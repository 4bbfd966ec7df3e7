"""The `stabtest` command: run suites, import benchmarks, talk to Label Studio, report.

`stabtest run` is pytest with the plugin (same options, same report); the other commands
work on files and servers without pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from stabtest.core.errors import StabtestError


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    import pytest

    targets = [a for a in rest if not a.startswith("-")]
    return int(pytest.main([*rest, *([] if targets else ["suites"])]))


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
    from stabtest.reporting.terminal import render_summary

    report = json.loads(Path(args.report).read_text(encoding="utf-8"))
    print(render_summary(report))
    return 0


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
    rep.set_defaults(func=_report)
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


if __name__ == "__main__":
    sys.exit(main())
