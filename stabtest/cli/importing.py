"""`stabtest import KIND SOURCE`: benchmark data (TruthfulQA, GSM8K, ParaRel) -> a suite."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stabtest.cli.settings import Commands
from stabtest.core.errors import StabtestError


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


def add_commands(commands: Commands) -> None:
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
