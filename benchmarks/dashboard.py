"""What building the HTML dashboard costs for a large run, measured in one process.

    .venv/bin/python benchmarks/dashboard.py [--variants 1000] [--samples 2] [--runs 50]

Synthesises a run report of `--variants` variants (five per case, `--samples` answers
each, realistic answer texts and the four default judges' votes with their reasons), a
baseline comparison of every case, a run history of `--runs` runs and a remediation
round, so every section of the page is built. Prints:

  - import_s: importing stabtest.reporting.dashboard (in this fresh process);
  - first_build_s: `write_dashboard` the first time (Jinja compiles the template, plotly
    builds its figure classes, plotly.js is read);
  - build_s: the median of three further builds;
  - size_mb: the written file; plotly_js_mb: the part of it that is plotly.js.

Targets (issue): a 1,000-variant dashboard in under 2 s and under 10 MB. The figures also
go to reports/benchmarks/dashboard.json; the page to reports/benchmarks/dashboard.html.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CITIES = ("Paris", "Lyon", "Marseille", "Rome", "Milan", "Berlin", "Madrid", "Lisbon")
WORDINGS = (
    "The capital of {country} is {city}.",
    "{city}.",
    "I believe the answer is {city}, which has been the seat of government for centuries.",
    "It is {city}. {city} is also the largest city in {country} by population, and it "
    "hosts most national institutions.",
    "Let me think about {country}. The capital is {city}; some people say {other}.",
)
OPERATORS = ("casing", "punctuation", "typo", "whitespace", "synonym")


def synthesize(variants: int, samples: int, seed: int = 0) -> Any:
    """A RunReport with `variants` variants, summarised as the recorder summarises."""
    from stabtest.core.report import RunReport
    from stabtest.core.results import (
        AnswerResult,
        CaseMetrics,
        CaseResult,
        GenerationStats,
        VariantResult,
        Verdict,
        Vote,
    )
    from stabtest.reporting.summary import by_suite, summarize

    rng = random.Random(seed)
    per_case = 5
    cases, results = [], []
    for number in range(max(1, variants // per_case)):
        suite = f"suites/geo-{number % 4}.yaml"
        case_id = f"capital-{number:04d}"
        country, right = f"Country {number}", CITIES[number % len(CITIES)]
        wrong_answers = 0
        for v in range(per_case):
            answers = []
            for sample in range(samples):
                wrong = rng.random() < 0.25
                city = rng.choice(CITIES) if wrong else right
                text = rng.choice(WORDINGS).format(country=country, city=city, other=right)
                correct = city == right
                outcome = "pass" if correct else rng.choice(("fail", "fail", "escalate"))
                wrong_answers += not correct
                votes = (
                    Vote(
                        "reference",
                        "pass" if correct else "fail",
                        0.97,
                        None,
                        f"contains the reference '{right}' [exact]"
                        if correct
                        else f"answers '{city}', not the reference '{right}' [other_entity]",
                        None if correct else "hallucination",
                    ),
                    Vote("numeric", "abstain", 0.0, None, "no number to compare"),
                    Vote("contradiction", "abstain", 0.0, None, "no contradiction found"),
                    Vote(
                        "semantic",
                        "pass" if correct else "fail",
                        0.95,
                        rng.random(),
                        f"agrees with {rng.randint(0, 100)}% of the other answers; cosine to "
                        f"the original answer {rng.random():.2f}",
                        None if correct else "semantic_divergence",
                    ),
                )
                verdict = Verdict(
                    outcome,
                    0.95 if outcome != "escalate" else 0.5,
                    votes,
                    None if correct else "hallucination",
                    "; ".join(f"{vote.judge}: {vote.reason}" for vote in votes),
                )
                answers.append(AnswerResult(sample, text, 0 if correct else 1, verdict, correct))
            results.append(
                VariantResult(
                    uid=f"{suite}::{case_id}[v{v}]",
                    suite=suite,
                    case_id=case_id,
                    variant_id=f"v{v}",
                    family="original" if v == 0 else "rule",
                    prompt=f"What is the capital of {country}?" + "?" * v,
                    operators=() if v == 0 else (OPERATORS[v % len(OPERATORS)],),
                    reference=right,
                    answers=tuple(answers),
                )
            )
        total = per_case * samples
        fc = 1 - wrong_answers / total
        si = min(1.0, 2 * wrong_answers / total)
        cases.append(
            CaseResult(
                uid=f"{suite}::{case_id}",
                suite=suite,
                case_id=case_id,
                metrics=CaseMetrics(si, fc, (1 + wrong_answers) / total, total, 1 + wrong_answers),
                max_si=0.5,
                min_fc=0.5,
                failures=(f"SI {si:.3f} > max_si 0.500",) if si > 0.5 else (),
            )
        )
    now = time.time()
    return RunReport(
        run_id="bench-run",
        status="complete",
        exitstatus=1,
        started_at=now - 600,
        finished_at=now,
        settings={"backend": "hf", "model": "smollm2-135m", "seed": seed},
        summary=summarize(cases, results),
        generation=GenerationStats(len(results) * samples, 0, len(results) * samples, 540.0, 9.0),
        suites=by_suite(cases, results),
        cases=cases,
        variants=results,
    )


def with_baseline(report: Any, seed: int = 1) -> Any:
    """The report with a baseline comparison of the run, every suite and every case."""
    from stabtest.core.compare import BaselineComparison, Interval, MetricChange, ScopeComparison

    rng = random.Random(seed)

    def changes() -> list[MetricChange]:
        out = []
        for metric in ("si", "fc", "rdr"):
            before, after = rng.random(), rng.random()
            delta, half = after - before, rng.uniform(0.05, 0.4)
            noise = abs(delta) <= half
            verdict = "within_noise" if noise else ("worse" if delta > 0 else "better")
            out.append(
                MetricChange(
                    metric=metric,
                    before=before,
                    after=after,
                    delta=delta,
                    interval=Interval(low=delta - half, high=delta + half),
                    verdict=verdict,  # type: ignore[arg-type]
                    gated=verdict == "worse" and metric != "rdr",
                )
            )
        return out

    scopes = [
        ScopeComparison(
            scope="run",
            level="run",
            answers_before=1,
            answers_after=1,
            status="compared",
            metrics=changes(),
        )
    ]
    scopes += [
        ScopeComparison(
            scope=name,
            level=level,
            answers_before=10,
            answers_after=10,
            status="compared",
            metrics=changes(),
        )
        for level, names in (
            ("suite", list(report.suites)),
            ("case", [c.uid for c in report.cases]),
        )
        for name in names
    ]
    comparison = BaselineComparison(
        name="main",
        baseline_run_id="bench-baseline",
        baseline_finished_at=report.finished_at - 86400,
        tolerances={"si": 0.05, "fc": 0.05},
        strict=False,
        seed=0,
        resamples=1000,
        scopes=scopes,
    )
    return report.model_copy(update={"baseline": comparison})


def history(report: Any, runs: int) -> list[Any]:
    """`runs` history records, one a day, drifting."""
    from stabtest.reporting.history import record_of

    latest = record_of(report, rootdir=ROOT)
    rng = random.Random(2)
    return [
        latest.model_copy(
            update={
                "run_id": f"bench-{k:03d}",
                "time": latest.time - 86400 * (runs - k),
                "run": latest.run.model_copy(
                    update={"si": rng.random(), "fc": rng.random(), "rdr": rng.random()}
                ),
            }
        )
        for k in range(runs)
    ] + [latest]


def remediation() -> dict[str, Any]:
    side = {"cases": 40, "answers": 300, "si": 0.4, "fc": 0.5, "rdr": 0.3, "pass_rate": 0.6}
    return {
        "round": 1,
        "method": "sft",
        "examples": 197,
        "steps": 60,
        "losses": [2.4 - 0.02 * k for k in range(60)],
        "treated": {"before": side, "after": {**side, "si": 0.3, "fc": 0.6}},
        "control": {"before": side, "after": side},
        "missed": [],
        "accepted": True,
        "model": "models/smollm2-135m-r1-abcdef12",
        "per_case": [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=2, help="answers per variant")
    parser.add_argument("--runs", type=int, default=50, help="runs in the history")
    args = parser.parse_args()

    started = time.perf_counter()
    from stabtest.reporting.dashboard import _plotly_js, write_dashboard

    imported = time.perf_counter() - started
    report = with_baseline(synthesize(args.variants, args.samples))
    past, round_ = history(report, args.runs), remediation()
    out = ROOT / "reports" / "benchmarks" / "dashboard.html"

    def build() -> float:
        began = time.perf_counter()
        write_dashboard(out, report, history=past, remediation=round_)
        return time.perf_counter() - began

    first = build()
    again = [build() for _ in range(3)]
    figures = {
        "variants": len(report.variants),
        "answers": sum(len(v.answers) for v in report.variants),
        "cases": len(report.cases),
        "history_runs": len(past),
        "import_s": round(imported, 3),
        "first_build_s": round(first, 3),
        "build_s": round(statistics.median(again), 3),
        "size_mb": round(out.stat().st_size / 1e6, 2),
        "plotly_js_mb": round(len(_plotly_js().encode()) / 1e6, 2),
    }
    for key, value in figures.items():
        print(f"{key:16} {value}")
    target = figures["first_build_s"] < 2.0 and figures["size_mb"] < 10.0
    print(f"targets (< 2 s, < 10 MB): {'met' if target else 'MISSED'}")
    (out.parent / "dashboard.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
