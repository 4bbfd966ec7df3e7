"""The `word` adversarial family: greedy synonym swaps under an embedding-similarity bound.

Each slot tries the prompt's thesaurus swaps one at a time, in a seeded order, and keeps a
swap only when the attacked prompt's cosine to the original stays at least the case's
`adversarial.min_similarity` (a swap that would cross it is skipped, the next one tried):
the attack changes as many words as the meaning allows.

A case's second word variant would often repeat its first (most prompts have few words
the thesaurus knows, and all of them fit the bound), so the k-th slot of a case leaves out
the word each earlier slot changed first: its text always differs from theirs. Slots of
the same rank advance together in rounds, one swap each, so every round is one batched
`encode` over a suite's slots. A slot where no swap survives, or whose text another
variant already has, is rejected (skipped).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from stabtest.core.embedding import Embedder, Vectors
from stabtest.core.variant import Variant, stable_seed
from stabtest.variants.adversarial import Swap, apply_swaps, word_swaps
from stabtest.variants.registry import Expanded


@dataclass
class _Slot:
    case: int
    rank: int
    index: int
    prompt: str
    minimum: float
    plan: list[Swap]
    kept: list[Swap] = field(default_factory=list)
    tried: int = 0
    similarity: float = 1.0
    excluded: int = 0
    """Words left out because earlier slots of the case changed them first."""

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
    slots = []
    for ci, (case, variants) in enumerate(cases):
        empty = [vi for vi, v in enumerate(variants) if v.attack == "word" and not v.text]
        for rank, vi in enumerate(empty):
            rng = random.Random(stable_seed(seed, scope, case.id, variants[vi].id))
            plan = word_swaps(case.prompt, rng)
            slots.append(_Slot(ci, rank, vi, case.prompt, case.adversarial.min_similarity, plan))
    if not slots:
        return [tuple(row) for row in out]
    prompts = sorted({slot.prompt for slot in slots})
    original = dict(zip(prompts, embedder.encode(prompts), strict=True))
    for rank in range(max(slot.rank for slot in slots) + 1):
        wave = [slot for slot in slots if slot.rank == rank]
        for slot in wave:
            taken = {
                e.kept[0].start for e in slots if e.case == slot.case and e.rank < rank and e.kept
            }
            slot.excluded = len(taken)
            slot.plan = [swap for swap in slot.plan if swap.start not in taken]
        _attack(embedder, original, wave)
    for slot in slots:
        row = out[slot.case]
        row[slot.index] = _decide(row, slot)
    return [tuple(row) for row in out]


def _attack(embedder: Embedder, original: dict[str, Vectors], slots: list[_Slot]) -> None:
    """Run the greedy attack of `slots` to the end, one batched round per swap."""
    while active := [slot for slot in slots if slot.active]:
        vectors = embedder.encode([slot.candidate() for slot in active])
        for slot, vector in zip(active, vectors, strict=True):
            similarity = float(original[slot.prompt] @ vector)
            if similarity >= slot.minimum:
                slot.kept.append(slot.plan[slot.tried])
                slot.similarity = similarity
            slot.tried += 1


def _decide(variants: list[Variant], slot: _Slot) -> Variant:
    variant = variants[slot.index]
    if not slot.kept:
        if slot.plan:
            why = f"no synonym swap kept the similarity >= {slot.minimum:.2f}"
        elif slot.excluded:
            why = "no word left that an earlier word variant did not change first"
        else:
            why = "no word the thesaurus knows"
        return replace(variant, rejected=why)
    text = apply_swaps(slot.prompt, slot.kept)
    swaps = sorted(slot.kept, key=lambda s: s.start)
    operators = tuple(f"{slot.prompt[s.start : s.end]}->{s.replacement}" for s in swaps)
    attacked = variant.reworded(text)
    known = attacked.duplicate_of(variants[: slot.index])
    rejected = None if known is None else f"duplicate of {known}"
    return replace(attacked, operators=operators, rejected=rejected)
