"""The openai backend against a real OpenAI-compatible server: `transformers serve` over the
bundled SmolLM2-135M (converted once; set STABTEST_CACHE_DIR to reuse it), on a free port of
127.0.0.1, offline. A small proxy in front of it counts requests in flight and injects 429,
500 and 401 answers. Without fastapi/uvicorn, or when the server cannot start, these tests
skip and say why; with STABTEST_REQUIRE_SERVER=1 (CI) they fail instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationParams, GenerationRequest
from stabtest.generation.backend import PartialBatch
from stabtest.generation.cache import Cache
from stabtest.generation.generator import Generator
from stabtest.generation.hf import HFBackend, default_cache_dir
from stabtest.generation.openai_backend import OpenAIBackend
from tests.integration.openai_server import Proxy, Server, free_port, sampling_copy

pytestmark = pytest.mark.integration

GREEDY = GenerationParams(max_new_tokens=24)
SAMPLED = GenerationParams(temperature=1.0, max_new_tokens=16)
PROMPTS = [
    "What is the capital of France?",
    "Who wrote the play Hamlet?",
    "What is 2 + 2?",
    "Name a primary colour.",
]
KEY_ENV = "STABTEST_TEST_OPENAI_KEY"
SECRET = "sk-stabtest-secret-0123456789"
MODEL_CACHE = default_cache_dir()  # before pytester moves HOME: reuse the converted model


def _unavailable(reason: str) -> None:
    if os.environ.get("STABTEST_REQUIRE_SERVER"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def hf() -> HFBackend:
    pytest.importorskip("transformers")
    try:
        backend = HFBackend(cache_dir=MODEL_CACHE, threads=1)
        backend.model_dir()  # converts the GGUF once
    except BackendError as error:
        pytest.skip(str(error))
    return backend


@pytest.fixture(scope="module")
def served_dir(hf: HFBackend, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sampling_copy(hf.model_dir(), tmp_path_factory.mktemp("served") / "smollm2")


@pytest.fixture(scope="module")
def server(served_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    try:
        started = Server(served_dir, tmp_path_factory.mktemp("log") / "serve.log")
    except RuntimeError as error:
        _unavailable(f"cannot start `transformers serve`: {error}")
    print(f"transformers serve answered after {started.start_seconds:.1f} s")
    yield started
    started.stop()


@pytest.fixture
def proxy(server: Server) -> Iterator[Proxy]:
    made = Proxy(server.url)
    yield made
    made.close()


def client(server: Server, url: str | None = None, **options: object) -> OpenAIBackend:
    options.setdefault("backoff", 0.05)
    return OpenAIBackend(server.model, base_url=url or server.url, **options)  # type: ignore[arg-type]


def test_greedy_answers_match_the_hf_backend(server: Server, hf: HFBackend) -> None:
    """Same weights, float32, same chat template, greedy: the same answers."""
    requests = [GenerationRequest(p, GREEDY) for p in PROMPTS]
    remote = client(server, concurrency=4).generate(requests)
    assert "Paris" in remote[0]
    assert remote == hf.generate(requests)


def test_a_seed_gives_the_same_sample_and_samples_differ(server: Server, proxy: Proxy) -> None:
    """transformers serve seeds torch per request: sequential requests replay exactly (with
    requests in flight at once the seed is shared global state, hence reproducible=False)."""
    backend = client(server, proxy.url, concurrency=1)
    assert backend.reproducible is False
    requests = [GenerationRequest("Tell me a word.", SAMPLED, seed=7, sample=s) for s in range(4)]
    first = backend.generate(requests)
    assert backend.generate(requests) == first
    assert len(set(first)) > 1  # sampled, not greedy
    seeds = [body["seed"] for body in proxy.bodies]
    assert len(set(seeds[:4])) == 4  # one request per sample, each with its own seed
    assert seeds[4:] == seeds[:4]
    assert all("n" not in body for body in proxy.bodies)


def test_samples_are_expanded_client_side(server: Server, proxy: Proxy, tmp_path: Path) -> None:
    generator = Generator(
        client(server, proxy.url, concurrency=2), cache=Cache(tmp_path / "c.sqlite")
    )
    requests = [GenerationRequest("Tell me a word.", SAMPLED, seed=1, sample=s) for s in range(3)]
    requests += [GenerationRequest(PROMPTS[0], GREEDY, seed=1, sample=s) for s in range(3)]
    answers = generator(requests)
    assert len(answers) == 6
    assert proxy.count == 4  # three samples; the greedy ones are one request
    assert len({answers[3], answers[4], answers[5]}) == 1
    assert generator(requests) == answers
    assert proxy.count == 4  # replayed from the cache
    assert generator.take_stats().reproducible is False


def test_requests_go_out_concurrently_up_to_the_limit(server: Server) -> None:
    proxies = [Proxy(server.url), Proxy(server.url)]
    try:
        urls = ",".join(p.url for p in proxies)
        backend = client(server, urls, concurrency=4)
        requests = [GenerationRequest(f"{p} Answer briefly.", GREEDY) for p in PROMPTS * 2]
        answers = backend.generate(requests)
        assert len(answers) == 8
        assert sum(p.count for p in proxies) == 8
        assert all(p.count >= 2 for p in proxies)  # both replicas used
        assert sum(p.max_in_flight for p in proxies) >= 4
        assert all(p.max_in_flight <= 4 for p in proxies)
    finally:
        for made in proxies:
            made.close()


def test_a_server_killed_mid_plan_keeps_what_it_answered(
    server: Server, served_dir: Path, tmp_path: Path
) -> None:
    doomed = Server(served_dir, tmp_path / "doomed.log")
    cache = Cache(tmp_path / "cache.sqlite")
    requests = [GenerationRequest(p, GREEDY) for p in PROMPTS]

    def kill_after_first_batch(stage: str, done: int, total: int) -> None:
        if done >= 2:
            doomed.stop()

    first = Generator(
        client(server, doomed.url, concurrency=1, retries=1),
        cache=cache,
        batch_size=2,
        progress=kill_after_first_batch,
    )
    try:
        with pytest.raises(BackendError, match=f"cannot reach {doomed.url}/chat/completions"):
            first(requests)
    finally:
        doomed.stop()
    assert first.take_stats().generated == 2
    # the replica that is still up serves the same model id: same fingerprint, answers reused
    proxy = Proxy(server.url)
    try:
        again = Generator(client(server, proxy.url), cache=cache, batch_size=2)
        answers = again(requests)
        assert proxy.count == 2  # only what the dead server never answered
        assert again.take_stats().cached == 2
        assert "Paris" in answers[0]
    finally:
        proxy.close()


def test_429_and_500_are_retried(server: Server) -> None:
    failures = {1: (429, '{"error": "slow down"}'), 2: (500, '{"error": "oops"}')}
    proxy = Proxy(server.url, inject=lambda n, headers: failures.get(n))
    try:
        [answer] = client(server, proxy.url, retries=3).generate(
            [GenerationRequest(PROMPTS[0], GREEDY)]
        )
        assert "Paris" in answer
        assert proxy.count == 3
    finally:
        proxy.close()


def test_exhausted_retries_name_url_and_status_and_keep_the_rest(
    server: Server, tmp_path: Path
) -> None:
    def inject(number: int, headers: dict[str, str]) -> tuple[int, str] | None:
        return (500, '{"error": "boom"}') if number >= 3 else None

    proxy = Proxy(server.url, inject=inject)
    cache = Cache(tmp_path / "cache.sqlite")
    try:
        generator = Generator(client(server, proxy.url, concurrency=1, retries=2), cache=cache)
        requests = [GenerationRequest(p, GREEDY) for p in PROMPTS]
        with pytest.raises(PartialBatch) as caught:
            generator(requests)
        message = str(caught.value)
        assert f"{proxy.url}/chat/completions answered HTTP 500" in message
        assert "after 3 attempts" in message
        assert "boom" in message
        plan = generator.plan(requests)
        assert len(cache.get_many(plan.requests)) == 2  # answered before the failure
    finally:
        proxy.close()


def test_a_wrong_key_names_the_variable_never_the_key(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    def demand_key(number: int, headers: dict[str, str]) -> tuple[int, str] | None:
        given = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if given == "Bearer right-key":
            return None
        return 401, json.dumps({"error": f"Incorrect API key provided: {given[7:]}"})

    proxy = Proxy(server.url, inject=demand_key)
    monkeypatch.setenv(KEY_ENV, SECRET)
    try:
        backend = client(server, proxy.url, api_key_env=KEY_ENV, retries=3)
        with pytest.raises(BackendError) as caught:
            backend.generate([GenerationRequest(PROMPTS[0], GREEDY)])
        message = str(caught.value)
        assert KEY_ENV in message
        assert "HTTP 401" in message
        assert SECRET not in message
        assert proxy.count == 1  # a 401 is not retried
        monkeypatch.setenv(KEY_ENV, "right-key")
        assert "Paris" in backend.generate([GenerationRequest(PROMPTS[0], GREEDY)])[0]
    finally:
        proxy.close()


def test_an_unreachable_url_is_one_clear_error(server: Server) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    backend = client(server, url, retries=1)
    with pytest.raises(BackendError, match=f"cannot reach {url}/chat/completions") as caught:
        backend.generate([GenerationRequest(PROMPTS[0], GREEDY)])
    assert "after 2 attempts" in str(caught.value)


def test_completions_api_sends_the_raw_prompt(server: Server, proxy: Proxy) -> None:
    backend = client(server, proxy.url, api="completions")
    [answer] = backend.generate([GenerationRequest("The capital of France is", GREEDY)])
    assert "Paris" in answer
    assert proxy.bodies[0]["prompt"] == "The capital of France is"
    assert backend.fingerprint() != client(server).fingerprint()


SUITE = """\
suite: remote
cases:
  - id: capital
    prompt: What is the capital of France?
    reference: Paris
    paraphrases: [Which city is the capital of France?]
    sampling: {temperature: 0.0, max_new_tokens: 24}
  - id: word
    prompt: Tell me a word.
    sampling: {temperature: 1.0, samples: 3, max_new_tokens: 12}
    thresholds: {max_si: 1.0}
"""


def test_plugin_runs_a_suite_against_the_server(
    server: Server, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "remote.yaml").write_text(SUITE, encoding="utf-8")
    proxy = Proxy(server.url)
    pytester.makeini(
        "[pytest]\n"
        "stab_backend = openai\n"
        f"stab_model = {server.model}\n"
        "stab_embedder = lexical\n"
        "stab_backend_option =\n"
        f"    base_url={proxy.url}\n"
        f"    api_key_env={KEY_ENV}\n"
        "    concurrency=4\n"
    )
    report_path = pytester.path / "reports" / "stabtest.json"
    try:
        first = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
        report = json.loads(report_path.read_text())
        assert report["generation"]["generated"] == proxy.count > 0
        assert report["generation"]["reproducible"] is False
        answers = [a["text"] for v in report["variants"] for a in v["answers"]]
        assert any("Paris" in text for text in answers)
        sent = proxy.count
        second = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
        rerun = json.loads(report_path.read_text())
        assert proxy.count == sent  # nothing sent again
        assert rerun["generation"]["generated"] == 0
        assert all(body.get("model") == server.model for body in proxy.bodies)
    finally:
        proxy.close()
    outputs = [str(first.outlines), str(first.errlines), str(second.outlines)]
    stored = [report_path.read_bytes()] + [
        path.read_bytes() for path in pytester.path.rglob("*.sqlite*") if path.is_file()
    ]
    assert all(SECRET not in text for text in outputs)
    assert all(SECRET.encode() not in data for data in stored)
