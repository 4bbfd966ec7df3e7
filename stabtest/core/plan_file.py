"""A session's generation plan as a file: what `stabtest plan` writes and `stabtest
execute` runs, on this machine or on a Ray cluster.

A plan holds threads, not requests: a thread is the user messages one (variant, sample)
sends, turn by turn. Turn k of a conversation can be asked only once turn k-1 is
answered, so whoever executes the plan answers a thread's turns in order and each turn's
request (`Thread.request`) carries the thread's own earlier answers as history: the
cache keys come out exactly as the session's own plan makes them, and a following run
finds every answer in the cache. A single-turn case is a thread of one turn.

The file is JSON lines, written as a stream and renamed into place when complete: a
header (the model's fingerprint and how to build its backend), one line per thread, one
per text to embed besides the answers (references), one per case the LLM judge grades
(`GradingWork`: each graded turn's question, reference and known answers, with the
threads whose answers it grades, so an executor can ask the judge once the answers are
in), and
a trailer with the counts. A
reader streams it in blocks, so a plan of a million requests never sits in memory; a
file without its trailer was cut short and is refused, naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from stabtest.core.atomic import atomic_writer
from stabtest.core.errors import StabtestError
from stabtest.core.plan import GenerationParams, GenerationRequest

PLAN_FORMAT = 1


class PlanFileError(StabtestError):
    """A plan file cannot be read; the message names the file and the line."""

    def __init__(self, path: Path, message: str, line: int | None = None):
        where = str(path) if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Thread:
    """The user messages of one (variant, sample), with its decoding params and seed."""

    messages: tuple[str, ...]
    params: GenerationParams
    seed: int = 0
    sample: int = 0

    def request(self, answers: Sequence[str]) -> GenerationRequest:
        """The request of turn `len(answers)`: its message, the earlier turns and their
        `answers` as history."""
        turn = len(answers)
        history = tuple(zip(self.messages[:turn], answers, strict=True))
        return GenerationRequest(self.messages[turn], self.params, self.seed, self.sample, history)

    @property
    def identity(self) -> bytes:
        """Equal for threads that get the same answers: a greedy decode ignores seed and
        sample, as its cache keys do."""
        sampled = [] if self.params.greedy else [self.seed, self.sample]
        payload = json.dumps([self.messages, self.params.as_dict(), sampled], sort_keys=True)
        return hashlib.blake2b(payload.encode(), digest_size=16).digest()


@dataclass(frozen=True)
class Grading:
    """What the LLM judge reads of a case (turn): the question, the reference and the
    answers known to be right or wrong."""

    question: str
    reference: str
    aliases: tuple[str, ...] = ()
    incorrect: tuple[str, ...] = ()


@dataclass(frozen=True)
class GradingWork:
    """A case's turns to grade: at each (turn, grading), that turn's answer of every
    thread, asked of the judge with `params` (the judge's requests are known once those
    answers are). The threads are listed once however many of their turns are graded."""

    turns: tuple[tuple[int, Grading], ...]
    params: GenerationParams
    threads: tuple[Thread, ...]

    @property
    def answers(self) -> int:
        """The answers it grades: one judge request each, before deduplication."""
        return len(self.turns) * len(self.threads)


@dataclass(frozen=True)
class PlanHeader:
    """What an executor needs besides the threads: the model and where answers go."""

    fingerprint: str
    backend: str
    model: str | None
    backend_options: dict[str, Any] = field(default_factory=dict)
    embedder: str = "minilm"
    cache_dir: str = ".stabtest"
    """Absolute: the executor may run from another directory."""
    seed: int = 0
    judge: dict[str, Any] | None = None
    """The LLM judge's model (fingerprint, backend, model, backend_options) when the plan
    holds grading work; None when no selected case is graded."""

    def judge_header(self) -> PlanHeader | None:
        """A header for the judge's model: its workers answer the grading requests."""
        if self.judge is None:
            return None
        return replace(
            self,
            fingerprint=str(self.judge["fingerprint"]),
            backend=str(self.judge["backend"]),
            model=self.judge.get("model"),
            backend_options=dict(self.judge.get("backend_options") or {}),
            judge=None,
        )


@dataclass(frozen=True)
class PlanCounts:
    """The trailer: what the plan holds (progress totals, and proof it is complete)."""

    threads: int = 0
    requests: int = 0
    texts: int = 0
    gradings: int = 0
    """Answers the LLM judge grades (one request each, before deduplication)."""


def _line(data: object) -> bytes:
    return (json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


def _thread_line(thread: Thread) -> dict[str, Any]:
    return {
        "m": list(thread.messages),
        "p": thread.params.as_dict(),
        "s": thread.seed,
        "n": thread.sample,
    }


def write_plan(
    path: Path,
    header: PlanHeader,
    threads: Iterable[Thread],
    texts: Iterable[str] = (),
    gradings: Iterable[GradingWork] = (),
) -> PlanCounts:
    """Stream the plan to `path` (atomically): threads deduplicated by `identity`, in
    first-seen order, then the texts to embed, deduplicated, then the grading work."""
    seen: set[bytes] = set()
    counts = {"threads": 0, "requests": 0, "texts": 0, "gradings": 0}
    with atomic_writer(path) as out:
        out.write(_line({"stabtest_plan": PLAN_FORMAT, **asdict(header)}))
        for thread in threads:
            if thread.identity in seen:
                continue
            seen.add(thread.identity)
            counts["threads"] += 1
            counts["requests"] += len(thread.messages)
            out.write(_line(_thread_line(thread)))
        for text in dict.fromkeys(texts):
            counts["texts"] += 1
            out.write(_line({"e": text}))
        for work in gradings:
            counts["gradings"] += work.answers
            turns = [{**asdict(grading), "turn": turn} for turn, grading in work.turns]
            asked = [_thread_line(t) for t in work.threads]
            out.write(_line({"j": turns, "p": work.params.as_dict(), "t": asked}))
        out.write(_line({"end": counts}))
    return PlanCounts(**counts)


def _parse(path: Path, number: int, raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise PlanFileError(path, f"not a JSON line ({error})", number) from None
    if not isinstance(data, dict):
        raise PlanFileError(path, "expected a JSON object", number)
    return data


def read_header(path: Path) -> PlanHeader:
    """The plan's header; a file that is not a stabtest plan says so."""
    try:
        with path.open("rb") as handle:
            first = handle.readline()
    except OSError as error:
        raise PlanFileError(path, f"cannot read the plan ({error.strerror})") from None
    data = _parse(path, 1, first)
    version = data.pop("stabtest_plan", None)
    if version != PLAN_FORMAT:
        raise PlanFileError(
            path,
            f"not a stabtest plan of format {PLAN_FORMAT} (found {version!r}); "
            "write it again with `stabtest plan`",
            1,
        )
    try:
        return PlanHeader(**data)
    except TypeError as error:
        raise PlanFileError(path, f"bad header ({error})", 1) from None


def read_counts(path: Path) -> PlanCounts:
    """The trailer, read from the file's end (cheap: the totals before streaming)."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - 4096))
        last = handle.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    data = _parse(path, 0, last) if last else {}
    if "end" not in data:
        raise PlanFileError(path, "the plan is incomplete (no trailer): write it again")
    try:
        return PlanCounts(**data["end"])
    except TypeError as error:
        raise PlanFileError(path, f"bad trailer ({error})") from None


def _thread(path: Path, number: int, data: dict[str, Any]) -> Thread:
    try:
        messages = tuple(str(m) for m in data["m"])
        if not messages:
            raise ValueError("a thread needs one message or more")
        return Thread(messages, GenerationParams(**data["p"]), int(data["s"]), int(data["n"]))
    except (KeyError, TypeError, ValueError) as error:
        raise PlanFileError(path, f"bad thread ({error})", number) from None


def _grading(path: Path, number: int, data: dict[str, Any]) -> GradingWork:
    try:
        turns = tuple(
            (
                int(spec["turn"]),
                Grading(
                    str(spec["question"]),
                    str(spec["reference"]),
                    tuple(str(a) for a in spec.get("aliases", ())),
                    tuple(str(x) for x in spec.get("incorrect", ())),
                ),
            )
            for spec in data["j"]
        )
        threads = tuple(_thread(path, number, t) for t in data["t"])
        return GradingWork(turns, GenerationParams(**data["p"]), threads)
    except (KeyError, TypeError, ValueError) as error:
        raise PlanFileError(path, f"bad grading ({error})", number) from None


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The body's lines (number, object), streamed; raises PlanFileError at a bad line,
    or at the end of a file cut short."""
    read_header(path)
    with path.open("rb") as handle:
        handle.readline()
        number, ended = 1, False
        for raw in handle:
            number += 1
            data = _parse(path, number, raw)
            if "end" in data:
                ended = True
                break
            yield number, data
    if not ended:
        raise PlanFileError(path, "the plan is incomplete (no trailer): write it again", number)


def iter_plan(path: Path) -> Iterator[Thread | str]:
    """The threads, then the texts to embed, streamed (the grading work is skipped)."""
    for number, data in _lines(path):
        if "e" in data:
            yield str(data["e"])
        elif "j" not in data:
            yield _thread(path, number, data)


def iter_gradings(path: Path) -> Iterator[GradingWork]:
    """The grading work, streamed (asked once the threads are answered)."""
    for number, data in _lines(path):
        if "j" in data:
            yield _grading(path, number, data)


def blocks(items: Iterable[Thread | str], size: int) -> Iterator[tuple[list[Thread], list[str]]]:
    """(threads, texts) blocks of at most `size` requests (a thread counts its turns),
    streamed: the executor's unit of work, and of what a crash can lose."""
    threads: list[Thread] = []
    texts: list[str] = []
    requests = 0
    for item in items:
        if isinstance(item, str):
            texts.append(item)
            requests += 1
        else:
            threads.append(item)
            requests += len(item.messages)
        if requests >= size:
            yield threads, texts
            threads, texts, requests = [], [], 0
    if threads or texts:
        yield threads, texts
