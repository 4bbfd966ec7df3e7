"""`stabtest execute`: stream a plan file's blocks to workers and fill the cache.

The driver reads the plan a block at a time, follows each thread through the cache
(`resolve_cached`: nothing already answered is asked again, so an interrupted execution
resumes where it stopped), hands what is left to the workers and stores each block as it
comes back, before reading more than the workers can hold. Its memory is a few blocks,
whatever the plan's size. The answers, then the plan's reference texts, are embedded in
chunks by the judges' embedder and stored too: the run that follows finds every answer
and every vector in the cache and only judges and gates.

When the plan grades answers with the LLM judge, a second pass follows: each graded
answer, read back from the cache, becomes the judge's request (the prompt the judge
itself would build), asked of the judge's model through the same workers (or workers of
its own when it is another model) and stored under its fingerprint, so the run that
follows asks the judge nothing either.

A failing worker (the backend raised, Ray gave up on an actor) stops the reading; what is
in flight is still stored, then the error is raised saying that a rerun resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stabtest.core.errors import StabtestError
from stabtest.core.plan_file import (
    GradingWork,
    PlanHeader,
    Thread,
    blocks,
    iter_gradings,
    iter_plan,
    read_counts,
    read_header,
)
from stabtest.core.progress import Progress
from stabtest.generation.cache import Cache
from stabtest.generation.threads import Block, Lookup, Pending, follow_cached, resolve_cached
from stabtest.scale.workers import Handle, LocalWorkers, WorkerFailed, Workers

if TYPE_CHECKING:
    from stabtest.core.settings import Settings

EMBED_CHUNK = 2048
"""Texts per embedding task: large enough to batch well, small enough to stream."""


class ExecuteError(StabtestError):
    """A worker failed; what was answered before is stored, and a rerun resumes."""


@dataclass
class ExecuteSummary:
    """What an execution did, for the terminal table and `--json`."""

    plan: str
    engine: str
    workers: int
    threads: int = 0
    requests: int = 0
    """In the plan: every turn of every thread."""
    cached: int = 0
    """Answers found in the cache (a rerun: all of them)."""
    generated: int = 0
    refused: int = 0
    """Prompts the backend refuses (beyond its context): the run reports them."""
    embedded: int = 0
    embeddings_cached: int = 0
    gradings: int = 0
    """In the plan: answers the LLM judge grades (before deduplication)."""
    grades_cached: int = 0
    graded: int = 0
    """The judge's requests answered (a rerun: none)."""
    seconds: float = 0.0
    worker_seconds: float = 0.0
    """Time the workers spent answering, summed (above `seconds` when they overlap)."""

    @property
    def requests_per_second(self) -> float:
        """Requests answered (the model's and the LLM judge's) per second of the whole
        execution."""
        answered = self.generated + self.graded
        return answered / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["worker_seconds"] = round(self.worker_seconds, 3)
        data["requests_per_second"] = round(self.requests_per_second, 1)
        return data


class _Driver:
    """One execution's state: the cache, the work in flight, the texts to embed."""

    def __init__(
        self,
        header: PlanHeader,
        workers: Workers,
        cache: Cache,
        summary: ExecuteSummary,
        progress: Progress | None,
        *,
        grading: bool = False,
    ):
        self.grading = grading
        """Answering the judge's requests: counted as `graded`, not embedded."""
        self.header = header
        self.workers = workers
        self.cache = cache
        self.summary = summary
        self.progress = progress
        self.in_flight: dict[Handle, Sequence[str] | None] = {}
        """Handle -> the texts it embeds (None: a block of threads)."""
        self.texts: dict[str, None] = {}
        self.embedder_fingerprint: str | None = None
        self.errors: list[str] = []

    def submit_block(self, pending: Sequence[Pending]) -> None:
        self.in_flight[self.workers.answer(pending)] = None
        self._keep_within_capacity()

    def queue_texts(self, texts: Iterable[str], *, flush: bool = False) -> None:
        """Embed texts in chunks; each chunk skips what the cache holds already."""
        self.texts.update(dict.fromkeys(texts))
        while len(self.texts) >= EMBED_CHUNK or (flush and self.texts):
            chunk = list(self.texts)[:EMBED_CHUNK]
            for text in chunk:
                del self.texts[text]
            if self.embedder_fingerprint is None:
                self.embedder_fingerprint = self.workers.embedder_fingerprint()
            stored = self.cache.get_embeddings(self.embedder_fingerprint, chunk)
            self.summary.embeddings_cached += len(stored)
            missing = [text for text in chunk if text not in stored]
            if missing:
                self.in_flight[self.workers.embed(missing)] = missing
                self._keep_within_capacity()

    def _keep_within_capacity(self) -> None:
        while len(self.in_flight) > self.workers.capacity:
            self.collect_one()

    def collect_one(self) -> None:
        """Store the first result to finish; a failed one is noted, not raised, so
        the rest in flight is still stored."""
        try:
            handle, result = self.workers.wait(list(self.in_flight))
        except WorkerFailed as failed:
            self.in_flight.pop(failed.handle, None)
            self.errors.append(failed.reason)
            return
        texts = self.in_flight.pop(handle)
        if texts is None:
            assert isinstance(result, Block)
            self._store_block(result)
        else:
            assert not isinstance(result, Block)
            assert self.embedder_fingerprint is not None
            self.cache.put_embeddings(
                self.embedder_fingerprint, dict(zip(texts, result, strict=True))
            )
            self.summary.embedded += len(texts)
            self.report("embedding", self.summary.embedded)

    def _store_block(self, block: Block) -> None:
        self.cache.put_many(block.rows, self.header.fingerprint)
        self.summary.refused += len(block.refused)
        self.summary.worker_seconds += block.seconds
        if block.error is not None:
            self.errors.append(block.error)
        if self.grading:
            self.summary.graded += len(block.rows)
            self.report("grading", self.summary.grades_cached + self.summary.graded)
            return
        self.summary.generated += len(block.rows)
        self.report("generating", self.summary.cached + self.summary.generated)
        self.queue_texts(text for _, _, text in block.rows)

    def report(self, stage: str, done: int) -> None:
        if self.progress is not None:
            totals = {"generating": self.summary.requests, "grading": self.summary.gradings}
            total = totals.get(stage, done)
            self.progress(stage, min(done, total), total)

    def drain(self) -> None:
        while self.in_flight:
            self.collect_one()


def start_workers(header: PlanHeader, settings: Settings) -> Workers:
    """The engine `--engine` names, holding the plan's backend."""
    if settings.engine == "ray":
        from stabtest.scale.ray_workers import RayWorkers

        return RayWorkers(header, settings)
    return LocalWorkers(header, settings.batch_size)


def execute_plan(
    path: Path,
    workers: Workers,
    *,
    engine: str,
    block_size: int,
    cache_path: Path | None = None,
    progress: Progress | None = None,
    header: PlanHeader | None = None,
) -> ExecuteSummary:
    """Answer and embed everything `path` plans that the cache lacks (not the grading:
    `grade_plan`); returns the counts. `cache_path`: the cache file (default: the one
    under the plan's cache dir); `header`: the plan's, with the caller's changes (the
    workers were built from it)."""
    header = header or read_header(path)
    counts = read_counts(path)
    summary = ExecuteSummary(
        str(path),
        engine,
        workers.size,
        threads=counts.threads,
        requests=counts.requests,
        gradings=counts.gradings,
    )
    cache = Cache(cache_path or Path(header.cache_dir) / "cache.sqlite")
    driver = _Driver(header, workers, cache, summary, progress)

    def feed() -> None:
        for threads, texts in blocks(iter_plan(path), block_size):
            if driver.errors:
                break
            pending, found = resolve_cached(threads, header.fingerprint, cache.get_many)
            summary.cached += len(found)
            if pending:
                driver.submit_block(pending)
            else:
                driver.report("generating", summary.cached + summary.generated)
            driver.queue_texts([*found.values(), *texts])
        driver.drain()
        if not driver.errors:
            driver.queue_texts((), flush=True)

    _drive(path, driver, feed)
    return summary


def _drive(path: Path, driver: _Driver, feed: Callable[[], None]) -> None:
    """Run `feed`, then store everything in flight, even after an interrupt or a bad
    plan line; a worker's failure is raised once what was answered is stored."""
    started = time.perf_counter()
    try:
        feed()
    finally:
        try:
            driver.drain()
        finally:
            driver.summary.seconds += time.perf_counter() - started
            driver.cache.close()
    if driver.errors:
        summary = driver.summary
        done = summary.graded if driver.grading else summary.generated
        raise ExecuteError(
            f"executing {path} failed: {driver.errors[0]}; the {done} answers generated "
            f"before it are stored in {driver.cache.path}: run `stabtest execute` again "
            "to resume (nothing answered is asked again)"
        )


def _grading_blocks(works: Iterable[GradingWork], size: int) -> Iterator[list[GradingWork]]:
    """Grading work in blocks of about `size` answers to grade."""
    block: list[GradingWork] = []
    answers = 0
    for work in works:
        block.append(work)
        answers += work.answers
        if answers >= size:
            yield block
            block, answers = [], 0
    if block:
        yield block


def grading_threads(works: Iterable[GradingWork], fingerprint: str, lookup: Lookup) -> list[Thread]:
    """The judge's request for each graded answer the cache holds (under the model's
    `fingerprint`), as one-turn threads, deduplicated; an answer never generated (a
    refused prompt) is not graded, as the run does not grade it."""
    from stabtest.annotators.llm_judge import grading_prompt

    out: dict[bytes, Thread] = {}
    for work in works:
        followed, _ = follow_cached(work.threads, fingerprint, lookup)  # once per case
        for turn, grading in work.turns:
            for p in followed:
                if len(p.answers) <= turn:
                    continue
                history = tuple(zip(p.thread.messages[:turn], p.answers[:turn], strict=True))
                ask = Thread((grading_prompt(grading, p.answers[turn], history),), work.params)
                out.setdefault(ask.identity, ask)
    return list(out.values())


def grade_plan(
    path: Path,
    workers: Workers,
    summary: ExecuteSummary,
    judge: PlanHeader,
    *,
    block_size: int,
    cache_path: Path | None = None,
    progress: Progress | None = None,
) -> ExecuteSummary:
    """Ask the judge's model (`judge`: `PlanHeader.judge_header`; `workers` hold it) for
    every grading the plan holds and the cache lacks, once `execute_plan` stored the
    answers (read under the plan's own fingerprint); adds to `summary`."""
    header = read_header(path)
    cache = Cache(cache_path or Path(header.cache_dir) / "cache.sqlite")
    driver = _Driver(judge, workers, cache, summary, progress, grading=True)

    def feed() -> None:
        for works in _grading_blocks(iter_gradings(path), block_size):
            if driver.errors:
                break
            asks = grading_threads(works, header.fingerprint, cache.get_many)
            pending, found = resolve_cached(asks, judge.fingerprint, cache.get_many)
            summary.grades_cached += len(found)
            if pending:
                driver.submit_block(pending)

    _drive(path, driver, feed)
    return summary


def run_plan(
    path: Path,
    settings: Settings,
    *,
    header: PlanHeader | None = None,
    judge: PlanHeader | None = None,
    cache_path: Path | None = None,
    progress: Progress | None = None,
) -> ExecuteSummary:
    """`stabtest execute`: the plan answered and embedded, then graded, on the engine
    the settings name. The judge's model shares the workers when it is the model under
    test, else gets its own once the model's workers are gone (on a GPU cluster both
    would not fit). `header` / `judge`: the plan's, with the caller's changes."""
    header = header or read_header(path)
    judge = judge or header.judge_header()
    block_size = settings.block_size
    workers = start_workers(header, settings)
    try:
        summary = execute_plan(
            path,
            workers,
            engine=settings.engine,
            block_size=block_size,
            cache_path=cache_path,
            progress=progress,
            header=header,
        )
        if judge is None:
            return summary
        if judge.fingerprint == header.fingerprint:
            return grade_plan(  # the same model: its workers answer the judge too
                path,
                workers,
                summary,
                header,
                block_size=block_size,
                cache_path=cache_path,
                progress=progress,
            )
    finally:
        workers.close()
    judging = start_workers(judge, settings)
    try:
        return grade_plan(
            path,
            judging,
            summary,
            judge,
            block_size=block_size,
            cache_path=cache_path,
            progress=progress,
        )
    finally:
        judging.close()
