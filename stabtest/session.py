"""One stability session over one model: cases in, results out, one batched plan between.

The session is the executor: it registers cases (expanding their variants, then preparing
the ones only a model can write, as a step of their own), runs the plan through a
`Generator` (model + cache), embeds the answers, and hands them to the pure judging of
`stabtest.annotators.case_outcome` (the judges' `Ensemble`, session drift, the gate).
The first time any result is asked for, every pending case's requests are generated in
one plan (conversations: one plan per turn, batching every conversation at that turn)
and every answer is embedded in one pass; results are then computation over cached
data, so a fully cached rerun never loads torch.

Collaborators are built from settings unless handed in: remediation builds two sessions
over two models in one process, each with its own generator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cached_property, partial
from typing import TYPE_CHECKING, Protocol

from stabtest.core.errors import StabtestError
from stabtest.core.ids import case_uid
from stabtest.core.progress import Progress
from stabtest.core.results import (
    CaseOutcome,
    GenerationStats,
    GoldLabel,
)
from stabtest.core.settings import Settings
from stabtest.core.variant import Variant
from stabtest.variants.expand import VariantExpander
from stabtest.variants.registry import (
    AnswerLookup,
    CaseKey,
    CaseRegistry,
    Expanded,
    Registered,
    VariantHook,
)

if TYPE_CHECKING:
    from stabtest.annotators.base import Judge
    from stabtest.annotators.case_outcome import Judging
    from stabtest.annotators.ensemble import Ensemble
    from stabtest.core.embedding import Embedder
    from stabtest.core.nli import PairClassifier
    from stabtest.core.suite import Case
    from stabtest.generation.generator import Generator


class GoldLookup(Protocol):
    """Human labels by (variant uid, answer hash): the gold store's snapshot."""

    def lookup(self, uid: str, answer_hash: str) -> GoldLabel | None: ...


ExtraJudges = Callable[[Settings], Sequence["Judge"]]
EMBED_CHUNK = 256
"""Texts embedded per progress step (a second or so of MiniLM on a CPU)."""


class Session:
    """Registry -> generator -> judges -> results, for one model."""

    def __init__(
        self,
        settings: Settings,
        *,
        generator: Generator | None = None,
        embedder: Embedder | None = None,
        gold: GoldLookup | None = None,
        modify_variants: VariantHook | None = None,
        extra_judges: ExtraJudges | None = None,
        progress: Progress | None = None,
    ):
        self.settings = settings
        self.progress = progress
        """Told how generating, embedding and judging advance (generators it builds)."""
        self._generator = generator
        self._embedder = embedder
        self.gold = gold
        self.extra_judges = extra_judges
        self.modify_variants = modify_variants
        self.expander = VariantExpander(settings.seed)
        self.registry = CaseRegistry()
        self._answers: dict[str, str] = {}
        self._outcomes: dict[CaseKey, CaseOutcome] = {}
        self._failure: str | None = None
        self._embed_seconds = 0.0

    # -- collaborators, built on first use ----------------------------------------------
    @property
    def generator(self) -> Generator:
        if self._generator is None:
            from stabtest.generation.generator import Generator

            self._generator = Generator.from_settings(self.settings, self.progress)
        return self._generator

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from stabtest.generation.cache import Cache
            from stabtest.generation.embedder import CachedEmbedder, resolve_embedder

            cache = self.generator.cache or Cache(":memory:")
            self._embedder = CachedEmbedder(resolve_embedder(self.settings.embedder), cache)
        return self._embedder

    @property
    def judge_settings(self) -> Settings:
        """The settings of the LLM judge's model: the run's own, or with the backend and
        model `judge_backend` / `judge_model` name (another backend takes no options)."""
        settings = self.settings
        if settings.judge_backend is None and settings.judge_model is None:
            return settings
        from dataclasses import replace

        backend = settings.judge_backend or settings.backend
        same = backend == settings.backend
        return replace(
            settings,
            backend=backend,
            model=settings.judge_model if settings.judge_model is not None else settings.model,
            backend_options=settings.backend_options if same else {},
        )

    @cached_property
    def judge_generator(self) -> Generator:
        """The LLM judge's model: the model under test unless `judge_backend` or
        `judge_model` names another (a small model is best judged by a stronger one)."""
        judge = self.judge_settings
        if judge is self.settings:
            return self.generator
        from stabtest.generation.generator import Generator

        return Generator.from_settings(judge, self.progress)

    @cached_property
    def nli_classifier(self) -> PairClassifier | None:
        """The NLI model of `nli_model`, its scores cached beside the embeddings; None
        when no model is named (the default: none ships with stabtest)."""
        if self.settings.nli_model is None:
            return None
        from stabtest.generation.cache import Cache
        from stabtest.generation.nli import CachedPairClassifier, resolve_nli

        labels = self.settings.nli_labels
        names = [n.strip() for n in labels.split(",") if n.strip()] if labels else None
        cache = self.generator.cache or Cache(":memory:")
        return CachedPairClassifier(resolve_nli(self.settings.nli_model, names), cache)

    @cached_property
    def ensemble(self) -> Ensemble:
        from stabtest.annotators.ensemble import Ensemble
        from stabtest.annotators.registry import build_judges

        generate = partial(self.judge_generator, stage="judging")
        judges = build_judges(
            self.settings.judge_names,
            generate=generate,
            nli=self.nli_classifier,
            nli_threshold=self.settings.nli_threshold,
        )
        if self.extra_judges is not None:
            judges += list(self.extra_judges(self.settings))
        return Ensemble(judges, escalate_below=self.settings.escalate_below)

    # -- registration: expand, then prepare what needs a model, before anything runs ----
    def register(self, scope: str, case: Case) -> tuple[Variant, ...]:
        return self.register_all(scope, [case])[0]

    def register_all(self, scope: str, cases: Sequence[Case]) -> list[tuple[Variant, ...]]:
        """Expand the variants of a file's cases (rules, adversarial families, the
        `pytest_stabtest_modify_variants` hook), then prepare them: model paraphrases of
        all of them in one batched call, word attacks bounded by the embedder. A case
        registered before keeps its variants."""
        new = self.registry.unknown(scope, cases)
        if new:
            expanded = [(c, self._modified(c, self.expander.expand(c, scope))) for c in new]
            self.registry.add(scope, self.prepare(scope, expanded))
        return self.registry.variants_of(scope, cases)

    def _modified(self, case: Case, variants: tuple[Variant, ...]) -> tuple[Variant, ...]:
        if self.modify_variants is None:
            return variants
        return self.modify_variants(case=case, variants=variants) or variants

    def prepare(self, scope: str, expanded: Expanded) -> Expanded:
        """The variant slots only a model can fill: `model` paraphrases (the model under
        test writes them) and `word` attacks (the embedder bounds each swap)."""
        if any(case.model_paraphrases.count for case, _ in expanded):
            from stabtest.variants.model import fill_model_paraphrases

            generate = partial(self.generator, stage="paraphrasing")
            filled = fill_model_paraphrases(generate, self.embedder, expanded)
            expanded = [(case, v) for (case, _), v in zip(expanded, filled, strict=True)]
        if any("word" in case.adversarial.families for case, _ in expanded):
            from stabtest.variants.word_attack import fill_word_attacks

            attacked = fill_word_attacks(self.embedder, self.settings.seed, scope, expanded)
            expanded = [(case, v) for (case, _), v in zip(expanded, attacked, strict=True)]
        return expanded

    def fingerprint(self) -> str:
        """The model's fingerprint: resolving it fails fast on a bad backend setting."""
        return self.generator.fingerprint()

    def fingerprint_or_none(self) -> str | None:
        """The fingerprint for the run's history (reads files, loads no model); None when
        the backend cannot even be built, which the run has already said."""
        try:
            return self.generator.fingerprint()
        except Exception:  # the run has said why
            return None

    # -- execution -----------------------------------------------------------------------
    @property
    def failure(self) -> str | None:
        """Why the session's generation failed, if it did."""
        return self._failure

    def execute(self) -> None:
        """Generate every pending request in one batched plan per conversation turn (one
        plan in all without conversations), then embed all answers."""
        if self._failure is not None:
            raise StabtestError(
                f"the session's generation failed: {self._failure}; the answers generated "
                "before it are cached and a rerun resumes from them"
            )
        pending = self.registry.pending()
        if not pending:
            return
        try:
            self._execute(pending)
        except Exception as error:
            self._failure = f"{type(error).__name__}: {error}"
            raise
        self.registry.mark_executed(pending)

    def _execute(self, pending: list[Registered]) -> None:
        """In rounds: round k asks turn k of every pending conversation (and round 0 every
        single-turn request) in one plan, each turn carrying the answers of the turns
        before it; a round's plan holds only what no earlier round asked."""
        from stabtest.annotators.case_outcome import reference_texts

        seed, answer = self.settings.seed, self._lookup()
        asked: set[str] = set()
        with self.generator.lock():  # other workers wait, then read answers and vectors
            regs = pending
            while regs:
                plan = self.generator.plan(
                    [r for reg in regs for *_, r in reg.requests(seed, answer)]
                )
                plan.requests = {k: r for k, r in plan.requests.items() if k not in asked}
                if not plan.requests:
                    break
                asked.update(plan.requests)
                self._answers.update(self.generator.run(plan))
                regs = [reg for reg in regs if reg.case.turns]  # one round asks a single prompt
            texts = {self._answers[key] for key in asked if key in self._answers}
            for reg in pending:
                texts.update(reference_texts(reg.case))
            started = time.perf_counter()
            self._embed_all(sorted(texts))
            self._embed_seconds += time.perf_counter() - started

    def _embed_all(self, texts: list[str]) -> None:
        """One pass over every text; in chunks when someone watches the progress."""
        if self.progress is None or len(texts) <= EMBED_CHUNK:
            self.embedder.encode(texts)
            return
        self.progress("embedding", 0, len(texts))
        for start in range(0, len(texts), EMBED_CHUNK):
            chunk = texts[start : start + EMBED_CHUNK]
            self.embedder.encode(chunk)
            self.progress("embedding", start + len(chunk), len(texts))

    def take_stats(self) -> GenerationStats:
        """What generation and embedding cost since the last call."""
        stats = self.generator.take_stats() if self._generator is not None else GenerationStats()
        stats.embed_seconds += round(self._embed_seconds, 3)
        self._embed_seconds = 0.0
        return stats

    # -- results -------------------------------------------------------------------------
    def outcome(self, scope: str, case_id: str) -> CaseOutcome:
        """The judged case, generating the session's plan first if it has not run."""
        key = (scope, case_id)
        if key not in self._outcomes:
            self.registry.want(key)
            try:
                self.execute()
            except Exception:
                if not self._recover(self.registry[key]):
                    raise
            reg = self.registry[key]
            refusal = self._refusal(reg)
            if refusal is not None:
                raise StabtestError(refusal)
            self._outcomes[key] = self._judge(reg)
        return self._outcomes[key]

    def judge_once(self, scope: str, case: Case) -> CaseOutcome:
        """A case outside the session's cases (explore's candidates): expanded, prepared,
        generated through the cache and judged, leaving the registered cases as they
        were. A backend's refusal (a prompt beyond its context) is a StabtestError."""
        if self._failure is not None:
            self.execute()  # says why nothing more is generated
        variants = self.expander.expand(case, scope)
        [(_, prepared)] = self.prepare(scope, [(case, self._modified(case, variants))])
        reg = Registered(scope, case, prepared)
        try:
            self._execute([reg])
        except Exception as error:
            self._failure = f"{type(error).__name__}: {error}"
            if not self._recover(reg):
                raise
        refusal = self._refusal(reg)
        if refusal is not None:
            raise StabtestError(refusal)
        return self._judge(reg)

    def _refusal(self, reg: Registered) -> str | None:
        """Why this case cannot be judged: the backend refused some of its prompts (too
        long for the model's context). The case fails alone; the others run."""
        refused = self._generator.refused if self._generator is not None else {}
        if not refused:
            return None
        fingerprint = self.fingerprint()
        bad = {
            variant.id: refused[request.key(fingerprint)]
            for variant, _, request in reg.requests(self.settings.seed, self._lookup())
            if request.key(fingerprint) in refused
        }
        if not bad:
            return None
        (first, why), more = next(iter(bad.items())), len(bad) - 1
        also = f" (and {more} more variant(s))" if more else ""
        return f"{case_uid(reg.scope, reg.case.id)}[{first}] cannot be generated: {why}{also}"

    def _recover(self, reg: Registered) -> bool:
        """After a failed plan, a case whose answers all reached the cache before the
        failure is still judged: a crash loses only what was never generated."""
        fingerprint, answer = self.fingerprint(), self._lookup()
        while True:  # a conversation's next turn is known only once this one's answer is
            threads = reg.threads(self.settings.seed, answer)
            keys = {request.key(fingerprint) for *_, request in threads}
            found = self.generator.cached([k for k in keys if k not in self._answers])
            self._answers.update(found)
            if not found:
                return reg.complete(threads) and keys <= self._answers.keys()

    def _lookup(self) -> AnswerLookup:
        """The answers this session holds, by request: what the next turn needs."""
        fingerprint = self.fingerprint()
        return lambda request: self._answers.get(request.key(fingerprint))

    @property
    def judging(self) -> Judging:
        """How this session judges (`stabtest.annotators.case_outcome`, pure)."""
        from stabtest.annotators.case_outcome import Judging

        gold = self.gold
        return Judging(
            self.ensemble,
            self.embedder.encode,
            self.settings.semantic_threshold,
            self.settings.max_si,
            self.settings.min_fc,
            gold.lookup if gold is not None else None,
            min_pass_rate=self.settings.min_pass_rate,
            pass_k=self.settings.pass_k,
            min_pass_k=self.settings.min_pass_k,
        )

    def _judge(self, reg: Registered) -> CaseOutcome:
        """The generated answers of `reg`, handed to the pure judging."""
        from stabtest.annotators.base import Answer
        from stabtest.annotators.case_outcome import Thread, judge_conversation, judge_single

        fingerprint, seed = self.fingerprint(), self.settings.seed
        if reg.case.turns:
            threads = [
                Thread(
                    variant, sample, turn, request.history, self._answers[request.key(fingerprint)]
                )
                for variant, sample, turn, request in reg.threads(seed, self._lookup())
            ]
            return judge_conversation(self.judging, reg.scope, reg.case, reg.variants, threads)
        answers = [
            Answer(variant, sample, self._answers[request.key(fingerprint)])
            for variant, sample, request in reg.requests(seed)
        ]
        return judge_single(self.judging, reg.scope, reg.case, reg.variants, answers)
