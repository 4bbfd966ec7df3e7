"""One stability session over one model: cases in, results out, one batched plan between.

The session wires the pieces and owns nothing clever: a `CaseRegistry` (variants), a
`Generator` (model + cache), an embedder, the judges' `Ensemble`, the pure `judge_case`
and the pure threshold gate. The first time any result is asked for, every pending case's
requests are generated in one plan (conversations: one plan per turn, batching every
conversation at that turn) and every answer is embedded in one pass; results are then
computation over cached data, so a fully cached rerun never loads torch.

Collaborators are built from settings unless handed in: remediation builds two sessions
over two models in one process, each with its own generator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cached_property, partial
from typing import TYPE_CHECKING, Protocol

from stabtest.core.errors import StabtestError
from stabtest.core.gate import gate_case
from stabtest.core.ids import case_uid, variant_uid
from stabtest.core.progress import Progress
from stabtest.core.results import (
    AnswerResult,
    CaseMetrics,
    CaseOutcome,
    CaseResult,
    GenerationStats,
    GoldLabel,
    VariantResult,
    Verdict,
    answer_hash,
)
from stabtest.core.settings import Settings
from stabtest.core.variant import Variant
from stabtest.variants.registry import (
    AnswerLookup,
    CaseKey,
    CaseRegistry,
    Expanded,
    Registered,
    VariantHook,
)

if TYPE_CHECKING:
    from stabtest.annotators.base import Answer, Judge
    from stabtest.annotators.ensemble import Ensemble
    from stabtest.annotators.judging import CaseJudgement
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
        self.registry = CaseRegistry(
            settings.seed,
            modify=modify_variants,
            paraphrase=self._paraphrase,
            attack_words=self._attack_words,
        )
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

    @cached_property
    def judge_generator(self) -> Generator:
        """The LLM judge's model: the model under test unless `judge_backend` or
        `judge_model` names another (a small model is best judged by a stronger one)."""
        settings = self.settings
        if settings.judge_backend is None and settings.judge_model is None:
            return self.generator
        from dataclasses import replace

        from stabtest.generation.generator import Generator

        backend = settings.judge_backend or settings.backend
        same = backend == settings.backend
        judge = replace(
            settings,
            backend=backend,
            model=settings.judge_model if settings.judge_model is not None else settings.model,
            backend_options=settings.backend_options if same else {},
        )
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

    def _paraphrase(self, expanded: Expanded) -> list[tuple[Variant, ...]]:
        from stabtest.variants.model import fill_model_paraphrases

        generate = partial(self.generator, stage="paraphrasing")
        return fill_model_paraphrases(generate, self.embedder, expanded)

    def _attack_words(self, scope: str, expanded: Expanded) -> list[tuple[Variant, ...]]:
        from stabtest.variants.word_attack import fill_word_attacks

        return fill_word_attacks(self.embedder, self.settings.seed, scope, expanded)

    # -- registration --------------------------------------------------------------------
    def register(self, scope: str, case: Case) -> tuple[Variant, ...]:
        return self.registry.register(scope, case)

    def register_all(self, scope: str, cases: Sequence[Case]) -> list[tuple[Variant, ...]]:
        return self.registry.register_all(scope, cases)

    def fingerprint(self) -> str:
        """The model's fingerprint: resolving it fails fast on a bad backend setting."""
        return self.generator.fingerprint()

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

    def _execute(self, pending: list[Registered]) -> None:
        """In rounds: round k asks turn k of every pending conversation (and round 0 every
        single-turn request) in one plan, each turn carrying the answers of the turns
        before it; a round's plan holds only what no earlier round asked."""
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
        self.registry.mark_executed(pending)

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

    def _judge(self, reg: Registered) -> CaseOutcome:
        from stabtest.annotators.base import Answer

        if reg.case.turns:
            return self._judge_conversation(reg)
        case, fingerprint = reg.case, self.fingerprint()
        answers = [
            Answer(variant, sample, self._answers[request.key(fingerprint)])
            for variant, sample, request in reg.requests(self.settings.seed)
        ]
        judged = self._judge_answers(reg, case, answers)
        rows = answer_rows(answers, judged, judged.verdicts)
        return self._outcome(reg, judged.metrics, answers, rows, judged.verdicts)

    def _judge_answers(self, reg: Registered, case: Case, answers: list[Answer]) -> CaseJudgement:
        """The judges on `answers` of `case` (one turn's view, for a conversation)."""
        from stabtest.annotators.base import CaseEvidence
        from stabtest.annotators.judging import judge_case

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
        labels = [self._gold_label(reg, a.variant, a.text, len(a.history)) for a in answers]
        return judge_case(evidence, self.ensemble, labels)

    def _judge_conversation(self, reg: Registered) -> CaseOutcome:
        """Each turn judged as a single-turn case over its answers (every variant and
        sample at that turn); then each recall turn compared thread by thread with the
        turn it recalls (session drift), the challenge turn counting flips."""
        from dataclasses import replace

        from stabtest.annotators.base import Answer
        from stabtest.core.conversation import (
            Flips,
            RecallCheck,
            conversation_metrics,
            count_flips,
            drift_verdict,
        )

        case, fingerprint = reg.case, self.fingerprint()
        threads = reg.threads(self.settings.seed, self._lookup())
        turns: list[list[Answer]] = [[] for _ in case.turns]
        for variant, sample, index, request in threads:
            asked = replace(variant, text=variant.messages[index])
            text = self._answers[request.key(fingerprint)]
            turns[index].append(Answer(asked, sample, text, request.history))
        judged = [self._judge_answers(reg, case.turn_view(t), a) for t, a in enumerate(turns)]
        verdicts = [list(j.verdicts) for j in judged]
        checks: list[RecallCheck] = []
        flips: Flips | None = None
        for t, turn in enumerate(case.turns):
            if turn.recall is None:
                continue
            k = turn.recall - 1
            check = RecallCheck(
                t,
                k,
                self._agreement(case.turn_view(t), turns[k], turns[t], judged[k], judged[t]),
                challenge=turn.challenge,
            )
            checks.append(check)
            for i, agrees in enumerate(check.agrees):
                if not agrees:
                    verdicts[t][i] = drift_verdict(
                        verdicts[t][i], check, turns[t][i].text, turns[k][i].text
                    )
            if turn.challenge:
                flips = count_flips(check, judged[k].correct, judged[t].correct)
        metrics = conversation_metrics(
            [j.metrics for j in judged], [c for j in judged for c in j.correct], checks, flips
        )
        rows = [
            row
            for t, (turn_answers, judgement) in enumerate(zip(turns, judged, strict=True))
            for row in answer_rows(turn_answers, judgement, verdicts[t], turn=t)
        ]
        flat = [verdict for turn_verdicts in verdicts for verdict in turn_verdicts]
        answers = [answer for turn_answers in turns for answer in turn_answers]
        return self._outcome(reg, metrics, answers, rows, flat)

    def _agreement(
        self,
        view: Case,
        recalled: list[Answer],
        current: list[Answer],
        recalled_judged: CaseJudgement,
        current_judged: CaseJudgement,
    ) -> tuple[bool, ...]:
        """Per thread, whether its answer at this turn is the same answer as at the
        recalled turn, by the equivalence that clusters answers (correctness when both
        are judged against the reference, else number, text or embedding cosine)."""
        from stabtest.annotators.base import CaseEvidence
        from stabtest.annotators.ensemble import equivalence

        both = [*recalled, *current]
        vectors = self.embedder.encode([a.text for a in both])
        evidence = CaseEvidence(
            view, both, vectors, semantic_threshold=self.settings.semantic_threshold
        )
        same = equivalence(evidence, [*recalled_judged.correct, *current_judged.correct])
        n = len(recalled)
        return tuple(bool(same(i, n + i)) for i in range(n))

    def _outcome(
        self,
        reg: Registered,
        metrics: CaseMetrics,
        answers: Sequence[Answer],
        rows: Sequence[AnswerResult],
        verdicts: Sequence[Verdict],
    ) -> CaseOutcome:
        """Results by variant (answers in turn, then sample order) and the gated case."""
        case = reg.case
        reference = case.turns[0].reference if case.turns else case.reference
        variants: dict[str, VariantResult] = {}
        for variant in reg.variants:
            variants[variant.id] = VariantResult(
                uid=variant_uid(reg.scope, case.id, variant.id),
                suite=reg.scope,
                case_id=case.id,
                variant_id=variant.id,
                family=variant.family,
                prompt=variant.text,
                operators=variant.operators,
                reference=reference,
                answers=tuple(
                    row
                    for answer, row in zip(answers, rows, strict=True)
                    if answer.variant.index == variant.index
                ),
                rejected=variant.rejected,
                turns=variant.turns,
                attack=variant.attack,
                references=tuple(turn.reference for turn in case.turns),
            )
        gate = gate_case(metrics, case.thresholds, self.settings.max_si, self.settings.min_fc)
        result = CaseResult(
            uid=case_uid(reg.scope, case.id),
            suite=reg.scope,
            case_id=case.id,
            metrics=metrics,
            max_si=gate.max_si,
            min_fc=gate.min_fc,
            failures=gate.failures,
            escalated=sum(v.outcome == "escalate" for v in verdicts),
        )
        return CaseOutcome(result, variants)

    def _gold_label(
        self, reg: Registered, variant: Variant, text: str, turn: int
    ) -> GoldLabel | None:
        if self.gold is None:
            return None
        uid = variant_uid(reg.scope, reg.case.id, variant.id)
        return self.gold.lookup(uid, answer_hash(text, turn))


def answer_rows(
    answers: Sequence[Answer],
    judged: CaseJudgement,
    verdicts: Sequence[Verdict],
    turn: int = 0,
) -> list[AnswerResult]:
    """The report rows of `answers` (of one turn, in a conversation): text, cluster and
    correctness as judged, with `verdicts` (the judged ones, or drift verdicts)."""
    return [
        AnswerResult(a.sample, a.text, judged.clusters[i], verdicts[i], judged.correct[i], turn)
        for i, a in enumerate(answers)
    ]


def reference_texts(case: Case) -> list[str]:
    """The texts a case's answers are compared with: reference, aliases, known-wrong."""
    texts = [case.reference, *case.aliases, *case.incorrect] if case.reference else []
    return [t for t in texts if t]
