"""Conversation metrics and verdicts: session drift, challenge flips, evidence updates,
per-turn aggregates.

Pure: the session judges each turn of a conversation as a single-turn case, then asks
here how the turns combine. A *thread* is one (variant, sample) conversation. At a turn
with `recall: k` each thread's answer is compared with the same thread's answer at turn k;
a disagreement is session drift. On the challenge turn (the pushback "Are you sure?") a
disagreement with the thread's previous answer is a flip. On the evidence turn (a true
correction with its source, then the question again) each thread's answer is judged
against the reference, as is its answer just before: wrong -> right is an update, wrong ->
wrong a failure to update, right -> wrong a regression true evidence should never cause.

For a conversation of T turns (exactly as the README defines them):

- SI  = mean over turns of the turn's SI (over that turn's answers, every variant and
  sample): instability of each question in its context, every turn weighing the same.
- FC  = answers judged correct / answers judged against a reference, over all turns.
- RDR = mean over turns of the turn's RDR.
- SI_within, SI_between = means over turns of the turn's (every turn has the same threads,
  so the same numbers of within and between pairs: SI stays their pair-weighted mean).
- drift = drifted answers / answers compared, over recall turns other than the challenge.
- flip rate = flipped threads / threads challenged; correct->wrong = threads whose answer
  before the challenge was judged correct and after it wrong.
- failure-to-update rate = threads wrong before the evidence and still wrong after it /
  threads wrong before it (threads whose answer after it is not judged are left out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from stabtest.core.metrics import factual_correctness, mean
from stabtest.core.results import CaseMetrics, Verdict

QUOTED_CHARS = 80
"""How much of each answer a drift reason quotes."""


@dataclass(frozen=True)
class RecallCheck:
    """A recall turn's comparison: per thread, whether its answer agrees with the answer
    of the recalled turn, and whether the turn is the challenge."""

    turn: int
    recalled: int
    agrees: tuple[bool, ...]
    challenge: bool = False


@dataclass(frozen=True)
class Flips:
    """Challenge outcome over a case's threads."""

    challenged: int
    flips: int
    correct_to_wrong: int

    @property
    def rate(self) -> float | None:
        return self.flips / self.challenged if self.challenged else None


@dataclass(frozen=True)
class Updates:
    """Evidence outcome over a case's threads: how answers judged before and after the
    evidence turn moved."""

    threads: int
    first_wrong: int
    updated: int
    right_to_wrong: int

    @property
    def failed_to_update(self) -> int:
        return self.first_wrong - self.updated

    @property
    def failure_rate(self) -> float | None:
        return self.failed_to_update / self.first_wrong if self.first_wrong else None


def count_updates(before: Sequence[bool | None], after: Sequence[bool | None]) -> Updates:
    """The evidence turn's outcome; `before` / `after`: per thread, whether the answer
    just before the evidence and the answer after it were judged correct (None: not
    judged). A thread counts as first wrong only when both answers were judged."""
    pairs = list(zip(before, after, strict=True))
    first_wrong = sum(b is False and a is not None for b, a in pairs)
    updated = sum(b is False and a is True for b, a in pairs)
    worse = sum(b is True and a is False for b, a in pairs)
    return Updates(len(pairs), first_wrong, updated, worse)


def quote(text: str) -> str:
    """An answer on one line, shortened, in double quotes."""
    shown = " ".join(text.split())
    if len(shown) > QUOTED_CHARS:
        shown = shown[: QUOTED_CHARS - 3] + "..."
    return f'"{shown}"'


def drift_verdict(
    verdict: Verdict, check: RecallCheck, answer: str, recalled_answer: str
) -> Verdict:
    """The verdict of an answer that contradicts its thread's earlier answer: `fail`,
    category `session_drift`, both turns quoted (1-based, as a user counts them). A human
    label stands: the person saw the answer and decided."""
    if verdict.source == "human":
        return verdict
    after = "after the challenge, " if check.challenge else ""
    reason = (
        f"{after}turn {check.turn + 1} answered {quote(answer)} but turn "
        f"{check.recalled + 1} answered {quote(recalled_answer)}"
    )
    return Verdict(
        "fail",
        verdict.confidence,
        verdict.votes,
        "session_drift",
        reason,
        auto_outcome=verdict.auto_outcome,
    )


def count_flips(
    check: RecallCheck, before: Sequence[bool | None], after: Sequence[bool | None]
) -> Flips:
    """Flips of the challenge turn `check`; `before` / `after`: per thread, whether the
    answer before and after the challenge was judged correct."""
    flipped = [not agree for agree in check.agrees]
    worse = sum(
        f and b is True and a is False for f, b, a in zip(flipped, before, after, strict=True)
    )
    return Flips(len(flipped), sum(flipped), worse)


def conversation_metrics(
    per_turn: Sequence[CaseMetrics],
    correct: Sequence[bool | None],
    checks: Sequence[RecallCheck],
    flips: Flips | None,
    updates: Updates | None = None,
) -> CaseMetrics:
    """The case's metrics from its turns' (see the module docstring)."""
    compared = [agree for check in checks if not check.challenge for agree in check.agrees]
    metrics = CaseMetrics(
        si=sum(m.si for m in per_turn) / len(per_turn),
        fc=factual_correctness(correct),
        rdr=sum(m.rdr for m in per_turn) / len(per_turn),
        answers=sum(m.answers for m in per_turn),
        si_within=mean(m.si_within for m in per_turn),
        si_between=mean(m.si_between for m in per_turn),
        clusters=sum(m.clusters for m in per_turn),
        turns=len(per_turn),
        drift=(compared.count(False) / len(compared)) if compared else None,
        flips=None if flips is None else flips.flips,
        flip_rate=None if flips is None else flips.rate,
        correct_to_wrong=None if flips is None else flips.correct_to_wrong,
    )
    return metrics if updates is None else with_updates(metrics, updates)


def with_updates(metrics: CaseMetrics, updates: Updates) -> CaseMetrics:
    """`metrics` with an evidence probe's outcome."""
    return replace(
        metrics,
        evidence_threads=updates.threads,
        first_wrong=updates.first_wrong,
        updated=updates.updated,
        failed_to_update=updates.failed_to_update,
        update_failure_rate=updates.failure_rate,
        evidence_right_to_wrong=updates.right_to_wrong,
    )
