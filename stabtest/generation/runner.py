"""Run a whole generation plan: cached answers first, the rest in batches.

Each finished batch is written to the cache before the next starts, so an interrupted
run loses at most one batch, and the backend is never touched (nor torch imported) when
every answer is already cached.
"""

from __future__ import annotations

from collections.abc import Callable

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationPlan, GenerationRequest, batches
from stabtest.generation.backend import (
    Backend,
    PartialBatch,
    prompt_lengths,
    prompt_problems,
    requests_per_call,
)
from stabtest.generation.cache import Cache

OnBatch = Callable[[int, int], None]


def storable(text: object) -> str:
    """The answer as text that can be stored, hashed and printed: a lone surrogate (a
    backend that split a UTF-16 pair) becomes U+FFFD, so one bad answer costs its own
    characters, never its batch's good answers."""
    if not isinstance(text, str):
        raise BackendError(f"a backend answered {type(text).__name__}, not text: {text!r:.80}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _keep_partial(
    partial: PartialBatch,
    batch: list[tuple[str, GenerationRequest]],
    cache: Cache | None,
    fingerprint: str,
    found: dict[str, str],
) -> int:
    """Store the answers a failing batch did get, so a rerun resumes after them; returns
    how many."""
    rows = [
        (batch[i][0], batch[i][1], storable(text))
        for i, text in sorted(partial.answers.items())
        if 0 <= i < len(batch)
    ]
    if cache is not None and rows:
        cache.put_many(rows, fingerprint)
    found.update((key, text) for key, _, text in rows)
    return len(rows)


def run_plan(
    plan: GenerationPlan,
    backend: Backend,
    cache: Cache | None,
    *,
    batch_size: int | None,
    no_cache: bool = False,
    on_batch: OnBatch | None = None,
    refused: dict[str, str] | None = None,
) -> dict[str, str]:
    """key -> answer text for every request of the plan, in plan order, except those the
    backend refuses to generate (prompt beyond its context): they go to `refused` as key
    -> reason (when no dict is given, the first refusal is raised as a BackendError).

    `no_cache` regenerates every request (the new answers still replace the stored ones).
    `on_batch(done, total)` is called once before generating (done = 0) and after each
    generated batch, with the number of requests generated so far and the number that had
    to be generated.
    """
    if batch_size is not None and batch_size < 1:
        raise BackendError(f"batch_size must be at least 1, got {batch_size}")
    found: dict[str, str] = {}
    if cache is not None and not no_cache:
        found = cache.get_many(plan.requests)
    missing = plan.missing(set(found))
    problems = prompt_problems(backend, [request for _, request in missing])
    refusals = {key: why for (key, _), why in zip(missing, problems, strict=True) if why}
    if refusals and refused is None:
        raise BackendError(next(iter(refusals.values())))
    if refusals:
        assert refused is not None
        refused.update(refusals)
        missing = [(key, request) for key, request in missing if key not in refusals]
    done = 0
    if on_batch is not None:
        on_batch(0, len(missing))
    if batch_size is None:  # auto: the backend's own size, asked only when it must work
        batch_size = requests_per_call(backend) if missing else 1
    measured = prompt_lengths(backend, [request for _, request in missing])
    lengths = {key: length for (key, _), length in zip(missing, measured, strict=True)}
    for batch in batches(missing, batch_size, lengths):
        try:
            texts = backend.generate([request for _, request in batch])
        except PartialBatch as partial:
            done += _keep_partial(partial, batch, cache, plan.fingerprint, found)
            if on_batch is not None:
                on_batch(done, len(missing))
            if partial.failed or refused is None:
                raise
            refused.update((batch[i][0], why) for i, why in partial.refused.items())
            continue
        if len(texts) != len(batch):
            raise BackendError(
                f"backend {backend.name!r} returned {len(texts)} answers for a batch of "
                f"{len(batch)} requests"
            )
        rows = [
            (key, request, storable(text))
            for (key, request), text in zip(batch, texts, strict=True)
        ]
        if cache is not None:
            cache.put_many(rows, plan.fingerprint)
        found.update((key, text) for key, _, text in rows)
        done += len(batch)
        if on_batch is not None:
            on_batch(done, len(missing))
    return {key: found[key] for key in plan.requests if key in found}
