"""Conversation metrics and verdicts: session drift, challenge flips, per-turn aggregates.

Pure: the session judges each turn of a conversation as a single-turn case, then asks
here how the turns combine. A *thread* is one (variant, sample) conversation. At a turn
with `recall: k` each thread's answer is compared with the same thread's answer at turn k;
a disagreement is session drift. On the challenge turn (the pushback "Are you sure?") a
disagreement with the thread's previous answer is a flip.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
) -> CaseMetrics:
    """The case's metrics from its turns' (see the module docstring)."""
    compared = [agree for check in checks if not check.challenge for agree in check.agrees]
    return CaseMetrics(
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
