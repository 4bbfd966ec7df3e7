"""An item's results as an HTML fragment for its row in pytest-html's report: the prompt,
every answer with its verdict, and each judge's vote; for a case, its metrics.

Every text is a model's (or a suite author's) and is escaped: an answer holding `<script>`
shows as text. Long texts are shortened to `SHOWN_CHARS` (the JSON report keeps them whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from stabtest.core.results import AnswerResult, CaseResult, VariantResult
from stabtest.core.text import SHOWN_CHARS, shorten_middle

STYLE = (
    "<style>.stabtest pre{white-space:pre-wrap;margin:.2em 0 .6em}"
    ".stabtest table{border-collapse:collapse;margin-bottom:.8em}"
    ".stabtest td,.stabtest th{border:1px solid #ccc;padding:2px 6px;text-align:left}</style>"
)


def _text(text: str) -> str:
    return escape(shorten_middle(text, SHOWN_CHARS))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A small table; cells are escaped here."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_text(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _answer(answer: AnswerResult, samples: Sequence[int]) -> str:
    """One answer, its verdict and votes; `samples` that gave the same answer and verdict
    are listed once (greedy and cached samples often do)."""
    verdict = answer.verdict
    said = [verdict.outcome.upper(), f"confidence {verdict.confidence:.2f}"]
    if verdict.category:
        said.append(verdict.category.replace("_", " "))
    if verdict.source == "human":
        said.append("human label")
    votes = [
        [
            vote.judge,
            vote.outcome,
            f"{vote.confidence:.2f}",
            "" if vote.score is None else f"{vote.score:.2f}",
            vote.reason,
        ]
        for vote in verdict.votes
    ]
    return (
        f"<p><b>answer, sample{'s' if len(samples) > 1 else ''} "
        f"{', '.join(map(str, samples))}</b>: {escape(', '.join(said))}"
        + (f" &mdash; {_text(verdict.reason)}" if verdict.reason else "")
        + f"</p><pre>{_text(answer.text)}</pre>"
        + (_table(["judge", "vote", "confidence", "score", "reason"], votes) if votes else "")
    )


def variant_html(result: VariantResult) -> str:
    """The variant's prompt (and where it came from), reference, answers and votes."""
    origin = result.origin
    parts = [
        f"<p><b>{escape(result.case_id)}[{escape(result.variant_id)}] prompt</b> "
        f"({escape(origin)})</p><pre>{_text(result.prompt)}</pre>"
    ]
    if result.reference is not None:
        parts.append(f"<p><b>reference</b>: {_text(result.reference)}</p>")
    if result.rejected:
        parts.append(f"<p><b>rejected</b>: {_text(result.rejected)}</p>")
    same: dict[tuple[str, object], list[AnswerResult]] = {}
    for answer in result.answers:
        same.setdefault((answer.text, answer.verdict), []).append(answer)
    parts += [_answer(group[0], [a.sample for a in group]) for group in same.values()]
    return "".join(parts)


def case_html(result: CaseResult) -> str:
    """The case's metrics against its thresholds, and why it failed."""
    m = result.metrics

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    rows = [
        ["SI (lower is better)", number(m.si), f"max {number(result.max_si)}"],
        ["FC", number(m.fc), f"min {number(result.min_fc)}"],
        ["RDR", number(m.rdr), ""],
        ["answers / clusters", f"{m.answers} / {m.clusters}", ""],
        ["escalated", str(result.escalated), ""],
    ]
    verdict = "PASS" if result.passed else "FAIL: " + "; ".join(result.failures)
    return f"<p><b>{escape(result.case_id)}</b>: {_text(verdict)}</p>" + _table(
        ["metric", "value", "threshold"], rows
    )


def results_html(results: Sequence[VariantResult | CaseResult]) -> str:
    """Every result an item recorded (an inline `stab.check` records several)."""
    parts = [
        variant_html(result) if isinstance(result, VariantResult) else case_html(result)
        for result in results
    ]
    return STYLE + '<div class="stabtest">' + "<hr>".join(parts) + "</div>"
