"""A case's outcome from its answers: the judges on each turn, session drift between the
turns of a conversation, the threshold gate, and the report's rows.

Pure beside `judge_case`: no model, cache or session. The caller (the session's executor)
hands in the answers it generated and a `Judging` of how to judge them; `encode` returns
vectors the executor already computed in its one embedding pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from stabtest.annotators.base import Answer, CaseEvidence
from stabtest.annotators.ensemble import Ensemble, equivalence
from stabtest.annotators.judging import CaseJudgement, judge_case
from stabtest.core.conversation import (
    Flips,
    RecallCheck,
    Updates,
    conversation_metrics,
    count_flips,
    count_updates,
    drift_verdict,
)
from stabtest.core.embedding import Vectors
from stabtest.core.gate import gate_case
from stabtest.core.ids import case_uid, variant_uid
from stabtest.core.metrics import repeat_figures
from stabtest.core.results import (
    AnswerResult,
    CaseMetrics,
    CaseOutcome,
    CaseResult,
    GoldLabel,
    VariantResult,
    Verdict,
    answer_hash,
)
from stabtest.core.suite import Case
from stabtest.core.variant import Variant

GoldOf = Callable[[str, str], GoldLabel | None]
"""(variant uid, answer hash) -> the human label of that very answer, if any."""


@dataclass(frozen=True)
class Judging:
    """How a session judges: its ensemble, embeddings, thresholds and human labels."""

    ensemble: Ensemble
    encode: Callable[[Sequence[str]], Vectors]
    semantic_threshold: float
    max_si: float
    min_fc: float
    gold: GoldOf | None = None
    min_pass_rate: float | None = None
    pass_k: int | None = None
    min_pass_k: float | None = None


@dataclass(frozen=True)
class Thread:
    """One asked turn of one (variant, sample) thread of a conversation, with its answer."""

    variant: Variant
    sample: int
    turn: int
    history: tuple[tuple[str, str], ...]
    text: str


def judge_single(
    judging: Judging, scope: str, case: Case, variants: Sequence[Variant], answers: list[Answer]
) -> CaseOutcome:
    """A single-turn case: every answer of every variant judged together."""
    judged = judge_answers(judging, scope, case, answers)
    rows = answer_rows(answers, judged, judged.verdicts)
    return outcome(judging, scope, case, variants, judged.metrics, answers, rows, judged.verdicts)


def judge_answers(judging: Judging, scope: str, case: Case, answers: list[Answer]) -> CaseJudgement:
    """The judges on `answers` of `case` (one turn's view, for a conversation)."""
    labels = [_gold_label(judging, scope, case, a) for a in answers]
    return judge_case(case_evidence(judging, case, answers), judging.ensemble, labels)


def case_evidence(judging: Judging, case: Case, answers: Sequence[Answer]) -> CaseEvidence:
    """What the judges see of `answers` of `case`: their embeddings and the embeddings of
    the case's reference texts, in one `encode` call."""
    texts = [a.text for a in answers]
    refs = reference_texts(case)
    vectors = judging.encode(texts + refs)
    return CaseEvidence(
        case,
        answers,
        vectors[: len(texts)],
        {text: vectors[len(texts) + i] for i, text in enumerate(refs)},
        judging.semantic_threshold,
    )


def judge_conversation(
    judging: Judging, scope: str, case: Case, variants: Sequence[Variant], threads: list[Thread]
) -> CaseOutcome:
    """Each turn judged as a single-turn case over its answers (every variant and sample at
    that turn); then each recall turn compared thread by thread with the turn it recalls
    (session drift), the challenge turn counting flips; the evidence turn's answers judged
    against those just before it (updates)."""
    turns: list[list[Answer]] = [[] for _ in case.turns]
    for thread in threads:
        asked = replace(thread.variant, text=thread.variant.messages[thread.turn])
        turns[thread.turn].append(Answer(asked, thread.sample, thread.text, thread.history))
    judged = [judge_answers(judging, scope, case.turn_view(t), a) for t, a in enumerate(turns)]
    verdicts = [list(j.verdicts) for j in judged]
    checks: list[RecallCheck] = []
    flips: Flips | None = None
    updates: Updates | None = None
    for t, turn in enumerate(case.turns):
        if turn.evidence and t:
            updates = count_updates(judged[t - 1].correct, judged[t].correct)
        if turn.recall is None:
            continue
        k = turn.recall - 1
        check = RecallCheck(
            t,
            k,
            _agreement(judging, case.turn_view(t), turns[k], turns[t], judged[k], judged[t]),
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
        [j.metrics for j in judged], [c for j in judged for c in j.correct], checks, flips, updates
    )
    rows = [
        row
        for t, (turn_answers, judgement) in enumerate(zip(turns, judged, strict=True))
        for row in answer_rows(turn_answers, judgement, verdicts[t], turn=t)
    ]
    flat = [verdict for turn_verdicts in verdicts for verdict in turn_verdicts]
    answers = [answer for turn_answers in turns for answer in turn_answers]
    return outcome(judging, scope, case, variants, metrics, answers, rows, flat)


def _agreement(
    judging: Judging,
    view: Case,
    recalled: list[Answer],
    current: list[Answer],
    recalled_judged: CaseJudgement,
    current_judged: CaseJudgement,
) -> tuple[bool, ...]:
    """Per thread, whether its answer at this turn is the same answer as at the recalled
    turn, by the equivalence that clusters answers (correctness when both are judged
    against the reference, else number, text or embedding cosine)."""
    both = [*recalled, *current]
    vectors = judging.encode([a.text for a in both])
    evidence = CaseEvidence(view, both, vectors, semantic_threshold=judging.semantic_threshold)
    same = equivalence(evidence, [*recalled_judged.correct, *current_judged.correct])
    n = len(recalled)
    return tuple(bool(same(i, n + i)) for i in range(n))


def outcome(
    judging: Judging,
    scope: str,
    case: Case,
    variants: Sequence[Variant],
    metrics: CaseMetrics,
    answers: Sequence[Answer],
    rows: Sequence[AnswerResult],
    verdicts: Sequence[Verdict],
) -> CaseOutcome:
    """Results by variant (answers in turn, then sample order) and the gated case."""
    reference = case.turns[0].reference if case.turns else case.reference
    results: dict[str, VariantResult] = {}
    for variant in variants:
        results[variant.id] = VariantResult(
            uid=variant_uid(scope, case.id, variant.id),
            suite=scope,
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
    metrics = with_repeats(metrics, case, judging.pass_k, answers, verdicts)
    gate = gate_case(
        metrics,
        case.thresholds,
        judging.max_si,
        judging.min_fc,
        judging.min_pass_rate,
        judging.min_pass_k,
    )
    result = CaseResult(
        uid=case_uid(scope, case.id),
        suite=scope,
        case_id=case.id,
        metrics=metrics,
        max_si=gate.max_si,
        min_fc=gate.min_fc,
        failures=gate.failures,
        escalated=sum(v.outcome == "escalate" for v in verdicts),
        min_pass_rate=gate.min_pass_rate,
        min_pass_k=gate.min_pass_k,
    )
    return CaseOutcome(result, results)


def with_repeats(
    metrics: CaseMetrics,
    case: Case,
    default_k: int | None,
    answers: Sequence[Answer],
    verdicts: Sequence[Verdict],
) -> CaseMetrics:
    """`metrics` with the pass rate, pass^k and pass@k over the case's samples. A sample
    is a (variant, sample) thread: one answer, or a conversation's turns, failing when
    any of them fails and escalated (left out) when one escalates and none fails, as a
    variant's outcome is decided. k: the case's `pass_k`, else the session's, else the
    case's samples."""
    outcomes: dict[tuple[int, int], set[str]] = {}
    for answer, verdict in zip(answers, verdicts, strict=True):
        outcomes.setdefault((answer.variant.index, answer.sample), set()).add(verdict.outcome)
    per_variant: dict[int, list[int]] = {}
    for (variant, _), seen in outcomes.items():
        counts = per_variant.setdefault(variant, [0, 0])
        if "fail" in seen:
            counts[1] += 1
        elif "escalate" not in seen:
            counts[0] += 1
            counts[1] += 1
    samples = case.sampling.samples
    k = case.thresholds.pass_k or default_k or samples
    figures = repeat_figures([(c, n) for c, n in per_variant.values()], k)
    return replace(
        metrics,
        samples=samples,
        passing=figures.passing,
        judged=figures.judged,
        pass_rate=figures.pass_rate,
        pass_rate_ci=figures.pass_rate_ci,
        k=figures.k,
        variants_k=figures.variants_k,
        pass_hat_k=figures.pass_hat_k,
        pass_hat_k_ci=figures.pass_hat_k_ci,
        pass_at_k=figures.pass_at_k,
        pass_at_k_ci=figures.pass_at_k_ci,
    )


def _gold_label(judging: Judging, scope: str, case: Case, answer: Answer) -> GoldLabel | None:
    if judging.gold is None:
        return None
    uid = variant_uid(scope, case.id, answer.variant.id)
    return judging.gold(uid, answer_hash(answer.text, len(answer.history)))


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
