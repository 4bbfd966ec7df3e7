"""Power of the paired FC test against the unpaired one, at an equal false-alarm rate.

    .venv/bin/python benchmarks/paired_power.py [--reps 200] [--samples 4] [--drop 0.10]

One case per run, `--samples` answers per variant, at several numbers of variants. Each
variant has its own chance of a right answer (Beta(1.5, 0.5): mean 0.75, some variants
nearly always wrong, most nearly always right, as paraphrases of one question are); the
candidate keeps the variants and lowers every chance by the same factor, an FC drop of
`--drop` on average. Null pairs draw both runs from the same chances. For each method the
critical p is the largest whose false-alarm rate on the null pairs is at most 5%, so both
have (nearly) the same measured false-alarm rate, printed; power is the share of changed
pairs at or under it. Also the
power and false-alarm rate at the nominal p < 0.05 the gate uses. Paired:
McNemar's exact test (what `compare_reports` uses); unpaired: the bootstrap over answers
(`paired=False`, today's comparison).

`--greedy CHURN`: one greedy answer a variant instead; the second run repeats the first
run's answer, except a share CHURN of them drawn again (nondeterministic serving); the
changed run then turns each right answer wrong with the drop's probability.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random

from _synthetic import run

from stabtest.core.compare import compare_reports

SIZES = (10, 20, 40, 80, 160)


def draw(rng: random.Random, chances: list[float], samples: int) -> list[list[bool]]:
    return [[rng.random() < p for _ in range(samples)] for p in chances]


def fc_p(before: list[list[bool]], after: list[list[bool]], paired: bool, seed: int) -> float:
    result = compare_reports(
        run([before]),
        run([after]),
        "bench",
        si_tolerance=1.0,
        fc_tolerance=1.0,
        seed=seed,
        resamples=500,
        fdr=None,
        paired=paired,
    )
    case = next(s for s in result.scopes if s.level == "case")
    fc = next(m for m in case.metrics if m.metric == "fc")
    return 1.0 if fc.p_value is None else fc.p_value


def calibrated(null: list[float], alt: list[float], rate: float = 0.05) -> tuple[float, float]:
    """Power at the largest critical p whose false-alarm rate on the null pairs is at most
    `rate` (p-values are discrete: ties never split), and that false-alarm rate; below
    every null p when even the smallest alarms too often."""
    best = None
    for value in sorted(set(null)):
        if sum(p <= value for p in null) / len(null) <= rate:
            best = value
    if best is None:
        floor = min(null)
        return sum(p < floor for p in alt) / len(alt), 0.0
    return sum(p <= best for p in alt) / len(alt), sum(p <= best for p in null) / len(null)


def needed(powers: list[tuple[int, float]], target: float = 0.8) -> str:
    """Answers at `target` power, interpolated on log(answers) between measured sizes."""
    for (n0, p0), (n1, p1) in itertools.pairwise(powers):
        if p0 < target <= p1:
            t = (target - p0) / (p1 - p0)
            return f"~{math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0))):.0f}"
    if powers and powers[0][1] >= target:
        return f"<= {powers[0][0]}"
    return f"> {powers[-1][0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--drop", type=float, default=0.10)
    parser.add_argument("--greedy", type=float, default=None, metavar="CHURN")
    args = parser.parse_args()
    if args.greedy is not None:
        args.samples = 1
    factor = (0.75 - args.drop) / 0.75
    how = (
        f"{args.samples} samples a variant"
        if args.greedy is None
        else f"greedy, {args.greedy:.0%} of answers drawn again"
    )
    print(
        f"FC drop {args.drop:.2f} (0.75 -> {0.75 - args.drop:.2f}), {how}, "
        f"{args.reps} null and {args.reps} changed pairs a size, alpha 0.05 measured"
    )
    print(
        f"{'variants':>8} {'answers':>8}  {'alarms p/u':>11}  {'paired':>6} {'unpaired':>8}"
        f"  at p < 0.05: {'paired':>6} {'unpaired':>8}  alarms {'paired':>6} {'unpaired':>8}"
    )
    powers: dict[bool, list[tuple[int, float]]] = {True: [], False: []}
    at_nominal: dict[bool, list[tuple[int, float]]] = {True: [], False: []}
    for size in SIZES:
        rng = random.Random(size)
        null: dict[bool, list[float]] = {True: [], False: []}
        alt: dict[bool, list[float]] = {True: [], False: []}
        for rep in range(args.reps):
            chances = [rng.betavariate(1.5, 0.5) for _ in range(size)]
            base = draw(rng, chances, args.samples)
            if args.greedy is None:
                same = draw(rng, chances, args.samples)
                worse = draw(rng, [p * factor for p in chances], args.samples)
            else:
                same = [
                    [rng.random() < p] if rng.random() < args.greedy else answers
                    for p, answers in zip(chances, base, strict=True)
                ]
                worse = [[ok and rng.random() < factor for ok in answers] for answers in same]
            for paired in (True, False):
                null[paired].append(fc_p(base, same, paired, rep))
                alt[paired].append(fc_p(base, worse, paired, rep))
        cells, nominal, alarms, equal = [], [], [], []
        for paired in (True, False):
            power, rate = calibrated(null[paired], alt[paired])
            powers[paired].append((size * args.samples, power))
            cells.append(power)
            equal.append(rate)
            nominal.append(sum(p < 0.05 for p in alt[paired]) / args.reps)
            at_nominal[paired].append((size * args.samples, nominal[-1]))
            alarms.append(sum(p < 0.05 for p in null[paired]) / args.reps)
        print(
            f"{size:>8} {size * args.samples:>8}  {equal[0]:>5.3f}/{equal[1]:<5.3f}  "
            f"{cells[0]:>6.2f} {cells[1]:>8.2f}"
            f"  {'':>12} {nominal[0]:>6.2f} {nominal[1]:>8.2f}  {'':>6} {alarms[0]:>6.3f}"
            f" {alarms[1]:>8.3f}"
        )
    print(
        f"answers for 80% power: at equal alarms paired {needed(powers[True])}, "
        f"unpaired {needed(powers[False])}; at p < 0.05 paired {needed(at_nominal[True])}, "
        f"unpaired {needed(at_nominal[False])}"
    )


if __name__ == "__main__":
    main()
