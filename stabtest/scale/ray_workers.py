"""`--engine ray`: the plan's blocks answered by Ray actors, each holding one backend.

Each actor is a `BlockAnswerer` (the class the local engine runs in-process) with the
CPUs and GPUs the settings give it; one more actor embeds texts. An actor that dies
mid-block (a node lost, a process killed) is restarted by Ray and its block asked again,
up to `--max-retries` times; blocks already stored stay stored either way. Blocks go to
the actor with the least work queued, two at most each, so no actor waits for the driver.

Without an address Ray joins the cluster `RAY_ADDRESS` names, else starts one on this
machine; `auto` joins the one running here; `ray://HOST:10001` a remote one (KubeRay's
head service), whose nodes need stabtest installed (the same version) and the model.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stabtest.core.errors import ConfigError, StabtestError
from stabtest.core.plan_file import PlanHeader
from stabtest.generation.threads import Block, Pending
from stabtest.scale.workers import BlockAnswerer, Handle, TextEmbedder, WorkerFailed

if TYPE_CHECKING:
    from stabtest.core.embedding import Vectors
    from stabtest.core.settings import Settings

PER_ACTOR = 2
"""Blocks in flight per actor: one answering, one queued behind it."""
ACTOR_PREFIX = "stabtest-answerer-"


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--engine",
            "ray is not installed: pip install 'stabtest[ray]' (or pass --engine local)",
        ) from None
    return ray


def _reason(error: BaseException) -> str:
    """The worker's own error, not Ray's wrapping of its traceback."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    first = str(error).strip().splitlines()
    return f"{type(error).__name__}: {first[0] if first else ''}"


class RayWorkers:
    """Answerer actors and an embedder actor on a Ray cluster (started here if none)."""

    def __init__(self, header: PlanHeader, settings: Settings):
        ray = self._ray = _ray()
        self._started = False
        if not ray.is_initialized():
            try:
                ray.init(
                    address=settings.ray_address,
                    include_dashboard=False,
                    ignore_reinit_error=True,
                    logging_level="WARNING",
                    log_to_driver=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise ConfigError(
                    "--ray-address",
                    f"cannot join the Ray cluster {settings.ray_address or '(local)'}: {error}",
                ) from None
            self._started = True
        retries = settings.ray_max_retries
        answerer = ray.remote(
            num_cpus=settings.ray_cpus_per_actor,
            num_gpus=settings.ray_gpus_per_actor,
            max_restarts=retries,
            max_task_retries=retries,
        )(BlockAnswerer)
        token = uuid.uuid4().hex[:8]
        self.names = [f"{ACTOR_PREFIX}{token}-{i}" for i in range(settings.ray_actors)]
        self._actors = [
            answerer.options(name=name).remote(header, settings.batch_size) for name in self.names
        ]
        # Reserves no CPU, so it fits beside the answerers on a cluster they fill.
        embedder = ray.remote(num_cpus=0, max_restarts=retries, max_task_retries=retries)
        self._embedder = embedder(TextEmbedder).remote(header.embedder)
        self.size = len(self._actors)
        self.capacity = PER_ACTOR * self.size
        self._queued = [0] * self.size
        self._owner: dict[Handle, int] = {}

    def answer(self, pending: Sequence[Pending]) -> Handle:
        index = min(range(self.size), key=self._queued.__getitem__)
        ref: Handle = self._actors[index].answer.remote(list(pending))
        self._queued[index] += 1
        self._owner[ref] = index
        return ref

    def embed(self, texts: Sequence[str]) -> Handle:
        ref: Handle = self._embedder.encode.remote(list(texts))
        return ref

    def embedder_fingerprint(self) -> str:
        try:
            return str(self._ray.get(self._embedder.fingerprint.remote()))
        except Exception as error:
            raise StabtestError(f"the embedder actor failed: {_reason(error)}") from None

    def wait(self, handles: Sequence[Handle]) -> tuple[Handle, Block | Vectors]:
        ready, _ = self._ray.wait(list(handles), num_returns=1)
        ref = ready[0]
        index = self._owner.pop(ref, None)
        if index is not None:
            self._queued[index] -= 1
        try:
            result: Block | Vectors = self._ray.get(ref)
        except Exception as error:  # the actor's error, or Ray out of retries
            raise WorkerFailed(ref, _reason(error)) from None
        return ref, result

    def close(self) -> None:
        for actor in [*self._actors, self._embedder]:
            self._ray.kill(actor)
        self._actors = []
        if self._started:
            self._ray.shutdown()
