"""Synthetic runs for the comparison benchmarks: RunReports built from the pydantic
models, one answer a (cluster, correct) pair: right answers in cluster 0, wrong in 1."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def run(cases: Sequence[Sequence[Sequence[bool]]], run_id: str = "r") -> RunReport:
    """`cases[c][v][s]`: whether sample s of variant v of case c is right."""
    results, variants = [], []
    for c, case in enumerate(cases):
        suite = "suites/bench.yaml"
        flat = []
        for v, samples in enumerate(case):
            flat += samples
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
                        AnswerResult(i, "right" if ok else "wrong", 0 if ok else 1, PASS, ok)
                        for i, ok in enumerate(samples)
                    ),
                )
            )
        metrics = case_metrics([0 if ok else 1 for ok in flat], list(flat))
        results.append(CaseResult(f"{suite}::c{c}", suite, f"c{c}", metrics, 0.5, 0.5))
    return RunReport(
        run_id=run_id,
        status="complete",
        started_at=0.0,
        finished_at=1.0,
        summary=RunSummary(),
        generation=GenerationStats(),
        cases=results,
        variants=variants,
    )
