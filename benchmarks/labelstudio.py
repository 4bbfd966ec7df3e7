"""Push 1,000 tasks to and pull 1,000 annotations from a real Label Studio server.

    .venv/bin/python benchmarks/labelstudio.py [--tasks 1000] [--chunk 500] [--url URL]

Starts a throw-away server (from the template data dir under .stabtest/, built on first
use) unless --url is given (then LABEL_STUDIO_API_KEY is the token). Prints seconds and
tasks/s for the push (target: <= 5 s for 1,000) and for the pull; the annotations are
created through the API beforehand, as a human would, and that is not timed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stabtest.adjudication import GoldStore, pull_gold, push_results  # noqa: E402
from stabtest.adjudication.client import CHUNK  # noqa: E402
from stabtest.adjudication.paths import default_template_dir  # noqa: E402
from stabtest.adjudication.server import LabelStudioServer  # noqa: E402
from stabtest.core.ids import variant_uid  # noqa: E402
from stabtest.core.results import (  # noqa: E402
    AnswerResult,
    VariantResult,
    Verdict,
    Vote,
)


def synthetic_variants(tasks: int, suite: str, answers_per_variant: int = 4) -> list:
    """`tasks` failed/escalated answers spread over variants of a few cases."""
    variants = []
    for v in range((tasks + answers_per_variant - 1) // answers_per_variant):
        case = f"case{v // 10}"
        answers = []
        for s in range(answers_per_variant):
            if len(variants) * answers_per_variant + s >= tasks:
                break
            outcome = "fail" if s % 2 == 0 else "escalate"
            votes = (
                Vote("semantic", "fail", 0.7, 0.41, "cosine 0.41 to the majority"),
                Vote("reference", "pass" if s % 3 else "fail", 0.6),
            )
            verdict = Verdict(outcome, 0.35 + 0.1 * s, votes, "semantic_divergence")
            answers.append(AnswerResult(s, f"Answer {v}-{s}: the capital is city {s}.", s, verdict))
        variants.append(
            VariantResult(
                uid=variant_uid(f"suites/{suite}.yaml", case, f"v{v % 10}"),
                suite=suite,
                case_id=case,
                variant_id=f"v{v % 10}",
                family="original" if v % 10 == 0 else "paraphrase",
                prompt=f"Prompt variant {v}: what is the capital of country {v // 10}?",
                operators=(),
                reference=f"City {v // 10}",
                answers=tuple(answers),
            )
        )
    return variants


def annotate_all(url: str, token: str, title: str) -> int:
    """Label every task of the project like a human: both choices, sometimes a text."""
    from label_studio_sdk import LabelStudio

    client = LabelStudio(base_url=url, api_key=token, timeout=60)
    project = next(p for p in client.projects.list(title=title) if p.title == title)
    count = 0
    for task in client.tasks.list(project=project.id, fields="task_only", page_size=500):
        result = [
            {
                "from_name": "stable",
                "to_name": "answer",
                "type": "choices",
                "value": {"choices": ["unstable" if count % 2 else "stable"]},
            },
            {
                "from_name": "correct",
                "to_name": "answer",
                "type": "choices",
                "value": {"choices": ["incorrect" if count % 3 else "correct"]},
            },
        ]
        if count % 5 == 0:
            result.append(
                {
                    "from_name": "corrected_answer",
                    "to_name": "answer",
                    "type": "textarea",
                    "value": {"text": [f"Corrected {count}"]},
                }
            )
        client.annotations.create(id=task.id, result=result, lead_time=1.0)
        count += 1
    return count


def run(url: str, token: str, tasks: int, chunk: int, workdir: Path) -> None:
    suite = "bench"
    prefix = f"stabbench-{uuid.uuid4().hex[:6]}"  # a fresh project on a reused server
    variants = synthetic_variants(tasks, suite)
    outbox = workdir / "outbox.sqlite"
    began = time.perf_counter()
    report = push_results(
        variants, url=url, token=token, outbox_path=outbox, project_prefix=prefix, chunk_size=chunk
    )
    push_s = time.perf_counter() - began
    assert report.ok and report.imported == tasks, report.summary()
    began = time.perf_counter()
    again = push_results(
        variants, url=url, token=token, outbox_path=outbox, project_prefix=prefix, chunk_size=chunk
    )
    repush_s = time.perf_counter() - began
    assert again.ok and again.imported == 0 and again.already_present == tasks, again.summary()
    began = time.perf_counter()
    annotated = annotate_all(url, token, next(iter(report.projects)))
    annotate_s = time.perf_counter() - began
    store = GoldStore(workdir / "gold.sqlite")
    began = time.perf_counter()
    pulled = pull_gold(url=url, token=token, store=store, project_prefix=prefix)
    pull_s = time.perf_counter() - began
    assert pulled.ok and pulled.inserted == annotated == tasks, pulled.summary()
    print(
        f"push   {tasks} tasks: {push_s:6.2f} s  {tasks / push_s:7.0f} tasks/s "
        f"(chunk {chunk}; target <= 5 s)"
    )
    print(
        f"repush {tasks} tasks: {repush_s:6.2f} s  {tasks / repush_s:7.0f} tasks/s "
        "(all already present: one listing, no import)"
    )
    print(f"pull   {tasks} labels: {pull_s:6.2f} s  {tasks / pull_s:7.0f} labels/s")
    print(f"(untimed: {annotated} annotations created one by one in {annotate_s:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=CHUNK)
    parser.add_argument("--url", help="use this server instead of starting one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.url:
            token = os.environ.get("LABEL_STUDIO_API_KEY", "")
            run(args.url, token, args.tasks, args.chunk, Path(tmp))
            return
        began = time.perf_counter()
        with LabelStudioServer(template_dir=default_template_dir(ROOT / ".stabtest")) as server:
            print(
                f"server up in {time.perf_counter() - began:.1f} s "
                f"(launch {server.startup_seconds:.1f} s) at {server.url}"
            )
            run(server.url, server.token, args.tasks, args.chunk, Path(tmp))


if __name__ == "__main__":
    main()
