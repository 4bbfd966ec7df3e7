"""Annotation Precision of the automatic judges on the labelled set, in one run.

    .venv/bin/python benchmarks/annotation_precision.py [--half measure|tune|all]

For the set in benchmarks/data/annotation (356 real answers of the bundled model, each
labelled by a reader: see its README), prints, separately for short answers (facts and
arithmetic) and open-ended ones (TruthfulQA):
- ensemble AP on the verdicts it issues at the default `escalate_below`, the escalation
  rate, and the confusion counts (auto/human);
- AP of each judge's pass/fail votes (abstentions left out);
- a reliability table: stated confidence against observed precision;
- with --rules, the precision of each rule of the reference judge (how its confidences
  were set, on the tune half);
- with --curve, AP and escalation rate for each escalate_below (how the default was
  chosen, on the tune half).
Targets: ensemble AP >= 0.95 at <= 30% escalation on both kinds. The answers are judged
with the real embedder (all-MiniLM-L6-v2) through the cache in .stabtest/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = ROOT / "benchmarks" / "data" / "annotation" / "answers.jsonl"
GROUPS = {"short": ("short", "numeric"), "open": ("open",)}


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    from stabtest.adjudication.evaluate import (
        judge_labelled,
        judge_precision,
        precision,
        read_labelled,
        reliability,
        rule_precision,
    )
    from stabtest.annotators.registry import build_judges
    from stabtest.core.settings import Settings
    from stabtest.generation.cache import Cache
    from stabtest.generation.embedder import CachedEmbedder, resolve_embedder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", choices=["measure", "tune", "all"], default="measure")
    parser.add_argument("--escalate-below", type=float, default=Settings().escalate_below)
    parser.add_argument("--rules", action="store_true", help="precision per reference rule")
    parser.add_argument("--curve", action="store_true", help="AP and escalation per threshold")
    args = parser.parse_args(argv)

    rows = [r for r in read_labelled(ANSWERS) if args.half in ("all", r.split)]
    if not rows:
        print(f"error: no labelled answers in {ANSWERS}", file=sys.stderr)
        return 2
    embedder = CachedEmbedder(resolve_embedder("minilm"), Cache(ROOT / ".stabtest/cache.sqlite"))
    judges = [j for j in build_judges(Settings().judge_names) if j.aspect == "correctness"]
    judged = judge_labelled(rows, judges, embedder)
    threshold = args.escalate_below
    print(f"{len(rows)} labelled answers ({args.half} half), escalate_below = {threshold:g}")
    summary = []
    for group, kinds in GROUPS.items():
        items = [j for j in judged if j.row.kind in kinds]
        p = precision(items, threshold)
        c = p.confusion
        summary.append(
            [
                group,
                p.answers,
                p.unclear,
                p.issued,
                fmt(p.ap),
                f"{100 * p.escalation_rate:.1f}%",
                c.get("pass/correct", 0),
                c.get("pass/incorrect", 0),
                c.get("fail/correct", 0),
                c.get("fail/incorrect", 0),
            ]
        )
    headers = ["kind", "answers", "unclear", "issued", "AP", "escalated"]
    headers += ["pass/correct", "pass/incorrect", "fail/correct", "fail/incorrect"]
    print(tabulate(summary, headers=headers, disable_numparse=True))
    print()
    per_judge = []
    for group, kinds in GROUPS.items():
        for judge, p in sorted(judge_precision(j for j in judged if j.row.kind in kinds).items()):
            per_judge.append([group, judge, p.issued, fmt(p.ap), p.escalated])
    print(tabulate(per_judge, headers=["kind", "judge", "votes", "AP", "abstained"]))
    print()
    for group, kinds in GROUPS.items():
        table = reliability(j for j in judged if j.row.kind in kinds)
        rows_out = [[b, n, fmt(s), fmt(o)] for b, n, s, o in table]
        print(f"reliability, {group}:")
        print(tabulate(rows_out, headers=["confidence", "verdicts", "stated", "observed"]))
        print()
    if args.rules:
        rules = rule_precision(judged, "reference")
        print(
            tabulate(
                [[r, n, f"{h / n:.3f}"] for r, (h, n) in sorted(rules.items())],
                headers=["reference rule", "votes", "precision"],
            )
        )
        print()
    if args.curve:
        curve = []
        for step in range(50, 100, 2):
            t = step / 100
            cells = [f"{t:.2f}"]
            for kinds in GROUPS.values():
                p = precision([j for j in judged if j.row.kind in kinds], t)
                cells += [fmt(p.ap), f"{100 * p.escalation_rate:.1f}%"]
            curve.append(cells)
        print(
            tabulate(
                curve, headers=["escalate_below", "AP short", "esc short", "AP open", "esc open"]
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
