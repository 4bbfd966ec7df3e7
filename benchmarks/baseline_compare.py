"""What comparing a run with its baseline costs: `compare_reports` on synthetic reports.

    .venv/bin/python benchmarks/baseline_compare.py [--cases 1000] [--answers 40] [--resamples 1000]

Builds two reports of `--cases` cases with `--answers` answers each (clusters and
correctness drawn at random, seeded; 10% of the cases made worse in the second report),
compares them, and prints the time of the comparison (bootstrap included), the peak
memory of it (tracemalloc, numpy's buffers included), and how many scopes gated. Also
the time of one large case (`--big` answers) alone, where resampling is chunked.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stabtest.core.compare import compare_reports  # noqa: E402
from stabtest.core.metrics import case_metrics  # noqa: E402
from stabtest.core.report import RunReport  # noqa: E402
from stabtest.core.results import (  # noqa: E402
    AnswerResult,
    CaseResult,
    GenerationStats,
    RunSummary,
    VariantResult,
    Verdict,
)

PASS = Verdict("pass", 1.0)


def build(cases: int, answers: int, worse: float, seed: int) -> RunReport:
    rng = random.Random(seed)
    results, variants = [], []
    per_variant = 4
    for c in range(cases):
        suite = f"suites/s{c % 10}.yaml"
        p_wrong = 0.1 + (0.4 if rng.random() < worse else 0.0)
        drawn = [(0, True) if rng.random() > p_wrong else (1, False) for _ in range(answers)]
        for v in range(0, answers, per_variant):
            chunk = drawn[v : v + per_variant]
            variants.append(
                VariantResult(
                    uid=f"{suite}::c{c}[v{v}]",
                    suite=suite,
                    case_id=f"c{c}",
                    variant_id=f"v{v}",
                    family="rule",
                    prompt=f"prompt {c} {v}",
                    operators=(),
                    reference="x",
                    answers=tuple(
                        AnswerResult(i, "a", cl, PASS, ok) for i, (cl, ok) in enumerate(chunk)
                    ),
                )
            )
        metrics = case_metrics([a for a, _ in drawn], [b for _, b in drawn])
        results.append(CaseResult(f"{suite}::c{c}", suite, f"c{c}", metrics, 0.5, 0.5))
    return RunReport(
        run_id=f"r{seed}",
        status="complete",
        started_at=0.0,
        finished_at=1.0,
        summary=RunSummary(),
        generation=GenerationStats(),
        cases=results,
        variants=variants,
    )


def timed(before: RunReport, after: RunReport, resamples: int) -> tuple[float, float, int]:
    """Seconds of one comparison, then the peak memory of a second, traced one (tracing
    slows it down, so it is not timed)."""

    def run() -> int:
        result = compare_reports(
            before, after, "bench", si_tolerance=0.05, fc_tolerance=0.05, resamples=resamples
        )
        return len(result.regressions)

    started = time.perf_counter()
    gated = run()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20, gated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--answers", type=int, default=40)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--big", type=int, default=20_000)
    args = parser.parse_args()

    before = build(args.cases, args.answers, 0.0, 1)
    after = build(args.cases, args.answers, 0.1, 2)
    seconds, peak, gated = timed(before, after, args.resamples)
    print(
        f"{args.cases} cases x {args.answers} answers, {args.resamples} resamples: "
        f"{seconds:.2f} s, peak {peak:.0f} MiB, {gated} scope(s) gated"
    )
    big_before, big_after = build(1, args.big, 0.0, 3), build(1, args.big, 1.0, 4)
    seconds, peak, gated = timed(big_before, big_after, args.resamples)
    print(
        f"1 case x {args.big} answers, {args.resamples} resamples: "
        f"{seconds:.2f} s, peak {peak:.0f} MiB, {gated} scope(s) gated"
    )


if __name__ == "__main__":
    main()
