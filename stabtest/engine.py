"""One stability session: cases in, results out, with one batched plan in between.

Cases are registered as they are collected; the first time any result is asked for, the
engine runs the whole plan at once (every variant x sample of every registered case,
deduplicated, batched, cached) and embeds every answer in one pass. Results are then pure
computation over cached data: a fully cached rerun never loads torch.

Several pytest-xdist workers share one cache: a file lock lets the first worker run the
plan while the others wait and then read the cache.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stabtest.core.errors import StabtestError
from stabtest.core.metrics import case_metrics, cluster
from stabtest.core.plan import GenerationParams, GenerationPlan, GenerationRequest
from stabtest.core.results import (
    AnswerResult,
    CaseResult,
    GenerationStats,
    VariantResult,
    Verdict,
    answer_hash,
    variant_uid,
)
from stabtest.core.settings import Settings
from stabtest.core.variants import Variant, VariantExpander, stable_seed

if TYPE_CHECKING:
    from stabtest.annotators.base import Answer
    from stabtest.annotators.ensemble import Ensemble
    from stabtest.core.suite import Case


@dataclass
class Registered:
    """A case as the session knows it: where it came from and its variants."""

    scope: str
    case: Case
    variants: tuple[Variant, ...]

    def requests(self, seed: int) -> list[tuple[Variant, int, GenerationRequest]]:
        params = GenerationParams.from_sampling(self.case.sampling)
        out = []
        for variant in self.variants:
            if variant.rejected:
                continue
            for sample in range(self.case.sampling.samples):
                request_seed = stable_seed(seed, self.scope, self.case.id, variant.id)
                out.append(
                    (variant, sample, GenerationRequest(variant.text, params, request_seed, sample))
                )
        return out


@dataclass
class CaseOutcome:
    case: CaseResult
    variants: dict[str, VariantResult]


@dataclass
class Engine:
    """Lazy owner of the backend, cache, embedder and judges of one session."""

    settings: Settings
    backend_options: dict[str, Any] = field(default_factory=dict)
    _cases: dict[tuple[str, str], Registered] = field(default_factory=dict)
    _outcomes: dict[tuple[str, str], CaseOutcome] = field(default_factory=dict)
    _answers: dict[str, str] = field(default_factory=dict)
    _backend: Any = None
    _cache: Any = None
    _embedder: Any = None
    _gold: Any = None
    _selected: set[tuple[str, str]] | None = None
    _executed: set[tuple[str, str]] = field(default_factory=set)
    variant_hook: Any = None
    _failure: str | None = None
    judge_hook: Any = None
    stats: GenerationStats = field(default_factory=GenerationStats)

    # -- collaborators, created on first use -------------------------------------------
    @property
    def cache(self) -> Any:
        if self._cache is None:
            from stabtest.backends.cache import Cache

            self.settings.cache_path.mkdir(parents=True, exist_ok=True)
            self._cache = Cache(self.settings.cache_path / "cache.sqlite")
        return self._cache

    @property
    def backend(self) -> Any:
        if self._backend is None:
            from stabtest.backends.base import resolve_backend

            options = {"model": self.settings.model, **self.backend_options}
            if self.settings.backend == "hf":  # converted models live in the user cache
                options.setdefault("batch_size", self.settings.batch_size)
            self._backend = resolve_backend(self.settings.backend, **options)
        return self._backend

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from stabtest.annotators.embedder import CachedEmbedder
            from stabtest.annotators.registry import resolve_embedder

            self._embedder = CachedEmbedder(resolve_embedder(self.settings.embedder), self.cache)
        return self._embedder

    @cached_property
    def ensemble(self) -> Ensemble:
        from stabtest.annotators.ensemble import Ensemble
        from stabtest.annotators.registry import build_judges

        judges = build_judges(self.settings.judge_names, engine=self)
        if self.judge_hook is not None:
            judges += [j for extra in self.judge_hook(settings=self.settings) or [] for j in extra]
        return Ensemble(
            judges,
            escalate_below=self.settings.escalate_below,
        )

    def set_gold(self, store: Any) -> None:
        """A gold store whose human labels override automatic verdicts."""
        self._gold = store

    # -- registration --------------------------------------------------------------------
    def expander(self) -> VariantExpander:
        return VariantExpander(self.settings.seed)

    def register(self, scope: str, case: Case) -> tuple[Variant, ...]:
        """Expand one case's variants and add it to the plan."""
        return self.register_all(scope, [case])[0]

    def register_all(self, scope: str, cases: Sequence[Case]) -> list[tuple[Variant, ...]]:
        """Expand the variants of a file's cases and add them to the plan; model
        paraphrases of all of them are written in one batched request."""
        new = [c for c in cases if (scope, c.id) not in self._cases]
        expander = self.expander()
        expanded = [
            (case, self.modify_variants(case, expander.expand(case, scope))) for case in new
        ]
        if any(case.model_paraphrases.count for case in new):
            from stabtest.paraphrasing import fill_model_paraphrases

            filled = fill_model_paraphrases(self, expanded)
            expanded = [
                (case, variants) for (case, _), variants in zip(expanded, filled, strict=True)
            ]
        for case, variants in expanded:
            self._cases[(scope, case.id)] = Registered(scope, case, variants)
        return [self._cases[(scope, case.id)].variants for case in cases]

    def modify_variants(self, case: Case, variants: tuple[Variant, ...]) -> tuple[Variant, ...]:
        """Let `pytest_stabtest_modify_variants` hook implementations replace a case's variants."""
        if self.variant_hook is None:
            return variants
        return self.variant_hook(case=case, variants=variants) or variants

    def registered(self) -> Iterable[Registered]:
        return self._cases.values()

    def select(self, keys: Iterable[tuple[str, str]]) -> None:
        """Plan only these (scope, case id) keys: deselected cases cost nothing."""
        self._selected = set(keys)

    def _pending(self) -> list[Registered]:
        return [
            reg
            for key, reg in self._cases.items()
            if key not in self._executed and (self._selected is None or key in self._selected)
        ]

    # -- execution -----------------------------------------------------------------------
    def plan(self, cases: Iterable[Registered] | None = None) -> GenerationPlan:
        """Every request of the given (default: pending) cases, deduplicated."""
        regs = self._pending() if cases is None else cases
        seed = self.settings.seed
        requests = (request for reg in regs for *_, request in reg.requests(seed))
        return GenerationPlan.build(self.backend_fingerprint(), requests)

    def backend_fingerprint(self) -> str:
        return self.backend.fingerprint()

    def run_requests(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """Answer ad-hoc requests (paraphrases, judge prompts) through the same cache."""
        plan = GenerationPlan.build(self.backend_fingerprint(), requests)
        with self._lock():
            texts = self._run_plan(plan)
        return [texts[r.key(plan.fingerprint)] for r in requests]

    def _run_plan(self, plan: GenerationPlan) -> dict[str, str]:
        """Run a plan through the cache and count what it cost."""
        from stabtest.backends.runner import run_plan

        generated = [0]
        total = [len(plan.requests)]  # to generate: all of them until the cache answered

        def count(done: int, missing: int) -> None:
            generated[0], total[0] = done, missing

        started = time.perf_counter()
        try:
            return run_plan(
                plan,
                self.backend,
                self.cache,
                batch_size=self.settings.batch_size,
                no_cache=self.settings.no_cache,
                on_batch=count,
            )
        finally:  # counted also when a batch fails: what was generated is in the cache
            self.stats = self.stats.merged(
                GenerationStats(
                    requests=len(plan.requests),
                    cached=len(plan.requests) - total[0],
                    generated=generated[0],
                    generate_seconds=round(time.perf_counter() - started, 3),
                )
            )

    def take_stats(self) -> GenerationStats:
        """The cost since the last call (items attach it to their reports, once)."""
        stats, self.stats = self.stats, GenerationStats()
        return stats

    def execute(self) -> None:
        """Generate every pending request in one batched plan, then embed all answers."""
        if self._failure is not None:
            raise StabtestError(
                f"the session's generation failed: {self._failure}; the answers generated "
                "before it are cached and a rerun resumes from them"
            )
        pending = self._pending()
        if not pending:
            return
        try:
            self._execute(pending)
        except Exception as error:
            self._failure = f"{type(error).__name__}: {error}"
            raise

    def _execute(self, pending: list[Registered]) -> None:
        plan = self.plan(pending)
        with self._lock():
            self._answers.update(self._run_plan(plan))
            texts = {self._answers[key] for key in plan.requests}
            for reg in pending:
                texts.update(reference_texts(reg.case))
            started = time.perf_counter()
            self.embedder.encode(sorted(texts))
            self.stats.embed_seconds += round(time.perf_counter() - started, 3)
        self._executed.update((reg.scope, reg.case.id) for reg in pending)

    def _lock(self) -> Any:
        from filelock import FileLock

        self.settings.cache_path.mkdir(parents=True, exist_ok=True)
        return FileLock(str(Path(self.settings.cache_path, "generate.lock")))

    # -- results -------------------------------------------------------------------------
    def outcome(self, scope: str, case_id: str) -> CaseOutcome:
        key = (scope, case_id)
        if key not in self._outcomes:
            if self._selected is not None:
                self._selected.add(key)
            try:
                self.execute()
            except Exception:
                if not self._recover(self._cases[key]):
                    raise
            self._outcomes[key] = self._judge(self._cases[key])
        return self._outcomes[key]

    @property
    def failure(self) -> str | None:
        """Why the session's generation failed, if it did."""
        return self._failure

    def _recover(self, reg: Registered) -> bool:
        """After a failed plan, a case whose answers all reached the cache before the
        failure is still judged: a crash loses only what was never generated."""
        fingerprint = self.backend_fingerprint()
        keys = [request.key(fingerprint) for *_, request in reg.requests(self.settings.seed)]
        found = self.cache.get_many(keys)
        if len(found) < len(set(keys)):
            return False
        self._answers.update(found)
        return True

    def _judge(self, reg: Registered) -> CaseOutcome:
        from stabtest.annotators.base import Answer, CaseEvidence
        from stabtest.annotators.ensemble import equivalence

        case, fingerprint = reg.case, self.backend_fingerprint()
        answers = [
            Answer(variant, sample, self._answers[request.key(fingerprint)])
            for variant, sample, request in reg.requests(self.settings.seed)
        ]
        texts = [a.text for a in answers]
        refs = reference_texts(case)
        vectors = self.embedder.encode(texts + refs)
        evidence = CaseEvidence(
            case,
            answers,
            vectors[: len(texts)],
            {text: vectors[len(texts) + i] for i, text in enumerate(refs)},
            self.settings.semantic_threshold,
        )
        verdicts, correct = self.ensemble.judge(evidence)
        for i, answer in enumerate(answers):
            label = self._gold_label(reg, answer)
            if label is not None:
                verdicts[i], correct[i] = _human_verdict(label, verdicts[i], correct[i])
        clusters = cluster(len(answers), equivalence(evidence, correct))
        metrics = case_metrics(clusters, correct)
        variants: dict[str, VariantResult] = {}
        for variant in reg.variants:
            rows = [
                AnswerResult(a.sample, a.text, clusters[i], verdicts[i], correct[i])
                for i, a in enumerate(answers)
                if a.variant.index == variant.index
            ]
            variants[variant.id] = VariantResult(
                uid=variant_uid(reg.scope, case.id, variant.id),
                suite=reg.scope,
                case_id=case.id,
                variant_id=variant.id,
                family=variant.family,
                prompt=variant.text,
                operators=variant.operators,
                reference=case.reference,
                answers=tuple(rows),
                rejected=variant.rejected,
            )
        max_si = _first(case.thresholds.max_si, self.settings.max_si)
        min_fc = _first(case.thresholds.min_fc, self.settings.min_fc)
        failures = []
        if metrics.si > max_si:
            failures.append(f"SI {metrics.si:.3f} > max_si {max_si:.3f}")
        if metrics.fc is not None and metrics.fc < min_fc:
            failures.append(f"FC {metrics.fc:.3f} < min_fc {min_fc:.3f}")
        result = CaseResult(
            uid=f"{reg.scope}::{case.id}",
            suite=reg.scope,
            case_id=case.id,
            metrics=metrics,
            max_si=max_si,
            min_fc=min_fc if metrics.fc is not None else None,
            failures=tuple(failures),
            escalated=sum(v.outcome == "escalate" for v in verdicts),
        )
        return CaseOutcome(result, variants)

    def _gold_label(self, reg: Registered, answer: Answer) -> Any:
        if self._gold is None:
            return None
        uid = variant_uid(reg.scope, reg.case.id, answer.variant.id)
        return self._gold.lookup(uid, answer_hash(answer.text))


def _human_verdict(
    label: Any, verdict: Verdict, correct: bool | None
) -> tuple[Verdict, bool | None]:
    """A human label replaces the automatic verdict of the same answer. The automatic
    outcome is kept as `auto_outcome` for Annotation Precision: `escalate` when the ensemble
    escalated, so AP, like the gold store's and calibration's, counts only verdicts the
    machine actually issued."""
    if label.outcome is None:
        return verdict, correct
    rationale = f": {label.rationale}" if label.rationale else ""
    human = Verdict(
        label.outcome,
        1.0,
        verdict.votes,
        verdict.category if label.outcome == "fail" else None,
        f"human label ({label.annotator or 'annotator'}){rationale}",
        source="human",
        auto_outcome=verdict.outcome,
    )
    return human, label.correct if label.correct is not None else correct


def _first(*values: float | None) -> float:
    return next(v for v in values if v is not None)


def reference_texts(case: Case) -> list[str]:
    texts = [case.reference, *case.aliases, *case.incorrect] if case.reference else []
    return [t for t in texts if t]
