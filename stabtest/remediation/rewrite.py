"""Targets in the model's own words: the base model restates a reference answer.

A failed case whose model never gave a right answer trains towards its reference. Written
as the bare reference ("Spain."), that target teaches a terse style the model never had,
and the style is what spreads: after training on such targets the bundled model answered
"Atari 8-bit." where it used to say "Atari 8-bit family, a product developed by Atari."
(measured in `benchmarks/remediation.py`: of the right validation answers only 63% stayed
right). Self-Distillation Fine-Tuning (Yang et al., ACL 2024) closes that gap by having
the model itself rewrite each target. Here: a fill-in-the-blank question gets its
sentence back with the blank filled (how the model answers such questions when it knows
them); any other question is given to the base model with the reference to restate, and
its sentence becomes the target when it states the reference and does not echo the
instruction. Otherwise the bare reference stays. One target per case, from its first
wording, so every wording still trains towards one answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from stabtest.core.ids import case_of, variant_of
from stabtest.core.plan import GenerationParams, GenerationRequest
from stabtest.core.results import TrainingExample, VariantResult
from stabtest.remediation.dataset import from_reference

Generate = Callable[[Sequence[GenerationRequest]], list[str]]

TEMPLATE = (
    "Rewrite this answer as one complete sentence that answers the question.\n"
    "Question: {question}\nAnswer: {reference}"
)
BLANK = "___"
ECHOES = ("rewrite", "correct answer", "answer:", "question:")
PARAMS = GenerationParams(temperature=0.0, max_new_tokens=64)
MAX_CHARS = 300


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .!?")


def states(answer: str, reference: str) -> bool:
    """Whether a rewrite is usable: it states the reference, echoes no part of the
    instruction and is not runaway text."""
    text = _norm(answer)
    return (
        bool(text)
        and _norm(reference) in text
        and len(answer) <= MAX_CHARS
        and not any(echo in text for echo in ECHOES)
    )


def fill_blank(question: str, reference: str) -> str | None:
    """`Complete the sentence: X is located in ___.` -> `X is located in Spain.`; None
    without a blank."""
    if BLANK not in question:
        return None
    before, _, after = question.partition(BLANK)
    head = before.rsplit(":", 1)[-1] if ":" in before else before
    head = head.rsplit(". ", 1)[-1].lstrip()
    tail = after.split(". ", 1)[0].rstrip()
    sentence = " ".join(f"{head}{reference.strip()}{tail}".split())
    sentence = sentence[:1].upper() + sentence[1:]
    return sentence if sentence.endswith((".", "!", "?")) else sentence + "."


def rewrite_targets(
    examples: Sequence[TrainingExample], variants: Sequence[VariantResult], generate: Generate
) -> tuple[list[TrainingExample], int, int]:
    """`examples` with every bare-reference target of a single-prompt case replaced by
    the base model's own statement of it; also (rewritten cases, cases kept bare)."""
    by_uid = {v.uid: v for v in variants}
    first: dict[str, VariantResult] = {}
    for variant in variants:
        first.setdefault(variant.case_uid, variant)
    wanted: dict[str, tuple[str, str]] = {}
    for example in examples:
        asked = by_uid.get(variant_of(example.uid))
        case = case_of(example.uid)
        if asked is None or example.history or not asked.reference:
            continue
        if example.completion == from_reference(asked.reference) and case in first:
            wanted[case] = (first[case].prompt, asked.reference)
    targets = {
        case: filled
        for case, (question, reference) in wanted.items()
        if (filled := fill_blank(question, reference)) is not None
    }
    restate = sorted(c for c in wanted if c not in targets)
    requests = [
        GenerationRequest(TEMPLATE.format(question=q, reference=r), PARAMS)
        for q, r in (wanted[c] for c in restate)
    ]
    answers = generate(requests) if requests else []
    targets |= {
        case: " ".join(answer.split())
        for case, answer in zip(restate, answers, strict=True)
        if states(answer, wanted[case][1])
    }
    out = [
        replace(e, completion=targets[case_of(e.uid)])
        if case_of(e.uid) in targets
        and e.completion == from_reference(wanted[case_of(e.uid)][1])
        and not e.history
        else e
        for e in examples
    ]
    return out, len(targets), len(wanted) - len(targets)
