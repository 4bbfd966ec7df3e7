"""`stabtest explore` on real data with the bundled model, in one run.

    .venv/bin/python benchmarks/explore.py [--pararel 9] [--tqa 4] [--max-generations 15]
                                            [--max-seconds 120] [--seed 0]

Imports ParaRel facts and TruthfulQA questions (stabtest.importers, seed 0), asks each
original prompt once, keeps the cases whose original answer the judges do not fail (the
first `--pararel` + `--tqa` of them), and explores each with the same budget over every
registered operator (up to 3 composed), in one process over one model, with a fresh
cache and a seeded search (the same figures on every run, CPU time aside). Prints per
case what was found, then:

- success rate: cases with a breaking variant found / cases explored;
- mean shrunk size over the breaks found: operators in the variant, and its Levenshtein
  distance in characters to the original prompt;
- shrink completed: breaks whose shrinking hypothesis finished within the budget;
- mean generations used per explored case (the original's answer included), and mean
  seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def candidates(pararel: int, tqa: int) -> list[tuple[str, object]]:
    """(source, case) pairs: more than needed, since the model gets many wrong."""
    from stabtest.core.loader import parse_suite
    from stabtest.importers import import_suite
    from stabtest.variants.perturb import OPERATORS

    found: list[tuple[str, object]] = []
    for kind, source, limit, tokens in (
        ("pararel", SHARED / "pararel", pararel * 8, 16),
        ("truthfulqa", SHARED / "TruthfulQA.csv", tqa * 8, 32),
    ):
        suite = parse_suite(import_suite(kind, source, limit=limit, seed=0), kind, OPERATORS)
        for case in suite.cases:
            sampling = case.sampling.model_copy(update={"max_new_tokens": tokens})
            found.append((kind, case.model_copy(update={"sampling": sampling})))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pararel", type=int, default=9, help="ParaRel cases to explore")
    parser.add_argument("--tqa", type=int, default=4, help="TruthfulQA cases to explore")
    parser.add_argument("--max-generations", type=int, default=15)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (reproducible)")
    args = parser.parse_args(argv)

    from stabtest.core.settings import Settings
    from stabtest.explore.search import Budget, Exploration, Explorer
    from stabtest.session import Session

    budget = Budget(args.max_generations, args.max_seconds)
    wanted = {"pararel": args.pararel, "truthfulqa": args.tqa}
    explored: list[Exploration] = []
    skipped = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stabtest-explore-") as tmp:
        session = Session(Settings(rootdir=tmp, seed=0))
        for kind, case in candidates(args.pararel, args.tqa):
            if not wanted[kind]:
                continue
            explorer = Explorer(session, f"suites/{kind}.yaml", case, budget, seed=args.seed)
            result = explorer.run()
            if result.status == "original_fails":
                skipped += 1
                continue
            wanted[kind] -= 1
            explored.append(result)
            f = result.finding
            print(
                f"{result.case.id}: {result.status}"
                + (f" {f.operators} d={f.edit_distance} {f.text!r}" if f else "")
                + f" ({result.usage.generations} gen, {result.usage.seconds:.0f} s)",
                flush=True,
            )
    total = time.perf_counter() - started
    found = [e.finding for e in explored if e.finding is not None]
    if not explored:
        print("no case was answered right in its original wording", file=sys.stderr)
        return 1

    def mean(values: list[float]) -> str:
        return f"{statistics.fmean(values):.2f}" if values else "-"

    rows = [
        ["cases explored (original answered right)", len(explored)],
        ["cases skipped (original already wrong)", skipped],
        ["success rate", f"{len(found)}/{len(explored)} = {len(found) / len(explored):.0%}"],
        ["mean operators in the shrunk variant", mean([len(f.operators) for f in found])],
        ["mean edit distance to the original (chars)", mean([f.edit_distance for f in found])],
        ["shrink completed within the budget", f"{sum(f.shrunk for f in found)}/{len(found)}"],
        ["mean generations used per case", mean([e.usage.generations for e in explored])],
        [
            "mean generations per case with a break",
            mean([e.usage.generations for e in explored if e.finding is not None]),
        ],
        ["mean seconds per case", mean([e.usage.seconds for e in explored])],
        ["budget per case", f"{budget.max_generations} generations, {budget.max_seconds:g} s"],
        ["wall time (model load included)", f"{total:.0f} s"],
    ]
    print(tabulate(rows, disable_numparse=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
