"""The generation service: one model behind a cache, a lock and a cost counter.

Everything that needs answers -- the session's plan, the model paraphraser, the LLM judge,
remediation's before/after reruns -- gets them through `Generator`, as one typed callable
`generate(requests) -> answers`. Two generators over two models live side by side in one
process: each has its own backend and fingerprint, and they may share a cache file (keys
carry the fingerprint).

The backend is built on first use, so a fully cached run never loads a model. The file
lock lets one pytest-xdist worker generate while the others wait and then read the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationPlan, GenerationRequest
from stabtest.core.progress import Progress
from stabtest.core.results import GenerationStats

if TYPE_CHECKING:
    from filelock import FileLock

    from stabtest.core.settings import Settings
    from stabtest.generation.backend import Backend
    from stabtest.generation.cache import Cache

BackendFactory = Callable[[], "Backend"]


class Generator:
    """backend + cache + lock + cost counters; call it with requests to get answers."""

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        factory: BackendFactory | None = None,
        cache: Cache | None = None,
        lock_path: Path | None = None,
        batch_size: int | None = 32,
        no_cache: bool = False,
        progress: Progress | None = None,
    ):
        if (backend is None) == (factory is None):
            raise ValueError("Generator needs a backend or a factory that builds one")
        self._backend = backend
        self._factory = factory
        self.cache = cache
        self.batch_size = batch_size
        self.no_cache = no_cache
        self.progress = progress
        """Told `(stage, generated, to generate)` after each batch; cached answers cost
        nothing and are not counted."""
        self.stats = GenerationStats()
        self.refused: dict[str, str] = {}
        """key -> why the backend would not generate it (a prompt beyond its context)."""
        self._lock_path = lock_path
        self._lock: FileLock | None = None

    @classmethod
    def from_settings(cls, settings: Settings, progress: Progress | None = None) -> Generator:
        """The generator a session's settings describe: backend by name with its options,
        the SQLite cache and lock under the cache dir."""
        from stabtest.generation.backend import configured_backend
        from stabtest.generation.cache import Cache

        def build() -> Backend:
            return configured_backend(
                settings.backend, settings.model, settings.backend_options, settings.batch_size
            )

        return cls(
            factory=build,
            cache=Cache(settings.cache_path / "cache.sqlite"),
            lock_path=settings.cache_path / "generate.lock",
            batch_size=settings.batch_size,
            no_cache=settings.no_cache,
            progress=progress,
        )

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            assert self._factory is not None
            self._backend = self._factory()
        return self._backend

    def fingerprint(self) -> str:
        """The model's identity in every cache key (cheap: reads files, loads nothing)."""
        return self.backend.fingerprint()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Held while generating (re-entrant): other processes sharing the cache wait."""
        if self._lock_path is None:
            yield
            return
        if self._lock is None:
            from filelock import FileLock

            self._lock_path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(str(self._lock_path))
        with self._lock:
            yield

    def __call__(
        self, requests: Sequence[GenerationRequest], *, stage: str = "generating"
    ) -> list[str]:
        """Answers to `requests`, in order, through the cache (deduplicated); `stage`
        names the work in progress reports (`paraphrasing`, `judging`)."""
        if not requests:
            return []
        plan = GenerationPlan.build(self.fingerprint(), requests)
        texts = self.run(plan, stage=stage)
        keys = [request.key(plan.fingerprint) for request in requests]
        for key in keys:
            if key not in texts:
                raise BackendError(self.refused.get(key, "no answer was generated"))
        return [texts[key] for key in keys]

    def plan(self, requests: Sequence[GenerationRequest]) -> GenerationPlan:
        return GenerationPlan.build(self.fingerprint(), requests)

    def run(self, plan: GenerationPlan, *, stage: str = "generating") -> dict[str, str]:
        """key -> answer for every request of the plan; generated batches reach the cache
        one by one, and the cost is counted even when a batch fails."""
        from stabtest.generation.runner import run_plan

        generated, to_generate = 0, len(plan.requests)

        def count(done: int, missing: int) -> None:
            nonlocal generated, to_generate
            generated, to_generate = done, missing
            if self.progress is not None and missing:
                self.progress(stage, done, missing)

        started = time.perf_counter()
        try:
            with self.lock():
                return run_plan(
                    plan,
                    self.backend,
                    self.cache,
                    batch_size=self.batch_size,  # None (auto): the backend's own size
                    no_cache=self.no_cache,
                    on_batch=count,
                    refused=self.refused,
                )
        finally:
            self.stats = self.stats.merged(
                GenerationStats(
                    requests=len(plan.requests),
                    cached=len(plan.requests) - to_generate,
                    generated=generated,
                    generate_seconds=round(time.perf_counter() - started, 3),
                    reproducible=bool(getattr(self._backend, "reproducible", True)),
                )
            )

    def cached(self, keys: Sequence[str]) -> dict[str, str]:
        """Stored answers for those keys that have one (what survived a failed plan)."""
        return {} if self.cache is None else self.cache.get_many(keys)

    def take_stats(self) -> GenerationStats:
        """The cost since the last call (items attach it to their reports, once)."""
        stats, self.stats = self.stats, GenerationStats()
        return stats
