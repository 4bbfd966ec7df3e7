"""Model-written paraphrases: the backend rewrites each case's prompt (a conversation's
opening question), and a rewrite is kept only when its embedding similarity to the
original reaches the case's threshold.

Runs at collection time for cases that ask for it, one batched request for all of a
suite's cases, through the generation cache: a rerun gets the same paraphrases (and ids)
without loading the model. A rejected slot keeps its id and is reported as skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from stabtest.core.embedding import Embedder, Vectors
from stabtest.core.plan import Generate, GenerationParams, GenerationRequest
from stabtest.core.suite import Case
from stabtest.core.variant import Variant
from stabtest.variants.paraphrase_prompt import clean_paraphrase, paraphrase_prompt

PARAPHRASE_PARAMS = GenerationParams(temperature=0.0, max_new_tokens=64)


def fill_model_paraphrases(
    generate: Generate, embedder: Embedder, cases: Sequence[tuple[Case, tuple[Variant, ...]]]
) -> list[tuple[Variant, ...]]:
    """Fill the empty `model` slots of every case's variants; returns the new tuples."""
    slots = [
        (ci, vi, attempt)
        for ci, (case, variants) in enumerate(cases)
        for attempt, vi in enumerate(i for i, v in enumerate(variants) if v.family == "model")
    ]
    if not slots:
        return [variants for _, variants in cases]
    requests = [
        GenerationRequest(
            paraphrase_prompt(cases[ci][0].prompt, cases[ci][0].model_paraphrases.count, attempt),
            PARAPHRASE_PARAMS,
        )
        for ci, _, attempt in slots
    ]
    raw = generate(requests)
    cleaned = [
        clean_paraphrase(text, cases[ci][0].prompt)
        for text, (ci, _, _) in zip(raw, slots, strict=True)
    ]
    originals = [case.prompt for case, _ in cases]
    vectors = embedder.encode(originals + [c or "" for c in cleaned])
    out = [list(variants) for _, variants in cases]
    for k, (ci, vi, _) in enumerate(slots):
        case = cases[ci][0]
        out[ci][vi] = _decide(out[ci], vi, cleaned[k], vectors[ci], vectors[len(cases) + k], case)
    return [tuple(variants) for variants in out]


def _decide(
    variants: list[Variant],
    index: int,
    text: str | None,
    original: Vectors,
    candidate: Vectors,
    case: Case,
) -> Variant:
    slot = variants[index]
    if text is None:
        return replace(slot, rejected="the model gave no usable paraphrase")
    filled = slot.reworded(text)
    known = filled.duplicate_of(variants[:index])
    if known is not None:
        return replace(filled, rejected=f"duplicate of {known}")
    similarity = float(original @ candidate)
    minimum = case.model_paraphrases.min_similarity
    if similarity < minimum:
        return replace(
            filled, rejected=f"similarity to the prompt {similarity:.2f} < {minimum:.2f}"
        )
    return replace(filled, rejected=None)
