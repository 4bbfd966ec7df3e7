"""The Backend protocol and the name -> backend registry.

A backend is named on the command line (`--stab-backend hf`), so the registry maps names
to "module:attr" strings and imports a backend only when it is chosen: picking the fake
backend must not import torch. Third-party backends register under the entry-point group
`stabtest.backends`, or are spelled directly as "package.module:attr".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationRequest
from stabtest.core.registry import Registry

ENTRY_POINT_GROUP = "stabtest.backends"

BUILTIN_BACKENDS: dict[str, str] = {
    "hf": "stabtest.generation.hf:HFBackend",
    "fake": "stabtest.generation.fake:FakeBackend",
    "openai": "stabtest.generation.openai_backend:OpenAIBackend",
    "vllm": "stabtest.generation.vllm_backend:VLLMBackend",
}


class PartialBatch(BackendError):
    """Raised by `generate` when only some requests of a batch were answered: `answers`
    and `refused` (request index -> text / why its prompt was refused) are what did come
    back. The runner stores the answers before re-raising, so a remote server failing
    mid-batch costs only the unanswered requests. With `failed` False nothing broke: the
    refused prompts fail their own cases and the run goes on."""

    def __init__(
        self,
        message: str,
        answers: dict[int, str],
        refused: dict[int, str] | None = None,
        *,
        failed: bool = True,
    ):
        super().__init__(message)
        self.answers = answers
        self.refused = refused or {}
        self.failed = failed


@runtime_checkable
class Backend(Protocol):
    """Answers one batch of requests. `fingerprint` is part of every cache key, so it must
    change whenever the answers could (other weights, other decoding code) and must be
    cheap: a fully cached rerun calls it and nothing else.

    Optional methods, looked up by name (see the functions below): `prompt_problems(requests)`
    says before generating which requests it cannot answer (a prompt beyond the context: it
    fails its own case only); `requests_per_call()` how many requests it answers best in
    one call (asked only when something is generated); `prompt_lengths(requests)` each
    prompt's length in its own units, so the plan pads like lengths together."""

    name: str

    def fingerprint(self) -> str: ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]: ...


DEFAULT_REQUESTS_PER_CALL = 64
"""Requests handed to a backend per `generate` call when the batch size is `auto` and the
backend names no size of its own (a `requests_per_call()` method)."""


def requests_per_call(backend: Backend) -> int:
    """The backend's own call size, or `DEFAULT_REQUESTS_PER_CALL`."""
    size = getattr(backend, "requests_per_call", None)
    chosen = DEFAULT_REQUESTS_PER_CALL if size is None else int(size())
    if chosen < 1:
        raise BackendError(f"backend {backend.name!r} asked for {chosen} requests per call")
    return chosen


def prompt_lengths(backend: Backend, requests: Sequence[GenerationRequest]) -> list[int]:
    """The backend's measure of each prompt, or its characters when it has none."""
    measure = getattr(backend, "prompt_lengths", None)
    if measure is None:
        return [request.length for request in requests]
    lengths = list(measure(requests))
    if len(lengths) != len(requests):
        raise BackendError(
            f"backend {backend.name!r} measured {len(lengths)} of {len(requests)} prompts"
        )
    return lengths


def prompt_problems(backend: Backend, requests: Sequence[GenerationRequest]) -> list[str | None]:
    """The backend's screening of `requests`, or no problems when it has none."""
    screen = getattr(backend, "prompt_problems", None)
    if screen is None or not requests:
        return [None] * len(requests)
    problems = list(screen(requests))
    if len(problems) != len(requests):
        raise BackendError(
            f"backend {backend.name!r} screened {len(problems)} of {len(requests)} requests"
        )
    return problems


BACKENDS: Registry[Callable[..., Any]] = Registry(
    "backend",
    BUILTIN_BACKENDS,
    group=ENTRY_POINT_GROUP,
    targets=True,
    error=BackendError,
    hint=(
        ". Pass 'package.module:attr' to use a class directly, or register one under the "
        f"entry-point group {ENTRY_POINT_GROUP!r} in your pyproject.toml: "
        f'[project.entry-points."{ENTRY_POINT_GROUP}"] mine = "mypkg.backend:MyBackend"'
    ),
)
"""Backend factories by name: the built-ins, then the entry points (never shadowing one)."""


def available_backends() -> dict[str, str]:
    """Every name `resolve_backend` accepts besides "module:attr", with its target."""
    return {name: BACKENDS.target(name) or name for name in BACKENDS.names()}


def _accepted(factory: Callable[..., Any], name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Options the factory takes. Options left at None mean "not set" and are dropped when
    the factory has no such parameter, so generic settings (like `model`) can be passed to
    every backend; a real value the backend cannot take is an error, not silently lost."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return options
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return options
    kept = {k: v for k, v in options.items() if k in params or v is not None}
    unknown = sorted(set(kept) - set(params))
    if unknown:
        allowed = ", ".join(p for p in params if p != "self") or "none"
        raise BackendError(
            f"backend {name!r} does not accept option(s) {', '.join(unknown)}; "
            f"it accepts: {allowed}"
        )
    return kept


def resolve_backend(name: str, **options: Any) -> Backend:
    """Build the backend called `name` (builtin, entry point, or "module:attr")."""
    factory = BACKENDS.load(name)
    backend = factory(**_accepted(factory, name, options))
    if not isinstance(backend, Backend):
        raise BackendError(
            f"backend {name!r} built a {type(backend).__name__}, which lacks the Backend "
            "interface (name, fingerprint(), generate(requests))"
        )
    return backend


def configured_backend(
    name: str, model: str | None, options: dict[str, Any], batch_size: int | None
) -> Backend:
    """The backend a session's settings (or a plan file's header) describe: `model` and
    the `--stab-backend-option`s, and for hf the batch size it pads to."""
    chosen = {"model": model, **options}
    if name == "hf":
        chosen.setdefault("batch_size", batch_size)
    return resolve_backend(name, **chosen)
