"""False regressions of a suite compared with itself: two runs of the same model.

    .venv/bin/python benchmarks/false_alarms.py [--cases 300] [--variants 10] [--pairs 5]

Each case has its own chance of a right answer (uniform in 0.5-0.95); both runs draw
every answer from it, with different seeds: no real change. Prints, for `--pairs` such
pairs of runs, how many cases gate under today's rule (each case alone, unpaired
bootstrap), each case alone with the paired tests, and with the paired tests under
Benjamini-Hochberg at FDR 5% (the default gate); tolerances 0.05.
"""

from __future__ import annotations

import argparse
import random
import time

from _synthetic import run

from stabtest.core.compare import compare_reports


def draw(rng: random.Random, chances: list[float], variants: int, samples: int) -> list:
    return [[[rng.random() < p for _ in range(samples)] for _ in range(variants)] for p in chances]


def gated(before: object, after: object, *, paired: bool, fdr: float | None) -> int:
    result = compare_reports(
        before,  # type: ignore[arg-type]
        after,  # type: ignore[arg-type]
        "bench",
        si_tolerance=0.05,
        fc_tolerance=0.05,
        fdr=fdr,
        paired=paired,
    )
    return sum(s.level == "case" for s in result.regressions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--variants", type=int, default=10)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{args.cases} cases x {args.variants} variants x {args.samples} samples, "
        "no real change; cases gated:"
    )
    totals = [0, 0, 0]
    started = time.perf_counter()
    for pair in range(args.pairs):
        rng = random.Random(pair)
        chances = [rng.uniform(0.5, 0.95) for _ in range(args.cases)]
        before = run(draw(rng, chances, args.variants, args.samples), "a")
        after = run(draw(rng, chances, args.variants, args.samples), "b")
        counts = [
            gated(before, after, paired=False, fdr=None),
            gated(before, after, paired=True, fdr=None),
            gated(before, after, paired=True, fdr=0.05),
        ]
        totals = [t + c for t, c in zip(totals, counts, strict=True)]
        print(
            f"  pair {pair}: unpaired, per case {counts[0]:>3}; paired, per case {counts[1]:>3}; "
            f"paired + BH 5% {counts[2]:>3}"
        )
    n = args.pairs
    print(
        f"mean over {n} pairs: unpaired per case {totals[0] / n:.1f}, paired per case "
        f"{totals[1] / n:.1f}, paired + BH {totals[2] / n:.1f} "
        f"({time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
