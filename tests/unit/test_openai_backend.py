"""The openai backend's pure decisions (request mapping, seeds, fingerprint, URLs, retry
policy, replica choice) and its retry loop over an in-process httpx transport: no server.
Against a real server: tests/integration/test_openai_backend.py."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationParams, GenerationPlan, GenerationRequest
from stabtest.core.results import GenerationStats
from stabtest.generation.backend import PartialBatch, resolve_backend
from stabtest.generation.cache import Cache
from stabtest.generation.openai_backend import (
    MAX_BACKOFF,
    OpenAIBackend,
    PromptRefused,
    Replicas,
    RequestFailed,
    ServerError,
    answer_text,
    backoff_seconds,
    base_urls,
    classify,
    request_body,
    request_seed,
)
from stabtest.generation.runner import run_plan

GREEDY = GenerationParams(max_new_tokens=20)
SAMPLED = GenerationParams(temperature=0.7, top_p=0.9, max_new_tokens=30, system_prompt="Be brief.")
URL = "http://127.0.0.1:9/v1"
KEY = "sk-test-secret-1234567890"


def backend(**options: object) -> OpenAIBackend:
    options.setdefault("base_url", URL)
    return OpenAIBackend("served-model", **options)  # type: ignore[arg-type]


# -- request mapping and seeds -------------------------------------------------------------


def test_chat_body_maps_decoding_params_and_system_prompt() -> None:
    body = request_body(GenerationRequest("Hi?", SAMPLED, seed=3, sample=1), "m", "chat")
    assert body["model"] == "m"
    assert body["max_tokens"] == 30
    assert body["temperature"] == 0.7
    assert body["top_p"] == 0.9
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi?"},
    ]
    assert "prompt" not in body


def test_greedy_is_temperature_zero_and_completions_prefix_the_system_prompt() -> None:
    greedy = request_body(GenerationRequest("Hi?", GREEDY), "m", "completions")
    assert greedy["temperature"] == 0.0
    assert "top_p" not in greedy
    assert greedy["prompt"] == "Hi?"
    sampled = request_body(GenerationRequest("Hi?", SAMPLED), "m", "completions")
    assert sampled["prompt"] == "Be brief.\n\nHi?"
    assert "messages" not in sampled


def test_seed_is_stable_per_seed_and_sample_and_fits_31_bits() -> None:
    seeds = {
        (seed, sample): request_seed(GenerationRequest("p", SAMPLED, seed=seed, sample=sample))
        for seed in range(3)
        for sample in range(5)
    }
    assert len(set(seeds.values())) == len(seeds)  # every (seed, sample) its own
    assert all(0 <= s < 2**31 for s in seeds.values())
    again = request_seed(GenerationRequest("other prompt", SAMPLED, seed=1, sample=2))
    assert again == seeds[(1, 2)]
    # greedy requests share a cache key whatever their sample, so they share a seed
    greedy = {request_seed(GenerationRequest("p", GREEDY, seed=9, sample=s)) for s in range(4)}
    assert len(greedy) == 1


def test_answer_text_reads_chat_and_completions_and_names_a_bad_body() -> None:
    assert answer_text({"choices": [{"message": {"content": " Paris. "}}]}, "chat") == "Paris."
    assert answer_text({"choices": [{"message": {"content": None}}]}, "chat") == ""
    assert answer_text({"choices": [{"text": "\n Paris"}]}, "completions") == "Paris"
    with pytest.raises(BackendError, match=r"choices\[0\]\.message\.content"):
        answer_text({"error": "nope"}, "chat")


# -- identity --------------------------------------------------------------------------------


def test_fingerprint_ignores_url_and_key_and_follows_model_revision_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    base = backend().fingerprint()
    assert base.startswith("openai:")
    assert KEY not in base
    assert backend(base_url="http://10.0.0.1:8000/v1,http://10.0.0.2:8000/v1").fingerprint() == base
    assert backend(concurrency=2, timeout=5, retries=0).fingerprint() == base
    assert backend(revision="2024-06-01").fingerprint() != base
    assert backend(api="completions").fingerprint() != base
    assert OpenAIBackend("other-model", base_url=URL).fingerprint() != base


def test_resolve_by_name_takes_typed_options_and_needs_a_model() -> None:
    built = resolve_backend("openai", model="m", base_url=URL, concurrency=3, reproducible=True)
    assert isinstance(built, OpenAIBackend)
    assert (built.concurrency, built.reproducible) == (3, True)
    assert backend().reproducible is False  # HTTP sampling promises nothing by default
    with pytest.raises(BackendError, match="model=ID"):
        resolve_backend("openai", model=None, base_url=URL)
    with pytest.raises(BackendError, match="api must be"):
        backend(api="responses")
    with pytest.raises(BackendError, match="concurrency"):
        backend(concurrency=0)


def test_importing_the_backend_loads_neither_torch_nor_httpx() -> None:
    code = (
        "import sys; from stabtest.generation.backend import resolve_backend\n"
        "b = resolve_backend('openai', model='m', base_url='http://h:1/v1'); b.fingerprint()\n"
        "print(sorted(m for m in ('torch', 'httpx', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_base_urls_split_normalise_and_explain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert base_urls("http://a:1/v1, http://b:2/") == ["http://a:1/v1", "http://b:2/v1"]
    assert base_urls(["https://x/api/v1/"]) == ["https://x/api/v1"]
    with pytest.raises(BackendError, match="base_url=http"):
        base_urls(None)
    with pytest.raises(BackendError, match="not an http"):
        base_urls("ftp://user:pw@host/v1")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env:3")
    assert base_urls(None) == ["http://env:3/v1"]


# -- retry policy ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_overload_and_server_errors_are_retried(status: int) -> None:
    error = classify(status, "busy", URL + "/chat/completions", "OPENAI_API_KEY")
    assert isinstance(error, ServerError)
    assert error.retry
    assert f"HTTP {status}" in str(error)


def test_auth_failure_names_the_variable_and_a_bad_request_is_final() -> None:
    error = classify(401, '{"error":"bad key"}', URL, "MY_KEY")
    assert isinstance(error, RequestFailed)
    assert "MY_KEY" in str(error)
    assert "HTTP 401" in str(error)
    assert isinstance(classify(404, "no such model", URL, "K"), RequestFailed)
    refused = classify(400, "This model's maximum context length is 8192 tokens", URL, "K")
    assert isinstance(refused, PromptRefused)


def test_backoff_doubles_is_capped_and_honours_retry_after() -> None:
    assert [backoff_seconds(n, 0.5) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert backoff_seconds(20, 0.5) == MAX_BACKOFF
    assert backoff_seconds(1, 0.5, "3") == 3.0
    assert backoff_seconds(1, 0.5, "Wed, 21 Oct 2015 07:28:00 GMT") == 0.5  # dates: own backoff
    assert backoff_seconds(1, 0.5, "9999") == MAX_BACKOFF


def test_replicas_go_to_the_least_busy_then_round_robin() -> None:
    replicas = Replicas(["a", "b", "c"])
    assert [replicas.acquire() for _ in range(3)] == [0, 1, 2]
    replicas.release(1)
    assert replicas.acquire() == 1  # the only idle one
    for index in range(3):
        replicas.release(index)
    assert replicas.acquire(avoid=0) != 0


# -- the retry loop over an in-process transport -----------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def wired(handler: Handler, **options: object) -> tuple[OpenAIBackend, list[float]]:
    """A backend whose HTTP client answers from `handler`; sleeps are recorded, not slept."""
    built = backend(**options)
    built._client = httpx.Client(transport=httpx.MockTransport(handler))
    slept: list[float] = []
    built.sleep = slept.append
    return built, slept


def reply(text: str) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"content": text}}]})


def test_retries_with_backoff_until_the_server_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    statuses = iter([503, 429, 200])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = next(statuses)
        return reply("ok") if status == 200 else httpx.Response(status, text="busy")

    built, slept = wired(handler, retries=3, backoff=0.25)
    assert built.generate([GenerationRequest("q", GREEDY)]) == ["ok"]
    assert slept == [0.25, 0.5]
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(seen[0].content)["max_tokens"] == 20


def test_exhausted_retries_name_the_redacted_url_and_status_never_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text=f"internal error for key {KEY}\nstack trace...")

    built, slept = wired(handler, retries=2, base_url="http://user:pw@srv:8000/v1?token=abc")
    with pytest.raises(PartialBatch) as caught:
        built.generate([GenerationRequest("q", GREEDY)])
    message = str(caught.value)
    assert "http://***@srv:8000/v1/chat/completions?token=***" in message
    assert "HTTP 500" in message
    assert "after 3 attempts" in message
    assert KEY not in message
    assert "pw" not in message
    assert "\n" not in message
    assert len(slept) == 2
    assert caught.value.answers == {}


def test_a_failed_request_keeps_the_answers_that_arrived() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["messages"][-1]["content"]
        return httpx.Response(404, text="gone") if prompt == "bad" else reply(prompt.upper())

    built, _ = wired(handler, concurrency=1, retries=0)
    requests = [GenerationRequest(p, GREEDY) for p in ("a", "b", "bad", "c")]
    with pytest.raises(PartialBatch) as caught:
        built.generate(requests)
    assert caught.value.failed
    assert caught.value.answers == {0: "A", 1: "B"}  # one in flight: "c" never started
    assert "HTTP 404" in str(caught.value)


def test_a_refused_prompt_fails_alone() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["messages"][-1]["content"]
        if prompt == "long":
            return httpx.Response(400, json={"error": "maximum context length exceeded"})
        return reply(prompt)

    built, _ = wired(handler, concurrency=2)
    with pytest.raises(PartialBatch) as caught:
        built.generate([GenerationRequest(p, GREEDY) for p in ("a", "long", "b")])
    assert not caught.value.failed
    assert caught.value.answers == {0: "a", 2: "b"}
    assert "context length" in caught.value.refused[1]


# -- the runner keeps partial batches ---------------------------------------------------------


class Partial:
    """A backend that answers all but the prompt 'x', then raises PartialBatch."""

    name = "partial"
    reproducible = False

    def __init__(self, failed: bool):
        self.failed = failed

    def fingerprint(self) -> str:
        return "partial:1"

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        answers = {i: r.prompt for i, r in enumerate(requests) if r.prompt != "x"}
        refused = (
            {}
            if self.failed
            else {i: "too long" for i, r in enumerate(requests) if i not in answers}
        )
        if len(answers) < len(requests):
            raise PartialBatch("one failed", answers, refused, failed=self.failed)
        return [r.prompt for r in requests]


def test_runner_stores_a_failed_batch_s_answers_before_raising(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache.sqlite")
    plan = GenerationPlan.build("partial:1", [GenerationRequest(p, GREEDY) for p in "abxc"])
    with pytest.raises(PartialBatch):
        run_plan(plan, Partial(failed=True), cache, batch_size=8)
    stored = cache.get_many(plan.requests)
    assert sorted(stored.values()) == ["a", "b", "c"]


def test_runner_goes_on_after_refusals_and_records_them(tmp_path: Path) -> None:
    plan = GenerationPlan.build("partial:1", [GenerationRequest(p, GREEDY) for p in "axb"])
    refused: dict[str, str] = {}
    found = run_plan(plan, Partial(failed=False), None, batch_size=8, refused=refused)
    assert sorted(found.values()) == ["a", "b"]
    assert list(refused.values()) == ["too long"]


def test_report_says_unreproducible_once_any_worker_was() -> None:
    merged = GenerationStats(2, 1, 1).merged(GenerationStats(3, 0, 3, reproducible=False))
    assert (merged.requests, merged.generated, merged.reproducible) == (5, 4, False)
    assert GenerationStats().merged(GenerationStats()).reproducible
