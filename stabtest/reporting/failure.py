"""Failure messages a person can act on: the prompt variant, the answer, the reference, the
original prompt's answer beside it, and why each judge voted as it did.

Every text here may be a model's output printed to a terminal: each is shortened to
`SHOWN_CHARS` (head and tail) and its control characters are shown as escapes (an answer
must not clear the screen or plant a hyperlink). The JSON report keeps the texts whole.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from tabulate import tabulate

from stabtest.core.results import AnswerResult, CaseResult, VariantResult
from stabtest.core.text import for_terminal, terminal_safe
from stabtest.reporting.repeats_text import repeat_line

WIDTH = 60


def _wrap(text: str, width: int = WIDTH) -> str:
    """Shortened and escaped before wrapping, so columns line up and a 200 KB answer costs
    a few lines (and no time in textwrap)."""
    shown = " ".join(for_terminal(text).split())
    if len(shown) <= width:  # what textwrap would return, without its cost
        return shown
    return "\n".join(textwrap.wrap(shown, width))


def render_answer(
    result: VariantResult, answer: AnswerResult, original: VariantResult | None
) -> str:
    verdict = answer.verdict
    at_turn = f" turn {answer.turn + 1}" if result.turns else ""
    head = (
        f"{result.case_id}[{result.variant_id}] sample {answer.sample}{at_turn} "
        f"({result.origin}): {verdict.outcome.upper()}, confidence {verdict.confidence:.2f}"
        + (f", {verdict.category.replace('_', ' ')}" if verdict.category else "")
    )
    rows = (
        conversation_rows(result, answer)
        if result.turns
        else [["prompt", _wrap(result.prompt)], ["answer", _wrap(answer.text)]]
    )
    if result.reference is not None and not result.turns:
        rows.append(["reference", _wrap(result.reference)])
    same_turn = [a for a in original.answers if a.turn == answer.turn] if original else []
    if original is not None and original.variant_id != result.variant_id and same_turn:
        rows.append(["original prompt", _wrap(original.asked(same_turn[0]))])
        rows.append(["original answer", _wrap(same_turn[0].text)])
    rows.append(["why", _wrap(verdict.reason)])
    votes = [
        [
            v.judge,
            v.outcome,
            f"{v.confidence:.2f}",
            "" if v.score is None else f"{v.score:.2f}",
            _wrap(v.reason, 50),
        ]
        for v in verdict.votes
    ]
    text = head + "\n" + tabulate(rows, tablefmt="plain", disable_numparse=True)
    if votes:
        text += "\n\n" + tabulate(
            votes,
            headers=["judge", "vote", "conf", "score", "reason"],
            tablefmt="simple",
            disable_numparse=True,  # values are formatted already; parsing them is slow
        )
    return terminal_safe(text)  # ids and labels too; the texts are escaped already


def conversation_rows(result: VariantResult, answer: AnswerResult) -> list[list[str]]:
    """The conversation of `answer`'s thread (same sample) turn by turn, up to it."""
    exchanges = [*result.history(answer), (result.asked(answer), answer.text)]
    rows = []
    for turn, (user, said) in enumerate(exchanges, start=1):
        rows.append([f"turn {turn} user", _wrap(user)])
        rows.append([f"turn {turn} answer", _wrap(said)])
    return rows


def variant_headline(result: VariantResult) -> str:
    """One line: the variant, its first non-passing answer and why."""
    answer = next((a for a in result.answers if a.verdict.outcome != "pass"), result.answers[0])
    verdict = answer.verdict
    category = f" ({verdict.category.replace('_', ' ')})" if verdict.category else ""
    text = " ".join(answer.text.split())
    line = (
        f"{result.case_id}[{result.variant_id}]: {verdict.outcome.upper()}{category}, "
        f"answer {text[:60]!r}: {verdict.reason[:100]}"
    )
    return terminal_safe(line, layout=False)


def case_headline(result: CaseResult) -> str:
    return terminal_safe(f"{result.case_id}: " + "; ".join(result.failures), layout=False)


def render_variant(result: VariantResult, original: VariantResult | None) -> str:
    """All non-passing answers of a variant."""
    shown = [a for a in result.answers if a.verdict.outcome != "pass"] or list(result.answers)
    return "\n\n".join(render_answer(result, a, original) for a in shown)


def metrics_lines(result: CaseResult) -> list[str]:
    """The case's SI, FC and RDR against its thresholds, and its repeat figures."""
    m = result.metrics
    fc = "n/a" if m.fc is None else f"{m.fc:.3f}"
    lines = [
        f"SI {m.si:.3f} (max {result.max_si}), FC {fc} (min {result.min_fc}), "
        f"RDR {m.rdr:.3f}: {m.clusters} distinct answers among {m.answers}",
    ]
    repeats = repeat_line(m)
    if repeats is not None:
        lines.append(f"{repeats} ({m.samples} samples per variant)")
    return lines


def render_case(result: CaseResult, variants: Sequence[VariantResult]) -> str:
    """Why a case missed its thresholds, with every answer grouped by cluster."""
    lines = [case_headline(result), *metrics_lines(result)]
    rows = [
        [
            v.variant_id,
            a.sample,
            a.cluster,
            "-" if a.correct is None else ("yes" if a.correct else "no"),
            _wrap(v.prompt, 40),
            _wrap(a.text, 50),
        ]
        for v in variants
        for a in v.answers
    ]
    rows.sort(key=lambda row: (row[2], row[0]))
    table = tabulate(
        rows,
        headers=["variant", "sample", "cluster", "correct", "prompt", "answer"],
        disable_numparse=True,
    )
    return terminal_safe("\n".join(lines) + "\n\n" + table)


LISTED = 20
"""How many failing variants a case collected as one item names, before `... N more`."""


def variant_ids(variants: Sequence[VariantResult]) -> str:
    """`v1, v3, ...`: the first LISTED ids, then how many more."""
    shown = ", ".join(v.variant_id for v in variants[:LISTED])
    more = len(variants) - LISTED
    return shown + (f", ... {more} more" if more > 0 else "")


def whole_case_headline(result: CaseResult, failed: Sequence[VariantResult], judged: int) -> str:
    """One line for a case collected as one item: which variants failed, then the
    thresholds it missed (`c: 2 of 5 variants failed (v1, v3); SI 0.400 > max_si 0.300`)."""
    parts = [f"{len(failed)} of {judged} variants failed ({variant_ids(failed)})"] if failed else []
    text = f"{result.case_id}: " + "; ".join([*parts, *result.failures])
    return terminal_safe(text, layout=False)


def render_whole_case(
    result: CaseResult,
    variants: Sequence[VariantResult],
    failed: Sequence[VariantResult],
    original: VariantResult | None,
) -> str:
    """A case collected as one item: the headline, the case's metrics, a line per failing
    variant (the first LISTED), the rejected ones, and the first failing variant in full;
    when none failed, why the case missed its thresholds, as its own item shows it."""
    if not failed:
        return render_case(result, variants)
    judged = [v for v in variants if not v.rejected]
    lines = [whole_case_headline(result, failed, len(judged)), *metrics_lines(result)]
    lines += ["  " + variant_headline(v) for v in failed[:LISTED]]
    if len(failed) > LISTED:
        lines.append(f"  ... {len(failed) - LISTED} more failing variants")
    rejected = [v for v in variants if v.rejected]
    if rejected:
        listed = ", ".join(f"{v.variant_id} ({v.rejected})" for v in rejected[:LISTED])
        lines.append(f"rejected, not judged: {listed}")
    return terminal_safe("\n".join(lines)) + "\n\n" + render_variant(failed[0], original)
