"""`stabtest execute --engine ray` on a real local Ray cluster (`ray.init()` on this
machine, actors in their own processes; fake backend, lexical embedder): a session's plan
answered by Ray actors gives exactly the keys and answers the session's own execution
stores; an actor killed mid-block is restarted and its block asked again, losing
nothing; a rerun asks nothing; the command itself starts and stops its own cluster; the
LLM judge's requests are answered by actors of the judge's own model.

Without ray installed these tests skip naming the install command; with
STABTEST_REQUIRE_RAY=1 (CI installs it) they fail instead."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stabtest.core.settings import Settings
from stabtest.core.suite import Case
from stabtest.scale.execute import execute_plan
from stabtest.scale.planner import write_session_plan
from stabtest.session import Session

try:
    import ray
except ImportError:  # pragma: no cover - CI installs it
    ray = None

pytestmark = pytest.mark.skipif(
    ray is None and not os.environ.get("STABTEST_REQUIRE_RAY"),
    reason="ray is not installed: pip install 'stabtest[ray]'",
)

ANSWERS = {
    "capital of france": "Paris.",
    "river": "The Seine.",
    "italy": ["Rome.", "It is Rome.", "Milan."],
    "question": "The answer.",
}


def cases() -> list[Case]:
    conversation = Case.model_validate(
        {
            "id": "paris",
            "turns": [
                {
                    "prompt": "What is the capital of France?",
                    "reference": "Paris",
                    "paraphrases": ["Which city is the capital of France?"],
                },
                {"prompt": "What river flows through it?"},
                {"prompt": "Remind me, what is the capital of France?", "recall": 1},
            ],
        }
    )
    sampled = Case(
        id="italy",
        prompt="What is the capital of Italy?",
        reference="Rome",
        paraphrases=("Name the capital of Italy.",),
        sampling={"temperature": 0.7, "samples": 3},  # type: ignore[arg-type]
    )
    many = [Case(id=f"q{i}", prompt=f"Question number {i}?", reference="answer") for i in range(24)]
    return [conversation, sampled, *many]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    assert ray is not None, "STABTEST_REQUIRE_RAY=1 but ray is not installed"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def project(tmp_path: Path, **options: Any) -> tuple[Session, Path]:
    """A session over `cases()`, its plan written, then executed by the session itself
    into `direct/` (the in-process path the Ray engine must match)."""
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(ANSWERS))
    settings = Settings(
        backend="fake",
        model=str(answers),
        embedder="lexical",
        rootdir=str(tmp_path),
        cache_dir="direct",
        **options,
    )
    session = Session(settings)
    session.register_all("suites/s.yaml", cases())
    plan = tmp_path / "plan.jsonl"
    write_session_plan(session, plan)
    session.execute()
    return session, plan


def generations(cache: Path) -> dict[str, str]:
    with sqlite3.connect(cache) as conn:
        return dict(conn.execute("SELECT key, text FROM generations"))


def embedded(cache: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(cache) as conn:
        return set(conn.execute("SELECT fingerprint, text_sha FROM embeddings"))


def ray_settings(tmp_path: Path, **options: Any) -> Settings:
    return Settings(engine="ray", rootdir=str(tmp_path), **options)


def test_ray_actors_store_the_keys_and_answers_of_the_in_process_run(
    cluster: None, tmp_path: Path
) -> None:
    from stabtest.core.plan_file import read_header
    from stabtest.scale.ray_workers import RayWorkers

    _, plan = project(tmp_path)
    direct = tmp_path / "direct" / "cache.sqlite"
    on_ray = tmp_path / "ray" / "cache.sqlite"
    header = read_header(plan)
    workers = RayWorkers(header, ray_settings(tmp_path, ray_actors=2, block_size=5))
    try:
        summary = execute_plan(plan, workers, engine="ray", block_size=5, cache_path=on_ray)
    finally:
        workers.close()
    assert summary.workers == 2
    assert summary.generated == summary.requests == 2 * 3 + 2 * 3 + 24
    assert generations(on_ray) == generations(direct)
    assert embedded(on_ray) >= embedded(direct)  # every vector the run needs, and refs

    workers = RayWorkers(header, ray_settings(tmp_path, ray_actors=1))
    try:
        again = execute_plan(plan, workers, engine="ray", block_size=5, cache_path=on_ray)
    finally:
        workers.close()
    assert (again.generated, again.cached, again.embedded) == (0, summary.requests, 0)


def test_an_actor_killed_mid_block_is_restarted_and_loses_nothing(
    cluster: None, tmp_path: Path
) -> None:
    from stabtest.core.plan_file import read_header
    from stabtest.scale.ray_workers import RayWorkers

    _, plan = project(tmp_path)
    header = read_header(plan)
    slow = replace(header, backend_options={"delay": 0.4})
    on_ray = tmp_path / "ray" / "cache.sqlite"
    workers = RayWorkers(slow, ray_settings(tmp_path, ray_actors=1, ray_max_retries=2))
    killed: list[int] = []

    def kill_after_the_first_block(stage: str, done: int, total: int) -> None:
        if stage == "generating" and done and not killed:
            # the actor is answering the next block now (and holds one more queued)
            ray.kill(ray.get_actor(workers.names[0]), no_restart=False)
            killed.append(done)

    try:
        summary = execute_plan(
            plan,
            workers,
            engine="ray",
            block_size=4,
            cache_path=on_ray,
            progress=kill_after_the_first_block,
            header=slow,
        )
    finally:
        workers.close()
    assert killed and killed[0] < summary.requests
    assert summary.generated == summary.requests
    assert generations(on_ray) == generations(tmp_path / "direct" / "cache.sqlite")


def test_the_command_runs_a_plan_on_a_cluster_it_starts(tmp_path: Path) -> None:
    _, plan = project(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    command = [sys.executable, "-m", "stabtest.cli", "execute", str(plan), "--json"]
    options = ["--engine=ray", "--actors=2", "--block-size=8", "--cache-dir=by-command"]
    done = subprocess.run(
        [*command, *options], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["engine"], summary["workers"]) == ("ray", 2)
    assert summary["generated"] == summary["requests"]
    stored = generations(tmp_path / "by-command" / "cache.sqlite")
    assert stored == generations(tmp_path / "direct" / "cache.sqlite")


def test_the_llm_judges_requests_are_answered_by_actors_of_the_judges_model(
    tmp_path: Path,
) -> None:
    """A judge model other than the one under test: the command answers the plan on one
    set of actors, then the gradings on the judge's own, into the keys the judge uses."""
    judge = tmp_path / "judge.json"
    judge.write_text(json.dumps({"answer to grade": "VERDICT: yes\nCONFIDENCE: 90"}))
    session, plan = project(tmp_path, judges="semantic,reference,llm_judge", judge_model=str(judge))
    for case in cases():  # the in-process run judges too, asking the judge model
        outcome = session.outcome("suites/s.yaml", case.id)
        assert outcome.variants
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    command = [sys.executable, "-m", "stabtest.cli", "execute", str(plan), "--json"]
    options = ["--engine=ray", "--actors=1", "--cache-dir=by-command"]
    done = subprocess.run(
        [*command, *options], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    # every case has a reference: 2 threads x 2 graded turns, 6 sampled answers, 24 more
    assert summary["gradings"] == 2 * 2 + 6 + 24
    assert summary["graded"] > 0
    stored = generations(tmp_path / "by-command" / "cache.sqlite")
    assert stored == generations(tmp_path / "direct" / "cache.sqlite")
    assert sum("VERDICT: yes" in text for text in stored.values()) == summary["graded"]
