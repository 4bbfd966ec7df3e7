"""A backend for any OpenAI-compatible HTTP server (vLLM, TGI, llama.cpp, transformers serve,
a hosted API), with replicas, bounded concurrency, retries and partial progress.

Built on httpx rather than the `openai` package: one small POST per request needs no SDK,
and owning the retry loop lets a retry go to another replica, honour `Retry-After`, and
tell a refused prompt (400 "context length") from a broken server. httpx is imported on
first use, so choosing this backend costs nothing until a request goes out, and a fully
cached rerun never touches the network: the fingerprint is model id + declared revision +
API kind, never the base URL (replicas of one model share answers) nor the key.

The key is read from an environment variable (`api_key_env`, default OPENAI_API_KEY) when
the first request is sent; it is never stored on the backend, printed, or put in a
fingerprint, report or error message.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationRequest, transcript
from stabtest.core.text import redact_url
from stabtest.generation.backend import PartialBatch

if TYPE_CHECKING:
    import httpx

FINGERPRINT_VERSION = "openai-v1"
"""Bump when the request mapping below changes answers (it is in every cache key)."""
Api = Literal["chat", "completions"]
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
MAX_BACKOFF = 30.0
SNIPPET_CHARS = 200
_CONTEXT_WORDS = ("context length", "context_length", "maximum context", "too long", "max_tokens")


class RequestFailed(BackendError):
    """One request failed for good (retries spent, or a status retrying cannot fix)."""


class PromptRefused(BackendError):
    """The server rejected this one prompt (400 beyond the context): its case fails."""


class ServerError(BackendError):
    """A status or transport failure of one attempt; `retry` says whether to try again."""

    def __init__(self, message: str, *, retry: bool, retry_after: str | None = None):
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after


# -- pure decisions (unit-tested) ------------------------------------------------------------


def request_seed(request: GenerationRequest) -> int:
    """The server seed for one (seed, sample): stable across runs and machines, 31 bits so
    every server's integer type takes it; greedy requests share one, as they share a key."""
    seed, sample = (0, 0) if request.params.greedy else (request.seed, request.sample)
    digest = hashlib.sha256(f"stabtest-seed\0{seed}\0{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def request_body(request: GenerationRequest, model: str, api: Api) -> dict[str, Any]:
    """The JSON body: temperature, top_p, max_new_tokens -> max_tokens, seed; the system
    prompt is a system message (chat) or a prefix of the prompt (completions)."""
    params = request.params
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": params.max_new_tokens,
        "temperature": 0.0 if params.greedy else params.temperature,
        "seed": request_seed(request),
    }
    if not params.greedy:
        body["top_p"] = params.top_p
    if api == "chat":
        body["messages"] = request.chat()
    else:
        prefix = f"{params.system_prompt}\n\n" if params.system_prompt else ""
        body["prompt"] = prefix + transcript(request)
    return body


def answer_text(payload: Any, api: Api) -> str:
    """The answer in a response body, stripped as the hf backend strips its answers."""
    try:
        choice = payload["choices"][0]
        text = choice["message"]["content"] if api == "chat" else choice["text"]
    except (KeyError, IndexError, TypeError):
        field = "message.content" if api == "chat" else "text"
        raise BackendError(
            f"the server's answer has no choices[0].{field}: "
            f"{snippet(json.dumps(payload, default=str))}"
        ) from None
    return "" if text is None else str(text).strip()


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """One line of a response body for an error message."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def backoff_seconds(attempt: int, base: float, retry_after: str | None = None) -> float:
    """How long to wait before retry number `attempt` (1-based): `Retry-After` when the
    server gives seconds, else base * 2^(attempt-1), capped at MAX_BACKOFF."""
    if retry_after:
        try:
            return min(max(float(retry_after), 0.0), MAX_BACKOFF)
        except ValueError:
            pass
    return min(base * 2.0 ** (attempt - 1), MAX_BACKOFF)


def is_context_error(status: int, body: str) -> bool:
    """A 400 that says this prompt does not fit: the request's case fails, not the run."""
    lowered = body.lower()
    return status in (400, 413, 422) and any(word in lowered for word in _CONTEXT_WORDS)


def classify(status: int, body: str, url: str, key_env: str) -> BackendError:
    """The error for a failed HTTP status: retryable (429, 5xx), a refused prompt, a
    missing or wrong key (naming the variable to set), or final."""
    where = f"{redact_url(url)} answered HTTP {status}"
    if status in RETRY_STATUSES:
        return ServerError(f"{where}: {snippet(body)}", retry=True)
    if status in AUTH_STATUSES:
        return RequestFailed(
            f"{where} (not authorised): set the environment variable {key_env} to a valid "
            f"API key, or name another with --stab-backend-option api_key_env=NAME; "
            f"server said: {snippet(body)}"
        )
    if is_context_error(status, body):
        return PromptRefused(f"the server refused the prompt ({where}): {snippet(body)}")
    return RequestFailed(f"{where}: {snippet(body)}")


def base_urls(value: str | Sequence[str] | None) -> list[str]:
    """Replica URLs from a comma-separated string or a list; a bare host gets `/v1`."""
    if value is None:
        value = os.environ.get("OPENAI_BASE_URL", "")
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    urls = []
    for item in items:
        url = item.strip().rstrip("/")
        if not url:
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BackendError(
                f"openai backend: base_url {redact_url(url)!r} is not an http(s) URL; "
                "pass e.g. --stab-backend-option base_url=http://127.0.0.1:8000/v1"
            )
        if parts.path in ("", "/"):
            url = urlunsplit((parts.scheme, parts.netloc, "/v1", parts.query, ""))
        urls.append(url)
    if not urls:
        raise BackendError(
            "the openai backend needs the server's URL: --stab-backend-option "
            "base_url=http://HOST:PORT/v1 (several, comma-separated, for replicas), or "
            "set OPENAI_BASE_URL"
        )
    return urls


def _endpoint(base: str, api: Api) -> str:
    parts = urlsplit(base)
    path = parts.path.rstrip("/") + ("/chat/completions" if api == "chat" else "/completions")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class Replicas:
    """Least-busy choice among replica URLs (ties go round-robin); a retry avoids the
    replica that just failed when another exists."""

    def __init__(self, urls: Sequence[str]):
        self.urls = list(urls)
        self.busy = [0] * len(self.urls)
        self._next = 0
        self._lock = threading.Lock()

    def acquire(self, avoid: int | None = None) -> int:
        with self._lock:
            order = [(self._next + i) % len(self.urls) for i in range(len(self.urls))]
            if avoid is not None and len(order) > 1:
                order.remove(avoid)
            chosen = min(order, key=lambda i: self.busy[i])  # first of the least busy
            self.busy[chosen] += 1
            self._next = (chosen + 1) % len(self.urls)
            return chosen

    def release(self, index: int) -> None:
        with self._lock:
            self.busy[index] -= 1


@dataclass(frozen=True)
class _Outcome:
    index: int
    text: str | None = None
    refused: str | None = None


# -- the backend -----------------------------------------------------------------------------


class OpenAIBackend:
    """Answers each request with one HTTP call to an OpenAI-compatible server, up to
    `concurrency` at a time, spread over the replicas in `base_url`."""

    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | Sequence[str] | None = None,
        api: str = "chat",
        concurrency: int = 8,
        timeout: float = 120.0,
        retries: int = 4,
        backoff: float = 0.5,
        api_key_env: str = "OPENAI_API_KEY",
        revision: str = "unversioned",
        reproducible: bool = False,
    ):
        if not model:
            raise BackendError(
                "the openai backend needs the served model's id: --stab-model ID or "
                "--stab-backend-option model=ID (as listed by the server's /v1/models)"
            )
        if api not in ("chat", "completions"):
            raise BackendError(f"openai backend: api must be 'chat' or 'completions', not {api!r}")
        for option, value, least in (("concurrency", concurrency, 1), ("retries", retries, 0)):
            if not isinstance(value, int) or value < least:
                raise BackendError(f"openai backend: {option} must be an integer >= {least}")
        if timeout <= 0 or backoff < 0:
            raise BackendError("openai backend: timeout must be > 0 and backoff >= 0 seconds")
        self.model = str(model)
        self.api: Api = "chat" if api == "chat" else "completions"
        self.urls = base_urls(base_url)
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        self.api_key_env = api_key_env
        self.revision = str(revision)
        self.reproducible = bool(reproducible)
        """Whether the server promises the same sampled answer for the same seed (the
        report says so); greedy answers are assumed deterministic either way."""
        self.replicas = Replicas(self.urls)
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self.sleep: Callable[[float], None] = time.sleep

    def fingerprint(self) -> str:
        """model id + declared revision + API kind: no network, no URL, no key. A changed
        `revision` never reuses old answers."""
        payload = json.dumps([FINGERPRINT_VERSION, self.model, self.revision, self.api])
        return "openai:" + hashlib.sha256(payload.encode()).hexdigest()

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                import httpx

                limits = httpx.Limits(
                    max_connections=self.concurrency, max_keepalive_connections=self.concurrency
                )
                timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))
                self._client = httpx.Client(timeout=timeout, limits=limits, trust_env=False)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _scrub(self, text: str) -> str:
        key = os.environ.get(self.api_key_env)
        return text.replace(key, "***") if key and len(key) >= 4 else text

    def _attempt(self, url: str, body: dict[str, Any]) -> str:
        import httpx

        try:
            response = self._http().post(url, json=body, headers=self._headers())
        except httpx.TimeoutException:
            raise ServerError(
                f"{redact_url(url)} did not answer within {self.timeout:g} s "
                "(raise --stab-backend-option timeout=SECONDS)",
                retry=True,
            ) from None
        except httpx.TransportError as error:
            raise ServerError(
                f"cannot reach {redact_url(url)}: {type(error).__name__}: {snippet(str(error))}",
                retry=True,
            ) from None
        if response.status_code != 200:
            failed = classify(response.status_code, response.text, url, self.api_key_env)
            if isinstance(failed, ServerError):
                failed.retry_after = response.headers.get("retry-after")
            raise failed
        try:
            payload = response.json()
        except ValueError:
            raise BackendError(
                f"{redact_url(url)} answered HTTP 200 with a body that is not JSON: "
                f"{snippet(response.text)}"
            ) from None
        return answer_text(payload, self.api)

    def ask(self, request: GenerationRequest) -> str:
        """One answer, retried on 429, 5xx, timeouts and connection errors with exponential
        backoff; each retry prefers another replica."""
        body = request_body(request, self.model, self.api)
        avoid: int | None = None
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            replica = self.replicas.acquire(avoid)
            url = _endpoint(self.urls[replica], self.api)
            try:
                return self._attempt(url, body)
            except ServerError as error:
                if not error.retry or attempt == attempts:
                    tries = f" after {attempts} attempts" if attempts > 1 else ""
                    raise RequestFailed(self._scrub(f"{error}{tries}")) from None
                delay = backoff_seconds(attempt, self.backoff, error.retry_after)
                avoid = replica
            except BackendError as error:
                raise type(error)(self._scrub(str(error))) from None
            finally:
                self.replicas.release(replica)
            self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _one(self, index: int, request: GenerationRequest, stop: threading.Event) -> _Outcome:
        if stop.is_set():  # another request failed for good: start nothing new
            return _Outcome(index)
        try:
            return _Outcome(index, text=self.ask(request))
        except PromptRefused as refused:
            return _Outcome(index, refused=str(refused))
        except BaseException:
            stop.set()
            raise

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """Answers in request order, `concurrency` requests in flight. When a request
        fails for good, nothing new is started, and the error carries every answer that
        did arrive (`PartialBatch`), so the runner stores them before re-raising; refused
        prompts alone do not stop the batch."""
        if not requests:
            return []
        answers: dict[int, str] = {}
        refused: dict[int, str] = {}
        failure: BaseException | None = None
        workers = min(self.concurrency, len(requests))
        stop = threading.Event()
        with ThreadPoolExecutor(workers, thread_name_prefix="stabtest-openai") as pool:
            futures: list[Future[_Outcome]] = [
                pool.submit(self._one, i, r, stop) for i, r in enumerate(requests)
            ]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                for future in futures:
                    future.cancel()
            for future in futures:
                if future.cancelled():
                    continue
                raised = future.exception()
                if raised is not None:
                    failure = failure or raised
                    continue
                outcome = future.result()
                if outcome.text is not None:
                    answers[outcome.index] = outcome.text
                elif outcome.refused is not None:
                    refused[outcome.index] = outcome.refused
        if failure is not None:
            if not isinstance(failure, BackendError):
                raise failure
            raise PartialBatch(
                f"openai backend: {failure} ({len(answers)} of {len(requests)} answers of "
                "this batch arrived and are kept)",
                answers,
                refused,
            )
        if refused:
            raise PartialBatch("; ".join(refused.values()), answers, refused, failed=False)
        return [answers[i] for i in range(len(requests))]
