"""Per-class agreement with human labels as text: one line for summaries, cells for
tables. Shown wherever AP is, so a judge that fails right answers cannot hide behind a
high AP on a set that is mostly wrong."""

from __future__ import annotations

from stabtest.core.results import Agreement

AGREEMENT_HEADERS = ["AP", "P correct", "R correct", "P incorrect", "R incorrect", "bal. acc."]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def agreement_cells(figures: Agreement) -> list[str]:
    """AP, precision and recall of each class, balanced accuracy (AGREEMENT_HEADERS)."""
    return [
        _fmt(figures.ap),
        _fmt(figures.precision_correct),
        _fmt(figures.recall_correct),
        _fmt(figures.precision_incorrect),
        _fmt(figures.recall_incorrect),
        _fmt(figures.balanced_accuracy),
    ]


def agreement_line(figures: Agreement) -> str:
    """`AP 0.934 | correct: precision 1.000, recall 0.200 | incorrect: ... | balanced
    accuracy 0.600 (61 verdicts)`."""
    return (
        f"AP {_fmt(figures.ap)} | correct: precision {_fmt(figures.precision_correct)}, "
        f"recall {_fmt(figures.recall_correct)} | incorrect: precision "
        f"{_fmt(figures.precision_incorrect)}, recall {_fmt(figures.recall_incorrect)} | "
        f"balanced accuracy {_fmt(figures.balanced_accuracy)} ({figures.issued} verdicts)"
    )
