"""Annotation Precision of the automatic judges on the labelled set, per class, in one run.

    .venv/bin/python benchmarks/annotation_precision.py [--half measure|tune|all]
        [--nli-model PATH [--nli-labels LIST] [--nli-threshold X]]
        [--judge-model PATH.gguf [--judge-sample N]]

For the set in benchmarks/data/annotation (real answers of the bundled model, each
labelled by a reader: see its README), prints, separately for short answers (facts and
arithmetic) and open-ended ones (TruthfulQA), for each judge configuration:
- the verdicts issued at the default `escalate_below` against the labels: AP, precision
  and recall of "correct" and of "incorrect" (95% Wilson intervals), balanced accuracy,
  the escalation rate and the confusion counts (auto/human); then whether the targets hold;
- per judge, its pass/fail votes against the labels (abstentions left out);
- a reliability table: stated confidence against observed precision;
- with --rules, the precision of each rule of the reference judge (how its confidences
  were set, on the tune half); with --curve, the figures per escalate_below.
Configurations: the default judges (rules and embeddings); with --nli-model, the same plus
the nli judge; with --judge-model, the same plus the LLM judge on that model, on the open
answers only (at most --judge-sample of them, chosen by hash: a 1.5B judge takes seconds an
answer on a CPU). Targets (issue #18), on the measure half, both kinds, at <= 30%
escalation: precision(correct) >= 0.95, recall(correct) >= 0.80, AP >= 0.95.
Answers are embedded with the real all-MiniLM-L6-v2, through the cache in .stabtest/.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = ROOT / "benchmarks" / "data" / "annotation" / "answers.jsonl"
GROUPS = {"short": ("short", "numeric"), "open": ("open",)}
TARGETS = {"precision_correct": 0.95, "recall_correct": 0.80, "ap": 0.95}
MAX_ESCALATION = 0.30


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def wilson(hits: int, total: int) -> str:
    """A proportion with its 95% Wilson interval: `0.800 [0.66, 0.89]`."""
    from stabtest.core.metrics import wilson_interval  # scipy's binomtest interval, tested

    interval = wilson_interval(hits, total)
    if interval is None:
        return "-"
    return f"{hits / total:.3f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def per_class_row(name: str, group: str, p: Any) -> list[Any]:
    a = p.agreement
    return [
        name,
        group,
        p.answers,
        p.unclear,
        p.issued,
        f"{100 * p.escalation_rate:.1f}%",
        fmt(a.ap),
        wilson(a.pass_correct, a.pass_correct + a.pass_incorrect),
        wilson(a.pass_correct, a.pass_correct + a.fail_correct),
        wilson(a.fail_incorrect, a.fail_incorrect + a.fail_correct),
        wilson(a.fail_incorrect, a.fail_incorrect + a.pass_incorrect),
        fmt(a.balanced_accuracy),
        f"{a.pass_correct}/{a.pass_incorrect}/{a.fail_correct}/{a.fail_incorrect}",
    ]


HEADERS = ["judges", "kind", "answers", "unclear", "issued", "escalated", "AP"]
HEADERS += ["P correct", "R correct", "P incorrect", "R incorrect", "bal. acc."]
HEADERS += ["p/c p/i f/c f/i"]
PER_JUDGE_HEADERS = ["judges", "kind", "judge", "votes", "abstained", "AP"]
PER_JUDGE_HEADERS += ["P correct", "R correct", "bal. acc."]


def verdict_of_targets(p: Any) -> str:
    misses = [
        f"{name} {fmt(p.agreement.figure(name))} < {target:g}"
        for name, target in TARGETS.items()
        if (p.agreement.figure(name) or 0.0) < target
    ]
    if p.escalation_rate > MAX_ESCALATION:
        misses.append(f"escalation {100 * p.escalation_rate:.1f}% > {100 * MAX_ESCALATION:.0f}%")
    return "meets the targets" if not misses else "misses: " + "; ".join(misses)


def sample(rows: Sequence[Any], limit: int | None) -> list[Any]:
    """At most `limit` rows, the same ones on every run: by a hash of the id."""
    ordered = sorted(rows, key=lambda r: hashlib.sha256(r.id.encode()).hexdigest())
    return list(ordered if limit is None else ordered[:limit])


def warm_llm_judge(generate: Callable[..., Any], rows: Sequence[Any]) -> None:
    """Every judge request of `rows` in one batched call: the judge then reads them from
    the cache one answer at a time, as the ensemble asks."""
    from stabtest.annotators.llm_judge import JUDGE_PARAMS, judge_prompt
    from stabtest.core.plan import GenerationRequest

    requests = [GenerationRequest(judge_prompt(r.case(), r.answer), JUDGE_PARAMS) for r in rows]
    generate(requests)


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
    parser.add_argument("--curve", action="store_true", help="figures per threshold")
    parser.add_argument("--nli-model", help="CrossEncoder directory or .onnx file")
    parser.add_argument("--nli-labels", help="the NLI model's output names, in order")
    parser.add_argument("--nli-threshold", type=float, default=Settings().nli_threshold)
    parser.add_argument("--judge-model", help="a stronger model for the LLM judge (.gguf)")
    parser.add_argument("--judge-sample", type=int, default=None, help="open answers judged")
    args = parser.parse_args(argv)

    rows = [r for r in read_labelled(ANSWERS) if args.half in ("all", r.split)]
    if not rows:
        print(f"error: no labelled answers in {ANSWERS}", file=sys.stderr)
        return 2
    cache_dir = ROOT / ".stabtest"
    cache = Cache(cache_dir / "cache.sqlite")
    embedder = CachedEmbedder(resolve_embedder("minilm"), cache)
    defaults = Settings().judge_names

    def correctness(**extra: Any) -> list[Any]:
        return [j for j in build_judges(defaults, **extra) if j.aspect == "correctness"]

    configurations: list[tuple[str, list[Any], list[Any]]] = [
        ("rules+embeddings", correctness(), rows)
    ]
    if args.nli_model:
        from stabtest.generation.nli import CachedPairClassifier, resolve_nli

        labels = args.nli_labels.split(",") if args.nli_labels else None
        nli = CachedPairClassifier(resolve_nli(args.nli_model, labels), cache)
        judges = correctness(nli=nli, nli_threshold=args.nli_threshold)
        configurations.append((f"+ nli ({Path(args.nli_model).name})", judges, rows))
    if args.judge_model:
        from stabtest.generation.generator import Generator

        judge_settings = Settings(model=args.judge_model, cache_dir=str(cache_dir))
        generator = Generator.from_settings(judge_settings)
        generate = partial(generator, stage="judging")
        open_rows = sample([r for r in rows if r.kind == "open"], args.judge_sample)
        warm_llm_judge(generate, open_rows)
        judges = [*correctness(), *build_judges(["llm_judge"], generate=generate)]
        name = f"+ llm_judge ({Path(args.judge_model).name})"
        configurations.append((name, judges, open_rows))
        configurations.append(("rules+embeddings, same sample", correctness(), open_rows))

    threshold = args.escalate_below
    print(f"{len(rows)} labelled answers ({args.half} half), escalate_below = {threshold:g}")
    summary, targets, per_judge, judged_by = [], [], [], {}
    for name, judges, chosen in configurations:
        judged = judge_labelled(chosen, judges, embedder)
        judged_by[name] = judged
        for group, kinds in GROUPS.items():
            items = [j for j in judged if j.row.kind in kinds]
            if not items:
                continue
            p = precision(items, threshold)
            summary.append(per_class_row(name, group, p))
            targets.append([name, group, verdict_of_targets(p)])
            for judge, votes in sorted(judge_precision(items).items()):
                a = votes.agreement
                figures = [a.ap, a.precision_correct, a.recall_correct, a.balanced_accuracy]
                per_judge.append(
                    [name, group, judge, votes.issued, votes.escalated, *map(fmt, figures)]
                )
    print(tabulate(summary, headers=HEADERS, disable_numparse=True))
    print("P/R: precision/recall of the verdicts issued, 95% Wilson interval; p/c = auto pass,")
    print("human correct; f/i = auto fail, human incorrect. Targets on the measure half:")
    print(tabulate(targets, headers=["judges", "kind", "targets"], disable_numparse=True))
    print()
    print(
        tabulate(
            per_judge,
            headers=PER_JUDGE_HEADERS,
            disable_numparse=True,
        )
    )
    print()
    base = judged_by["rules+embeddings"]
    for group, kinds in GROUPS.items():
        table = reliability(j for j in base if j.row.kind in kinds)
        rows_out = [[b, n, fmt(s), fmt(o)] for b, n, s, o in table]
        print(f"reliability, {group} (rules+embeddings):")
        print(tabulate(rows_out, headers=["confidence", "verdicts", "stated", "observed"]))
        print()
    if args.rules:
        rules = rule_precision(base, "reference")
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
                p = precision([j for j in base if j.row.kind in kinds], t)
                a = p.agreement
                cells += [fmt(a.ap), fmt(a.precision_correct), fmt(a.recall_correct)]
                cells.append(f"{100 * p.escalation_rate:.1f}%")
            curve.append(cells)
        headers = ["escalate_below"]
        for group in GROUPS:
            headers += [f"AP {group}", f"P corr {group}", f"R corr {group}", f"esc {group}"]
        print(tabulate(curve, headers=headers, disable_numparse=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
