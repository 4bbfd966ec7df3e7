"""A block of a plan file's threads: what is cached already, and answering the rest.

The executor's unit of work (`stabtest execute`, locally or in a Ray actor). Each thread
is asked turn by turn, every turn of every thread in the block batched together, so a
block of conversations costs one batched plan per turn, as the session's own execution
does; and the keys are the session's (`Thread.request`), so the run that follows finds
every answer in the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from stabtest.core.plan import GenerationPlan, GenerationRequest
from stabtest.core.plan_file import Thread
from stabtest.generation.backend import Backend

Row = tuple[str, GenerationRequest, str]
"""(cache key, request, answer): what the cache stores."""
Lookup = Callable[[Sequence[str]], dict[str, str]]
"""Stored answers for those keys that have one (`Cache.get_many`)."""


@dataclass(frozen=True)
class Pending:
    """A thread with the answers of its first turns, known already."""

    thread: Thread
    answers: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return len(self.answers) == len(self.thread.messages)

    def next_request(self) -> GenerationRequest:
        return self.thread.request(self.answers)


@dataclass
class Block:
    """What answering a block produced: new rows for the cache, the prompts the backend
    refused (key -> why), and the time it took; `error` when the backend failed part
    way (the rows before it are still good)."""

    rows: list[Row] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None


def _turns(
    pending: Iterable[Pending], fingerprint: str
) -> tuple[list[tuple[Pending, str]], dict[str, GenerationRequest]]:
    """The pending threads with a turn to ask, each with that turn's key, and the turns'
    requests by key (each key made once: it hashes the whole history)."""
    asking: list[tuple[Pending, str]] = []
    requests: dict[str, GenerationRequest] = {}
    for p in pending:
        if not p.done:
            request = p.next_request()
            key = request.key(fingerprint)
            asking.append((p, key))
            requests[key] = request
    return asking, requests


def follow_cached(
    threads: Iterable[Thread], fingerprint: str, lookup: Lookup
) -> tuple[list[Pending], dict[str, str]]:
    """Follow each thread through the cache turn by turn: returns every thread with the
    answers the cache holds of its first turns (all of them when `done`), and the
    cached answers met on the way (key -> text: the texts to embed)."""
    found: dict[str, str] = {}
    pending = [Pending(thread) for thread in threads]
    settled: list[Pending] = []
    while pending:
        settled += [p for p in pending if p.done]
        asking, requests = _turns(pending, fingerprint)
        known = lookup(list(requests))
        found.update(known)
        pending = []
        for p, key in asking:
            text = known.get(key)
            if text is None:
                settled.append(p)
            else:
                pending.append(Pending(p.thread, (*p.answers, text)))
    return settled, found


def resolve_cached(
    threads: Iterable[Thread], fingerprint: str, lookup: Lookup
) -> tuple[list[Pending], dict[str, str]]:
    """`follow_cached`, keeping only the threads that still need a turn answered."""
    settled, found = follow_cached(threads, fingerprint, lookup)
    return [p for p in settled if not p.done], found


def answer_pending(
    backend: Backend, fingerprint: str, pending: Sequence[Pending], batch_size: int | None
) -> Block:
    """Ask each pending thread's remaining turns, round by round: round k batches the
    next turn of every thread that has one (deduplicated by key), and carries its answer
    into the thread's next turn. A refused prompt ends its thread; a failing backend
    ends the block with what was answered before it."""
    from stabtest.generation.runner import run_plan

    started = time.perf_counter()
    block = Block()
    while pending:
        asking, requests = _turns(pending, fingerprint)
        if not requests:
            break
        plan = GenerationPlan(fingerprint, requests)
        try:
            texts = run_plan(plan, backend, None, batch_size=batch_size, refused=block.refused)
        except Exception as error:  # stored by the caller, then raised there
            block.error = f"{type(error).__name__}: {error}"
            break
        block.rows += [(key, requests[key], text) for key, text in texts.items()]
        pending = [Pending(p.thread, (*p.answers, texts[key])) for p, key in asking if key in texts]
    block.seconds = time.perf_counter() - started
    return block
