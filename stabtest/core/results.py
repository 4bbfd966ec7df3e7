"""What a run produces, as frozen typed records that round-trip through JSON.

pydantic dataclasses: built positionally like any dataclass, validated and serialised by
pydantic (derived values such as a variant's outcome are computed fields, so they are in
the JSON for other tools but never stored twice). The same records serve every later
stage: the run report (stabtest.core.report) holds `CaseResult`s and `VariantResult`s;
Label Studio tasks are built from `VariantResult`; a human's decision comes back as a
`GoldLabel` keyed by (variant uid, answer hash); remediation turns gold failures into
`TrainingExample`s.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import field
from typing import Literal

from pydantic import computed_field
from pydantic.dataclasses import dataclass

from stabtest.core.ids import case_uid
from stabtest.core.plan import chat, conversation

Outcome = Literal["pass", "fail", "escalate"]
VoteOutcome = Literal["pass", "fail", "abstain"]
Category = Literal["semantic_divergence", "hallucination", "reasoning_breakdown", "session_drift"]

_SPACE = re.compile(r"\s+")


def answer_hash(text: str, turn: int = 0) -> str:
    """Identity of an answer for gold labels: whitespace-normalised, case kept (a changed
    answer must be judged afresh, a re-wrapped one need not). A later conversation turn
    (0-based `turn` > 0) is part of it: "Yes." to two different questions of one variant
    are two answers for a human, while single prompts and first turns keep their key."""
    normal = _SPACE.sub(" ", text).strip()
    if turn:
        normal = f"turn {turn}\0{normal}"
    return hashlib.sha256(normal.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Vote:
    """One judge's opinion on one answer. `score` is the judge's raw measure (a cosine, a
    match strength); `confidence` in [0, 1] is how sure the judge is of `outcome`."""

    judge: str
    outcome: VoteOutcome
    confidence: float
    score: float | None = None
    reason: str = ""
    category: Category | None = None


@dataclass(frozen=True)
class Verdict:
    """The ensemble's (or a human's) decision on one answer."""

    outcome: Outcome
    confidence: float
    votes: tuple[Vote, ...] = ()
    category: Category | None = None
    reason: str = ""
    source: Literal["auto", "human"] = "auto"
    auto_outcome: Outcome | None = None

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


@dataclass(frozen=True)
class AnswerResult:
    """One generated answer to one variant, with its cluster and verdict."""

    sample: int
    text: str
    cluster: int
    verdict: Verdict
    correct: bool | None = None
    turn: int = 0
    """The conversation turn (0-based) this answers; 0 for a single-turn case."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def hash(self) -> str:
        return answer_hash(self.text, self.turn)


@dataclass(frozen=True)
class VariantResult:
    """All answers to one variant. The variant fails if any answer fails, and escalates if
    any answer escalates and none fails. `attack` is the family of an adversarial one."""

    uid: str
    suite: str
    case_id: str
    variant_id: str
    family: str
    prompt: str
    operators: tuple[str, ...]
    reference: str | None
    answers: tuple[AnswerResult, ...]
    rejected: str | None = None
    turns: tuple[str, ...] = ()
    """A conversation's user messages (`prompt` is the first); empty for one prompt."""
    attack: str | None = None
    references: tuple[str | None, ...] = ()
    """A conversation's reference at each turn (a recall turn's is the recalled turn's;
    `reference` is the first); empty for one prompt."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def outcome(self) -> Outcome:
        outcomes = {a.verdict.outcome for a in self.answers}
        if "fail" in outcomes:
            return "fail"
        if "escalate" in outcomes:
            return "escalate"
        return "pass"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def confidence(self) -> float:
        return min((a.verdict.confidence for a in self.answers), default=1.0)

    @property
    def case_uid(self) -> str:
        return case_uid(self.suite, self.case_id)

    @property
    def origin(self) -> str:
        """Where the prompt came from, for people: `rule: typo`, `adversarial char: ...`."""
        kind = f"{self.family} {self.attack}" if self.attack else self.family
        return f"{kind}: {' + '.join(self.operators)}" if self.operators else kind

    def reference_at(self, turn: int) -> str | None:
        """The reference the answers at `turn` (0-based) are judged against."""
        return self.references[turn] if self.references else self.reference

    def asked(self, answer: AnswerResult) -> str:
        """The user message `answer` answers: the prompt, or its conversation turn."""
        return self.turns[answer.turn] if self.turns else self.prompt

    def history(self, answer: AnswerResult) -> tuple[tuple[str, str], ...]:
        """The (user, assistant) exchanges before `answer` in its thread (same sample):
        what the model had read when it answered; empty for a single prompt."""
        if not self.turns:
            return ()
        said = {a.turn: a.text for a in self.answers if a.sample == answer.sample}
        return tuple((self.turns[turn], said.get(turn, "")) for turn in range(answer.turn))


@dataclass(frozen=True)
class CaseMetrics:
    """Stability Index, Factual Correctness and Response Diversity Ratio of one case (see
    stabtest.core.metrics for the formulas). FC is None when the case has no reference.
    `si_within` / `si_between` split SI into sampling noise (pairs of samples of one
    variant) and prompt sensitivity (pairs across variants); None when there are no such
    pairs (one sample per variant: no within pairs).

    Repeats (stabtest.core.metrics.repeat_figures): `samples` per variant; `pass_rate`
    = `passing` / `judged` answers (escalations left out), `pass_hat_k` (pass^k, every one
    of `k` samples passes) and `pass_at_k` (pass@k, one of `k` passes) averaged over the
    `variants_k` variants with at least k judged samples; each `*_ci` a 95% Wilson
    interval (low, high). None when undefined (nothing judged, fewer than k samples), and
    in reports written before these figures existed."""

    si: float
    fc: float | None
    rdr: float
    answers: int
    clusters: int
    si_within: float | None = None
    si_between: float | None = None
    turns: int = 1
    drift: float | None = None
    flips: int | None = None
    flip_rate: float | None = None
    correct_to_wrong: int | None = None
    samples: int = 1
    passing: int | None = None
    judged: int | None = None
    pass_rate: float | None = None
    pass_rate_ci: tuple[float, float] | None = None
    k: int | None = None
    variants_k: int | None = None
    pass_hat_k: float | None = None
    pass_hat_k_ci: tuple[float, float] | None = None
    pass_at_k: float | None = None
    pass_at_k_ci: tuple[float, float] | None = None
    evidence_threads: int | None = None
    """Threads shown the evidence turn (None: the case has no evidence probe)."""
    first_wrong: int | None = None
    """Of those, threads whose answer before the evidence was judged wrong (and the answer
    after it judged)."""
    updated: int | None = None
    """First wrong, right after the evidence."""
    failed_to_update: int | None = None
    """First wrong, still wrong after the evidence."""
    update_failure_rate: float | None = None
    """failed_to_update / first_wrong (None when no thread was wrong first)."""
    evidence_right_to_wrong: int | None = None
    """Right before the evidence, wrong after it (true evidence should never do that)."""


@dataclass(frozen=True)
class CaseResult:
    """A case's metrics against its resolved thresholds."""

    uid: str
    suite: str
    case_id: str
    metrics: CaseMetrics
    max_si: float | None
    min_fc: float | None
    failures: tuple[str, ...] = ()
    escalated: int = 0
    min_pass_rate: float | None = None
    min_pass_k: float | None = None
    """The repeat gates that applied (None: none set, or the figure is undefined)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class GoldLabel:
    """A human's decision on one answer of one variant. `stable` and `correct` are None
    when the annotator left that choice empty."""

    uid: str
    answer_hash: str
    stable: bool | None
    correct: bool | None
    corrected_answer: str | None = None
    rationale: str | None = None
    annotator: str | None = None
    updated_at: str | None = None

    @property
    def outcome(self) -> Outcome | None:
        """The human verdict: fail if the answer is unstable or incorrect."""
        decided = [v for v in (self.stable, self.correct) if v is not None]
        if not decided:
            return None
        return "pass" if all(decided) else "fail"


@dataclass(frozen=True)
class TrainingExample:
    """One supervised example for remediation, with a loss weight."""

    prompt: str
    completion: str
    weight: float = 1.0
    uid: str = ""
    family: str = ""
    rejected: str | None = None
    history: tuple[tuple[str, str], ...] = ()
    """In a conversation, the (user, assistant) exchanges before `prompt`, as the model
    saw them: the example teaches the answer in that context."""

    def messages(self) -> list[dict[str, str]]:
        """The prompt as chat messages, conversation history first (TRL's format)."""
        return chat(conversation(self.history, self.prompt))


@dataclass(frozen=True)
class ExploreResult:
    """What `--stab-explore` found for one passed case: the smallest breaking variant
    (`found`: its prompt, operators, answer and the judges' reason), `not_found` within
    the budget, `original_fails`, or `failed` (the search itself broke: `reason` says
    why). `shrunk` is false when the budget ran out while shrinking."""

    uid: str
    status: Literal["found", "not_found", "original_fails", "failed"]
    prompt: str | None = None
    operators: tuple[str, ...] = ()
    answer: str | None = None
    reason: str | None = None
    edit_distance: int | None = None
    shrunk: bool | None = None
    generations: int = 0
    candidates: int = 0


@dataclass
class GenerationStats:
    """What a session cost: requests planned, answered from the cache, generated, timed.
    Workers under xdist each report theirs; the report sums them. `reproducible` is false
    when a backend could not promise the same sampled answer for the same seed again (an
    HTTP server, unless declared otherwise): cached answers still replay exactly, fresh
    ones may differ."""

    requests: int = 0
    cached: int = 0
    generated: int = 0
    generate_seconds: float = 0.0
    embed_seconds: float = 0.0
    reproducible: bool = True

    def __bool__(self) -> bool:
        return self.requests > 0

    def merged(self, other: GenerationStats) -> GenerationStats:
        return GenerationStats(
            requests=self.requests + other.requests,
            cached=self.cached + other.cached,
            generated=self.generated + other.generated,
            generate_seconds=self.generate_seconds + other.generate_seconds,
            embed_seconds=self.embed_seconds + other.embed_seconds,
            reproducible=self.reproducible and other.reproducible,
        )


@dataclass(frozen=True)
class AttackSummary:
    """One adversarial family over a suite or the run (see stabtest.core.pdr): the cases
    that count for PDR, every judged variant of the family, FC of the counted cases'
    original prompts and attacked variants, and the Performance Drop Rate (None when
    undefined)."""

    cases: int
    variants: int
    fc_clean: float | None
    fc_attacked: float | None
    pdr: float | None


def _ratio(top: int, bottom: int) -> float | None:
    return top / bottom if bottom else None


@dataclass(frozen=True)
class Agreement:
    """Automatic verdicts against human labels, per class: "correct" is a human pass,
    "incorrect" a human fail; only verdicts the machine issued (pass or fail, not
    escalated) count. AP alone hides a judge that fails every right answer when most
    answers are wrong; the per-class precision and recall, and their balanced accuracy
    (the mean of the two recalls), show it. A figure is None when nothing defines it."""

    pass_correct: int = 0
    pass_incorrect: int = 0
    fail_correct: int = 0
    fail_incorrect: int = 0

    @property
    def issued(self) -> int:
        return self.pass_correct + self.pass_incorrect + self.fail_correct + self.fail_incorrect

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ap(self) -> float | None:
        return _ratio(self.pass_correct + self.fail_incorrect, self.issued)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def precision_correct(self) -> float | None:
        """Of the answers passed, the share a human called correct."""
        return _ratio(self.pass_correct, self.pass_correct + self.pass_incorrect)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def recall_correct(self) -> float | None:
        """Of the correct answers judged, the share passed."""
        return _ratio(self.pass_correct, self.pass_correct + self.fail_correct)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def precision_incorrect(self) -> float | None:
        return _ratio(self.fail_incorrect, self.fail_incorrect + self.fail_correct)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def recall_incorrect(self) -> float | None:
        return _ratio(self.fail_incorrect, self.fail_incorrect + self.pass_incorrect)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def balanced_accuracy(self) -> float | None:
        correct, incorrect = self.recall_correct, self.recall_incorrect
        return None if correct is None or incorrect is None else (correct + incorrect) / 2

    def figure(self, name: str) -> float | None:
        """A figure by name (`AGREEMENT_FIGURES`), for targets stated on either class."""
        if name not in AGREEMENT_FIGURES:
            raise KeyError(name)
        value: float | None = getattr(self, name)
        return value


AGREEMENT_FIGURES = (
    "ap",
    "precision_correct",
    "recall_correct",
    "precision_incorrect",
    "recall_incorrect",
    "balanced_accuracy",
)


@dataclass
class RunSummary:
    """Aggregates for a suite or the whole run; `adversarial` by attack family."""

    cases: int = 0
    cases_failed: int = 0
    variants: int = 0
    variants_failed: int = 0
    escalated: int = 0
    si: float | None = None
    fc: float | None = None
    rdr: float | None = None
    si_within: float | None = None
    si_between: float | None = None
    pass_rate: float | None = None
    """Mean of the cases' pass rates over their samples (stabtest.core.metrics)."""
    ap: float | None = None
    ap_per_judge: dict[str, float | None] = field(default_factory=dict)
    human_labelled: int = 0
    agreement: Agreement = field(default_factory=Agreement)
    """The ensemble's verdicts against the human labels, per class (AP is its `ap`)."""
    agreement_per_judge: dict[str, Agreement] = field(default_factory=dict)
    flip_rate: float | None = None
    """Mean of the challenged cases' flip rates (None: no case was challenged)."""
    flips: int | None = None
    correct_to_wrong: int | None = None
    update_failure_rate: float | None = None
    """Mean of the evidence-probed cases' failure-to-update rates (None: no case had a
    thread wrong before the evidence)."""
    first_wrong: int | None = None
    """Summed over the evidence-probed cases, as the next two (None: no evidence probe)."""
    updated: int | None = None
    failed_to_update: int | None = None
    evidence_right_to_wrong: int | None = None
    adversarial: dict[str, AttackSummary] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseOutcome:
    """One judged case: its result and its variants' results by variant id."""

    case: CaseResult
    variants: dict[str, VariantResult]

    def judged(self, outcome: Outcome) -> list[VariantResult]:
        """The variants judged `outcome` (a rejected one is never judged): what a case
        collected as one item fails, or escalates, on."""
        return [v for v in self.variants.values() if not v.rejected and v.outcome == outcome]

    def whole_outcome(self) -> Outcome:
        """The case as one item sees it: `fail` when a variant failed or the case missed
        a threshold, else `escalate` when a variant escalated, else `pass`."""
        if self.judged("fail") or not self.case.passed:
            return "fail"
        return "escalate" if self.judged("escalate") else "pass"

    def rejected(self) -> list[VariantResult]:
        """The variants skipped unjudged (a duplicate of an earlier prompt, ...)."""
        return [v for v in self.variants.values() if v.rejected]
