"""What judging one large sampled case costs, next to generating it, measured in one run.

    .venv/bin/python benchmarks/judging_scale.py [--perturbations 200] [--samples 100] [--texts 20]

Builds one case through the real code path: a `Session` with the fake backend (a pool of
`--texts` answers, right, wrong and reworded, drawn by sample index, so the original prompt
and 200 perturbations x 100 samples give 20,100 answers of which a few dozen texts are
distinct) and the lexical
embedder, and prints:

  - generation: `Session.execute` (plan, fake backend, SQLite cache, embedding) in seconds;
  - judging: `Session.outcome` once the plan has run (judges, clusters, metrics), in
    seconds, and its ratio to generation;
  - peak memory of judging: tracemalloc's peak (numpy's buffers included) over a second,
    identical judging pass on a fresh session, and the process's peak RSS;
  - the case's metrics and a digest of every verdict, so two versions of the code can be
    checked for identical results on the same size.

`--distinct` makes every sampled answer a distinct text (the worst case: the pairwise work
then grows with the square of the answers); the figures also go to
reports/benchmarks/judging_scale.json.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCOPE = "scale.yaml"
TEMPLATES = (
    "The capital of France is {}.",
    "{}.",
    "It is {}.",
    "{} is the capital of France.",
    "I believe the answer is {}.",
    "The answer is {}, of course.",
    "France's capital city is {}, on the Seine.",
)


def answer_pool(texts: int) -> list[str]:
    """`texts` answers, about two thirds right, the rest wrong, worded several ways."""
    pool: list[str] = []
    for k in range(texts):
        city = ("Paris", "Paris", "Lyon", "Paris", "Paris", "Marseille")[k % 6]
        wording = TEMPLATES[k % len(TEMPLATES)].format(city)
        pool.append(wording if k < 2 * len(TEMPLATES) else f"{wording} ({k})")
    return pool


def build_session(root: Path, perturbations: int, samples: int, texts: int, distinct: bool) -> Any:
    from stabtest.core.plan import GenerationRequest
    from stabtest.core.settings import Settings
    from stabtest.core.suite import Case, Perturbations, Sampling
    from stabtest.generation.cache import Cache
    from stabtest.generation.fake import FakeBackend
    from stabtest.generation.generator import Generator
    from stabtest.session import Session

    pool = answer_pool(samples if distinct else texts)
    backend = FakeBackend(answers={"france": pool}, default="I do not know the capital.")
    if distinct:  # every (variant, sample) answers with its own text
        plain = backend.answer

        def answer(request: GenerationRequest) -> str:
            return f"{plain(request)} [{hashlib.sha256(request.prompt.encode()).hexdigest()[:8]}]"

        setattr(backend, "answer", answer)  # noqa: B010
    generator = Generator(backend, cache=Cache(root / "cache.sqlite"), batch_size=256)
    settings = Settings(backend="fake", embedder="lexical", rootdir=str(root))
    session = Session(settings, generator=generator)
    case = Case(
        id="capital",
        prompt="What is the capital of France?",
        reference="Paris",
        incorrect=("Lyon", "Marseille"),
        perturbations=Perturbations(count=perturbations, depth=2),  # 200 distinct prompts
        sampling=Sampling(temperature=0.7, samples=samples),
    )
    session.register(SCOPE, case)
    return session


def digest(outcome: Any) -> str:
    """A hash of every verdict (outcome, confidence, category, reason, votes) and cluster."""
    rows = [
        [a.cluster, a.correct, repr(a.verdict)]
        for v in sorted(outcome.variants.values(), key=lambda v: v.variant_id)
        for a in v.answers
    ]
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--perturbations", type=int, default=200, help="variants besides v0")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--texts", type=int, default=20, help="distinct answers in the pool")
    parser.add_argument("--distinct", action="store_true", help="every answer a new text")
    parser.add_argument("--no-trace", action="store_true", help="skip the tracemalloc pass")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="stabtest-judging-") as tmp:
        root = Path(tmp)
        session = build_session(root, args.perturbations, args.samples, args.texts, args.distinct)
        started = time.perf_counter()
        session.execute()
        generation = time.perf_counter() - started
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        outcome = session.outcome(SCOPE, "capital")
        judging = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        answers = [a for v in outcome.variants.values() for a in v.answers]
        figures: dict[str, Any] = {
            "variants": len(outcome.variants),
            "answers": len(answers),
            "distinct_texts": len({a.text for a in answers}),
            "generation_s": round(generation, 3),
            "judging_s": round(judging, 3),
            "judging_over_generation": round(judging / generation, 2),
            "peak_rss_mb_before_judging": round(rss_before),
            "peak_rss_mb_after_judging": round(rss_after),
            "si": round(outcome.case.metrics.si, 6),
            "fc": outcome.case.metrics.fc,
            "rdr": round(outcome.case.metrics.rdr, 6),
            "clusters": outcome.case.metrics.clusters,
            "escalated": outcome.case.escalated,
            "verdict_digest": digest(outcome),
        }
        del outcome, session
        gc.collect()
        if not args.no_trace:
            again = build_session(root, args.perturbations, args.samples, args.texts, args.distinct)
            again.execute()  # cached: generation and embedding stay outside the trace
            tracemalloc.start()
            again.outcome(SCOPE, "capital")
            figures["judging_peak_traced_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
            tracemalloc.stop()

    for key, value in figures.items():
        print(f"{key:28} {value}")
    out = ROOT / "reports" / "benchmarks" / "judging_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
