"""Choose `escalate_below` from human labels (pure; no I/O).

Raising the threshold sends more verdicts to humans (cost) and leaves the machine only
the verdicts it is surest of (precision). For every candidate threshold t we measure both
on labelled data: verdicts with confidence >= t stay automatic and are compared with the
human outcome (Annotation Precision); the rest (confidence < t) would be escalated. The
chosen t is the cheapest one that reaches the target precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from stabtest.core.metrics import annotation_precision


class CalibrationRow(NamedTuple):
    """One labelled verdict: what the machine leaned to, how sure it was, what the human
    decided."""

    auto: str
    confidence: float
    human: str


class CurvePoint(NamedTuple):
    threshold: float
    ap: float | None  # None when every verdict would be escalated
    escalation_rate: float
    kept: int
    escalated: int


def _usable(rows: Iterable[CalibrationRow]) -> list[CalibrationRow]:
    return [r for r in rows if r.auto in ("pass", "fail") and r.human in ("pass", "fail")]


def calibration_curve(rows: Iterable[CalibrationRow]) -> list[CurvePoint]:
    """One point per candidate threshold (0, 1 and every distinct confidence), ascending.
    Rows without a pass/fail on both sides are left out."""
    usable = _usable(rows)
    thresholds = sorted({0.0, 1.0, *(r.confidence for r in usable)})
    total = len(usable)
    curve = []
    for threshold in thresholds:
        kept = [r for r in usable if r.confidence >= threshold]
        escalated = total - len(kept)
        curve.append(
            CurvePoint(
                threshold=threshold,
                ap=annotation_precision((r.auto, r.human) for r in kept),
                escalation_rate=escalated / total if total else 0.0,
                kept=len(kept),
                escalated=escalated,
            )
        )
    return curve


def choose_threshold(curve: Sequence[CurvePoint], target_ap: float = 0.9) -> CurvePoint | None:
    """The point reaching `target_ap` with the lowest escalation rate (ties: the lower
    threshold); None when no threshold reaches it."""
    reaching = [p for p in curve if p.ap is not None and p.ap >= target_ap]
    if not reaching:
        return None
    return min(reaching, key=lambda p: (p.escalation_rate, p.threshold))
