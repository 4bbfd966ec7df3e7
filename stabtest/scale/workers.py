"""Who answers a plan's blocks: the `Workers` protocol, the work each worker holds, and
the in-process engine (`--engine local`).

A worker holds one backend (one model copy, built on its first block) and answers whole
blocks; an embedder worker embeds texts. The same two classes run in this process or,
wrapped by `ray.remote`, as Ray actors (`scale.ray_workers`): one code path, so a plan
answered on Ray gives the answers and keys the local engine gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from stabtest.core.errors import BackendError
from stabtest.core.plan_file import PlanHeader
from stabtest.generation.threads import Block, Pending, answer_pending

if TYPE_CHECKING:
    from stabtest.core.embedding import Embedder, Vectors
    from stabtest.generation.backend import Backend


class BlockAnswerer:
    """One backend, answering blocks of pending threads."""

    def __init__(self, header: PlanHeader, batch_size: int | None):
        self.header = header
        self.batch_size = batch_size
        self._backend: Backend | None = None

    @property
    def backend(self) -> Backend:
        """Built on the first block; refuses a model that changed since the plan."""
        if self._backend is None:
            from stabtest.generation.backend import configured_backend

            header = self.header
            backend = configured_backend(
                header.backend, header.model, header.backend_options, self.batch_size
            )
            found = backend.fingerprint()
            if found != header.fingerprint:
                raise BackendError(
                    f"the fingerprint of {header.backend} model {header.model or '(default)'} "
                    f"is {found}, the plan was written for {header.fingerprint}: the model "
                    "changed since `stabtest plan`; write the plan again"
                )
            self._backend = backend
        return self._backend

    def answer(self, pending: Sequence[Pending]) -> Block:
        return answer_pending(self.backend, self.header.fingerprint, pending, self.batch_size)


class TextEmbedder:
    """The judges' embedder, embedding texts the cache lacks."""

    def __init__(self, name: str):
        from stabtest.generation.embedder import resolve_embedder

        self._embedder: Embedder = resolve_embedder(name)

    def fingerprint(self) -> str:
        return self._embedder.fingerprint()

    def encode(self, texts: Sequence[str]) -> Vectors:
        return self._embedder.encode(list(texts))


Handle = object
"""A unit of work in flight: what `Workers.answer` / `Workers.embed` return."""


class WorkerFailed(Exception):
    """The work of `handle` failed for good (`reason`); the rest in flight goes on."""

    def __init__(self, handle: Handle, reason: str):
        super().__init__(reason)
        self.handle = handle
        self.reason = reason


class Workers(Protocol):
    """An engine: takes blocks and texts, gives back results as they finish."""

    size: int
    """Answerers: model copies working at once."""
    capacity: int
    """Units in flight before the driver waits: what bounds its memory."""

    def answer(self, pending: Sequence[Pending]) -> Handle: ...

    def embed(self, texts: Sequence[str]) -> Handle: ...

    def embedder_fingerprint(self) -> str: ...

    def wait(self, handles: Sequence[Handle]) -> tuple[Handle, Block | Vectors]:
        """The first of `handles` to finish, with its result; WorkerFailed if it failed."""
        ...

    def close(self) -> None: ...


class LocalWorkers:
    """`--engine local`: one answerer and one embedder in this process; work is done
    when handed in (the driver stores each block before reading the next)."""

    size = capacity = 1

    def __init__(self, header: PlanHeader, batch_size: int | None):
        self._answerer = BlockAnswerer(header, batch_size)
        self._header = header
        self._embedder: TextEmbedder | None = None
        self._done: dict[int, Block | Vectors] = {}

    def _finished(self, result: Block | Vectors) -> Handle:
        handle = object()
        self._done[id(handle)] = result
        return handle

    def answer(self, pending: Sequence[Pending]) -> Handle:
        return self._finished(self._answerer.answer(pending))

    @property
    def embedder(self) -> TextEmbedder:
        if self._embedder is None:
            self._embedder = TextEmbedder(self._header.embedder)
        return self._embedder

    def embedder_fingerprint(self) -> str:
        return self.embedder.fingerprint()

    def embed(self, texts: Sequence[str]) -> Handle:
        return self._finished(self.embedder.encode(texts))

    def wait(self, handles: Sequence[Handle]) -> tuple[Handle, Block | Vectors]:
        first = handles[0]
        return first, self._done.pop(id(first))

    def close(self) -> None:
        self._done.clear()
