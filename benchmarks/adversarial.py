"""Performance Drop Rate of the four adversarial families on the bundled model, in one run.

    .venv/bin/python benchmarks/adversarial.py [--facts 20] [--tqa 20] [--count 2]

Imports a ParaRel slice (facts, each asked only in its first pattern) and a TruthfulQA
slice from ../shared/data, gives every case `adversarial: {families: [char, word,
sentence, distractor], count: N}`, and runs them through a `Session` with the default
backend (SmolLM2-135M-Instruct, greedy) and embedder (all-MiniLM-L6-v2), answers cached
in .stabtest/. Prints, per suite and for the run, each family's judged variants, FC of
the original prompts, FC of the attacked ones and PDR = 1 - FC attacked / FC clean
(stabtest.core.pdr), then one attacked prompt per family as an example.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from tabulate import tabulate

if TYPE_CHECKING:
    from stabtest.core.results import RunSummary
    from stabtest.core.suite import Case

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
FAMILIES = ["char", "word", "sentence", "distractor"]


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def load(kind: str, source: Path, limit: int, tokens: int, count: int) -> tuple[str, list[Case]]:
    """The imported suite with only the original prompt and the adversarial variants."""
    from stabtest.core.loader import parse_suite
    from stabtest.importers import import_suite

    data = yaml.safe_load(import_suite(kind, source, limit=limit, seed=0))
    data["defaults"] = {
        **data.get("defaults", {}),
        "sampling": {"temperature": 0.0, "max_new_tokens": tokens},
        "adversarial": {"families": FAMILIES, "count": count},
    }
    for case in data["cases"]:
        for key in ("paraphrases", "perturbations", "model_paraphrases", "sampling"):
            case.pop(key, None)
    suite = parse_suite(yaml.safe_dump(data, sort_keys=False), f"{kind}.yaml")
    return suite.path, list(suite.cases)


def table(summary: RunSummary) -> str:
    rows = [
        [family, a.variants, a.cases, fmt(a.fc_clean), fmt(a.fc_attacked), fmt(a.pdr)]
        for family, a in summary.adversarial.items()
    ]
    return tabulate(
        rows,
        headers=["family", "variants", "cases", "FC clean", "FC attacked", "PDR"],
        disable_numparse=True,
    )


def main(argv: list[str] | None = None) -> int:
    from stabtest.core.settings import Settings
    from stabtest.reporting.summary import by_suite, summarize
    from stabtest.session import Session

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=20)
    parser.add_argument("--tqa", type=int, default=20)
    parser.add_argument("--count", type=int, default=2, help="variants per family")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    settings = Settings(cache_dir=str(ROOT / ".stabtest"), rootdir=str(ROOT))
    session = Session(settings)
    suites = [
        load("pararel", SHARED / "pararel", args.facts, 24, args.count),
        load("truthfulqa", SHARED / "TruthfulQA.csv", args.tqa, 48, args.count),
    ]
    for scope, cases in suites:
        session.register_all(scope, cases)
    outcomes = [session.outcome(scope, case.id) for scope, cases in suites for case in cases]
    results = [o.case for o in outcomes]
    variants = [v for o in outcomes for v in o.variants.values()]
    stats = session.take_stats()
    elapsed = time.perf_counter() - started

    for suite, summary in by_suite(results, variants).items():
        print(f"\n{suite}: {summary.cases} cases, FC {fmt(summary.fc)}, SI {fmt(summary.si)}")
        print(table(summary))
    print(f"\nrun: {len(results)} cases")
    print(table(summarize(results, variants)))
    rejected = sum(1 for v in variants if v.attack and v.rejected)
    print(
        f"\n{stats.requests} requests ({stats.cached} cached, {stats.generated} generated in "
        f"{stats.generate_seconds:.1f} s); {rejected} adversarial variants rejected "
        f"(duplicates, or no word swap within the bound); {elapsed:.0f} s in all"
    )
    print("\nexamples:")
    for family in FAMILIES:
        example = next(
            (v for v in variants if v.attack == family and not v.rejected and v.answers), None
        )
        if example is not None:
            answer = example.answers[0]
            print(f"  {example.case_id}[{example.variant_id}] ({example.origin})")
            print(f"    prompt: {example.prompt!r}")
            print(f"    answer: {answer.text[:100]!r} correct={answer.correct}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
