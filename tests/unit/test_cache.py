"""The SQLite cache and the plan runner: what is generated, when, and what survives."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationParams, GenerationPlan, GenerationRequest
from stabtest.generation.cache import Cache
from stabtest.generation.fake import FakeBackend
from stabtest.generation.runner import run_plan

GREEDY = GenerationParams()
SAMPLED = GenerationParams(temperature=0.8)


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    with Cache(tmp_path / "cache.sqlite") as opened:
        yield opened


def request(prompt: str, params: GenerationParams = GREEDY, sample: int = 0) -> GenerationRequest:
    return GenerationRequest(prompt, params, seed=7, sample=sample)


def test_round_trip(cache: Cache) -> None:
    req = request("q1")
    cache.put_many([("k1", req, "a1")], "fp")
    assert cache.get_many(["k1", "k2"]) == {"k1": "a1"}
    assert cache.count() == 1
    assert cache.count("fp") == 1
    assert cache.count("other") == 0
    row = cache.conn.execute("SELECT fingerprint, prompt, params, seed, sample FROM generations")
    fingerprint, prompt, params, seed, sample = row.fetchone()
    assert (fingerprint, prompt, seed, sample) == ("fp", "q1", 7, 0)
    assert '"max_new_tokens": 48' in params


def test_many_keys_beyond_the_parameter_limit(cache: Cache) -> None:
    rows = [(f"k{i}", request(f"q{i}"), f"a{i}") for i in range(1500)]
    cache.put_many(rows, "fp")
    assert len(cache.get_many(f"k{i}" for i in range(2000))) == 1500


def test_wal_mode_and_two_connections(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    one, two = Cache(path), Cache(path)
    assert one.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    one.put_many([("k", request("q"), "from one")], "fp")
    assert two.get_many(["k"]) == {"k": "from one"}
    two.put_many([("k2", request("q2"), "from two")], "fp")
    assert one.get_many(["k", "k2"]) == {"k": "from one", "k2": "from two"}
    assert int(two.conn.execute("PRAGMA busy_timeout").fetchone()[0]) > 0
    one.close()
    two.close()


def test_no_cache_reads_nothing_but_writes_replace(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    Cache(path).put_many([("k", request("q"), "old")], "fp")
    fresh = Cache.disabled(path)
    assert fresh.get_many(["k"]) == {}
    fresh.put_many([("k", request("q"), "new")], "fp")
    assert Cache(path).get_many(["k"]) == {"k": "new"}


def test_embeddings_round_trip(cache: Cache) -> None:
    vectors = {"a": np.array([0.6, 0.8], dtype=np.float64), "b": np.array([1.0, 0.0])}
    cache.put_embeddings("emb", vectors)
    found = cache.get_embeddings("emb", ["a", "b", "c"])
    assert set(found) == {"a", "b"}
    assert found["a"].dtype == np.float32
    np.testing.assert_allclose(found["a"], [0.6, 0.8], rtol=1e-6)
    assert cache.get_embeddings("other", ["a"]) == {}
    assert cache.count_embeddings() == 2
    assert Cache.disabled(cache.path).get_embeddings("emb", ["a"]).keys() == {"a"}


def plan_of(backend: FakeBackend, requests: Sequence[GenerationRequest]) -> GenerationPlan:
    return GenerationPlan.build(backend.fingerprint(), requests)


def test_run_plan_generates_only_missing_keys_in_bounded_batches(cache: Cache) -> None:
    backend = FakeBackend({"france": "Paris."})
    first = plan_of(backend, [request(f"france {i}") for i in range(3)])
    run_plan(first, backend, cache, batch_size=2)
    assert backend.calls == 2

    greedy = [request(f"france {i}", sample=s) for i in range(5) for s in range(3)]
    sampled = [request("france", SAMPLED, sample=s) for s in range(4)]
    plan = plan_of(backend, greedy + sampled)
    assert len(plan) == 5 + 4  # greedy samples collapse to one key per prompt
    backend.batches.clear()
    seen_before = len(backend.prompts_seen)
    progress: list[tuple[int, int]] = []

    texts = run_plan(
        plan, backend, cache, batch_size=3, on_batch=lambda d, t: progress.append((d, t))
    )

    assert list(texts) == list(plan.requests)
    assert set(texts.values()) == {"Paris."}
    generated = backend.prompts_seen[seen_before:]
    assert sorted(generated) == sorted(["france 3", "france 4"] + ["france"] * 4)
    assert all(len(batch) <= 3 for batch in backend.batches)
    assert all(len({r.params for r in batch}) == 1 for batch in backend.batches)
    assert progress[-1] == (6, 6)


def test_run_plan_never_touches_the_backend_when_all_cached(cache: Cache) -> None:
    backend = FakeBackend({"x": "y"})
    plan = plan_of(backend, [request("x"), request("x", SAMPLED, 1)])
    run_plan(plan, backend, cache, batch_size=8)

    class Untouchable(FakeBackend):
        def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
            raise AssertionError("backend used on a fully cached plan")

    assert run_plan(plan, Untouchable({"x": "y"}), cache, batch_size=8) == dict.fromkeys(
        plan.requests, "y"
    )


def test_run_plan_no_cache_regenerates_and_replaces(cache: Cache) -> None:
    plan = plan_of(FakeBackend(), [request("q")])
    run_plan(plan, FakeBackend({"q": "old"}), cache, batch_size=4)
    changed = FakeBackend({"q": "new"})
    result = run_plan(plan, changed, cache, batch_size=4, no_cache=True)
    assert list(result.values()) == ["new"]
    assert changed.calls == 1
    assert cache.get_many(plan.requests) == result


def test_failure_mid_plan_keeps_finished_batches(cache: Cache) -> None:
    class Flaky(FakeBackend):
        def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
            if self.calls == 2:
                raise RuntimeError("out of memory")
            return super().generate(requests)

    backend = Flaky({"q": "a"})
    plan = plan_of(backend, [request(f"q{i:02}") for i in range(10)])
    with pytest.raises(RuntimeError, match="out of memory"):
        run_plan(plan, backend, cache, batch_size=3)
    assert cache.count() == 6

    resumed = FakeBackend({"q": "a"})
    run_plan(plan, resumed, cache, batch_size=3)
    assert len(resumed.prompts_seen) == 4


def test_run_plan_without_cache_and_wrong_answer_count() -> None:
    backend = FakeBackend({"q": "a"})
    plan = plan_of(backend, [request("q")])
    assert list(run_plan(plan, backend, None, batch_size=1).values()) == ["a"]

    class Short(FakeBackend):
        def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
            return []

    with pytest.raises(BackendError, match="returned 0 answers for a batch of 1"):
        run_plan(plan, Short(), None, batch_size=1)


def test_file_is_a_plain_sqlite_database(cache: Cache) -> None:
    cache.put_many([("k", request("q"), "a")], "fp")
    with sqlite3.connect(cache.path) as raw:
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
    assert {"generations", "embeddings"} <= tables
