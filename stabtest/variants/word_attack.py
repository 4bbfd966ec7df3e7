"""The `word` adversarial family: greedy synonym swaps under an embedding-similarity bound.

Each slot tries the prompt's thesaurus swaps one at a time, in a seeded order, and keeps a
swap only when the attacked prompt's cosine to the original stays at least the case's
`adversarial.min_similarity` (a swap that would cross it is skipped, the next one tried):
the attack changes as many words as the meaning allows. Slots advance in rounds, one swap
each, so every round is one batched `encode` over all of a suite's slots. A slot where no
swap survives, or whose text an earlier variant already has, is rejected (skipped).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from stabtest.core.embedding import Embedder
from stabtest.core.variant import Variant, stable_seed
from stabtest.variants.adversarial import Swap, apply_swaps, word_swaps
from stabtest.variants.registry import Expanded


@dataclass
class _Slot:
    case: int
    index: int
    prompt: str
    minimum: float
    plan: list[Swap]
    kept: list[Swap] = field(default_factory=list)
    tried: int = 0
    similarity: float = 1.0

    @property
    def active(self) -> bool:
        return self.tried < len(self.plan)

    def candidate(self) -> str:
        return apply_swaps(self.prompt, [*self.kept, self.plan[self.tried]])


def fill_word_attacks(
    embedder: Embedder, seed: int, scope: str, cases: Expanded
) -> list[tuple[Variant, ...]]:
    """Fill every unfilled `word` slot of the cases' variants; returns the new tuples."""
    out = [list(variants) for _, variants in cases]
    slots = [
        _Slot(
            ci,
            vi,
            case.prompt,
            case.adversarial.min_similarity,
            word_swaps(case.prompt, random.Random(stable_seed(seed, scope, case.id, v.id))),
        )
        for ci, (case, variants) in enumerate(cases)
        for vi, v in enumerate(variants)
        if v.attack == "word" and not v.text
    ]
    prompts = sorted({slot.prompt for slot in slots})
    original = dict(zip(prompts, embedder.encode(prompts), strict=True))
    while active := [slot for slot in slots if slot.active]:
        texts = [slot.candidate() for slot in active]
        vectors = embedder.encode(texts)
        for slot, vector in zip(active, vectors, strict=True):
            similarity = float(original[slot.prompt] @ vector)
            if similarity >= slot.minimum:
                slot.kept.append(slot.plan[slot.tried])
                slot.similarity = similarity
            slot.tried += 1
    for slot in slots:
        variants = out[slot.case]
        variants[slot.index] = _decide(variants, slot)
    return [tuple(variants) for variants in out]


def _decide(variants: list[Variant], slot: _Slot) -> Variant:
    variant = variants[slot.index]
    if not slot.kept:
        why = (
            "no word the thesaurus knows"
            if not slot.plan
            else f"no synonym swap kept the similarity >= {slot.minimum:.2f}"
        )
        return replace(variant, rejected=why)
    text = apply_swaps(slot.prompt, slot.kept)
    swaps = sorted(slot.kept, key=lambda s: s.start)
    operators = tuple(f"{slot.prompt[s.start : s.end]}->{s.replacement}" for s in swaps)
    rejected = None
    for other in variants[: slot.index]:
        if other.text and other.text.strip().lower() == text.strip().lower():
            rejected = f"duplicate of {other.id}"
            break
    return replace(variant, text=text, operators=operators, rejected=rejected)
