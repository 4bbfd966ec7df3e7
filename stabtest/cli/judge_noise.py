"""`stabtest judge-noise [REPORT] [--seed N] [--rounds R] [--json]`: how often the judges'
verdicts on a finished run's answers flip under perturbations that should change none
(whitespace, casing, final punctuation, reference order), and how well the judges agree
(Krippendorff's alpha). Nothing is generated: the answers come from the report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from stabtest.cli.settings import Commands, add_setting_flags, command_settings
from stabtest.core.errors import StabtestError

if TYPE_CHECKING:
    from stabtest.annotators.noise import Kind, NoiseFloor, Tally


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _cell(tally: Tally) -> str:
    return f"{tally.flips}/{tally.verdicts}"


def _interval(tally: Tally) -> str:
    interval = tally.interval
    return "-" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def render(result: NoiseFloor) -> str:
    """The flip table (one row per perturbation kind, then overall; a column of vote flip
    rates per judge) and the lines of the noise floor and the agreement."""
    from tabulate import tabulate

    from stabtest.core.text import for_terminal

    judges = list(result.judges)
    rows = []
    kinds: list[tuple[str, Kind | None, Tally]] = [(k, k, t) for k, t in result.kinds.items()]
    for name, kind, tally in [*kinds, ("overall", None, result.overall)]:
        votes = [result.vote_flips(judge, kind).rate for judge in judges]
        rows.append(
            [name, _cell(tally), _fmt(tally.rate), _interval(tally)] + [_fmt(v) for v in votes]
        )
    headers = ["perturbation", "flips", "flip rate", "95% interval"] + [
        for_terminal(f"{j} votes", 40, layout=False) for j in judges
    ]
    lines = [tabulate(rows, headers=headers, disable_numparse=True)]
    lines.append(
        f"noise floor (ensemble verdict flip rate): {_fmt(result.noise_floor)} over "
        f"{result.overall.verdicts} re-judged verdict(s) of {result.answers} answer(s), "
        f"{result.cases} case(s), seed {result.seed}, {result.rounds} round(s)"
    )
    lines.append(
        f"judge agreement (Krippendorff's alpha, nominal): {_fmt(result.alpha)} over "
        f"{result.units} answer(s) with two or more votes"
    )
    lines.extend(f"skipped {for_terminal(s, 200, layout=False)}" for s in result.skipped)
    return "\n".join(lines)


def _judge_noise(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.adjudication.noise_floor import NOISE_NAME, SECTION, judge_noise
    from stabtest.core.atomic import write_atomic
    from stabtest.core.report import REPORT_NAME, read_report

    if args.rounds < 1:
        raise StabtestError(f"--rounds {args.rounds}: expected a positive number")
    settings = command_settings(args)
    path = Path(args.report) if args.report else settings.report_path / REPORT_NAME
    result = judge_noise(read_report(path), settings, seed=args.seed, rounds=args.rounds)
    section = {SECTION: {"report": str(path), **result.to_json()}}
    text = json.dumps(section, indent=1)
    out = settings.report_path / NOISE_NAME
    write_atomic(out, (text + "\n").encode("utf-8"))
    if args.json:
        print(text)
    else:
        print(render(result))
        print(f"wrote {out}")
    return 0


def add_commands(commands: Commands) -> None:
    cmd = commands.add_parser(
        "judge-noise",
        help="re-judge a run's answers under harmless perturbations: verdict flip rates "
        "(the judge noise floor) and judge agreement (Krippendorff's alpha)",
        description=__doc__,
    )
    cmd.add_argument("report", nargs="?", help="report to read (default: the last run's)")
    cmd.add_argument("--seed", type=int, help="perturbation seed (default: the run seed)")
    cmd.add_argument(
        "--rounds", type=int, default=1, help="perturbations of each kind per case (default: 1)"
    )
    cmd.add_argument("--json", action="store_true", help="print the result as JSON")
    add_setting_flags(cmd)
    cmd.set_defaults(func=_judge_noise)
