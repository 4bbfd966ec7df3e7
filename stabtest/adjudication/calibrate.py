"""Choose `escalate_below` from human labels (pure; no I/O).

Raising the threshold sends more verdicts to humans (cost) and leaves the machine only
the verdicts it is surest of (precision). For every candidate threshold t we measure both
on labelled data: verdicts with confidence >= t stay automatic and are compared with the
human outcome (Annotation Precision, and per class: the precision and recall of
"correct" and of "incorrect"); the rest (confidence < t) would be escalated. Targets may
be stated on any of these figures (`AGREEMENT_FIGURES`); the chosen t is the cheapest
one that reaches every target.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from stabtest.core.errors import ConfigError
from stabtest.core.metrics import agreement
from stabtest.core.results import AGREEMENT_FIGURES, Agreement


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
    agreement: Agreement


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
        figures = agreement((r.auto, r.human) for r in kept)
        curve.append(
            CurvePoint(
                threshold=threshold,
                ap=figures.ap,
                escalation_rate=escalated / total if total else 0.0,
                kept=len(kept),
                escalated=escalated,
                agreement=figures,
            )
        )
    return curve


def parse_targets(texts: Sequence[str]) -> dict[str, float]:
    """`--target` values: `0.9` (AP) or `FIGURE=VALUE` (`recall_correct=0.8`)."""
    targets: dict[str, float] = {}
    for text in texts:
        name, _, value = text.rpartition("=")
        name = name.strip().replace("-", "_") or "ap"
        if name not in AGREEMENT_FIGURES:
            raise ConfigError("--target", f"unknown figure {name!r}; known: {AGREEMENT_FIGURES}")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError("--target", f"{text!r}: expected FIGURE=NUMBER") from None
        if not 0.0 <= number <= 1.0:
            raise ConfigError("--target", f"{text!r}: expected a number between 0 and 1")
        targets[name] = number
    return targets or {"ap": 0.9}


def reaches(point: CurvePoint, targets: Mapping[str, float]) -> bool:
    """Every target met (a figure nothing defines, such as recall with no such label,
    meets none)."""
    for name, target in targets.items():
        value = point.agreement.figure(name)
        if value is None or value < target:
            return False
    return True


def choose_threshold(
    curve: Sequence[CurvePoint], targets: Mapping[str, float]
) -> CurvePoint | None:
    """The point reaching every target with the lowest escalation rate (ties: the lower
    threshold); None when no threshold reaches them."""
    reaching = [p for p in curve if reaches(p, targets)]
    if not reaching:
        return None
    return min(reaching, key=lambda p: (p.escalation_rate, p.threshold))
