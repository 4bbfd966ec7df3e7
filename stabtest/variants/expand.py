"""Expand a case into its variants: the original, the suite's paraphrases, seeded rule
perturbations, and empty model-paraphrase slots that the session fills in one batch; then
the adversarial variants of each family (`word` ones as slots the session fills, since they
need the embedder). Adversarial variants come last, so asking for them moves no other id.

A prompt asked twice is one observation, not two: a paraphrase or perturbation whose text
an earlier variant already has keeps its slot (ids stay positional) but is rejected as a
duplicate, so it is neither generated nor counted, and a `DuplicateVariants` warning says
how many of the case's variants added nothing (e.g. `casing` on "12 + 7 = ?").
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from stabtest.core.suite import Case
from stabtest.core.variant import Family, Variant, stable_seed


class DuplicateVariants(UserWarning):
    """Some variants of a case repeat an earlier prompt; they are rejected, not counted."""


Perturber = Callable[[str, Sequence[str], int, random.Random], tuple[str, tuple[str, ...]]]
"""(text, operator names, depth, rng) -> (perturbed text, operators applied)."""


@dataclass
class VariantExpander:
    """Expands a case into its variants. `perturb` is the rule engine
    (stabtest.variants.perturb by default)."""

    seed: int
    perturb: Perturber | None = None
    _cache: dict[tuple[str, str], tuple[Variant, ...]] = field(default_factory=dict)

    def expand(self, case: Case, scope: str) -> tuple[Variant, ...]:
        key = (scope, case.id)
        if key not in self._cache:
            self._cache[key] = self._expand(case, scope)
        return self._cache[key]

    def _expand(self, case: Case, scope: str) -> tuple[Variant, ...]:
        if case.turns:
            return self._expand_conversation(case, scope)
        variants = [Variant(case.id, 0, case.prompt, "original")]
        first: dict[str, str] = {case.prompt: "v0"}  # text -> id of the variant that has it

        def add(text: str, family: Family, operators: tuple[str, ...] = ()) -> None:
            index = len(variants)
            known = first.setdefault(text, f"v{index}")
            rejected = None if known == f"v{index}" else f"duplicate of {known}"
            variants.append(Variant(case.id, index, text, family, operators, rejected))

        for text in case.paraphrases:
            add(text, "paraphrase")
        spec = case.perturbations
        if spec.count:
            perturb = self.perturb or _default_perturber()
            rng = random.Random(stable_seed(self.seed, scope, case.id, "rules"))
            for _ in range(spec.count):
                text, ops = case.prompt, tuple[str, ...]()
                for _attempt in range(8):
                    text, ops = perturb(case.prompt, spec.operators, spec.depth, rng)
                    if text not in first:
                        break
                add(text, "rule", ops)
        self._warn_duplicates(case, scope, variants[1:])
        for _ in range(case.model_paraphrases.count):
            variants.append(
                Variant(case.id, len(variants), "", "model", rejected="not generated yet")
            )
        variants += self._attacks(case, scope, first, len(variants))
        return tuple(variants)

    def _expand_conversation(self, case: Case, scope: str) -> tuple[Variant, ...]:
        """A variant of a conversation is one sequence of user messages: `v0` the turns as
        written; paraphrase variant j takes each turn's j-th paraphrase where it has one
        (else the turn as written); a rule variant perturbs every turn but the challenge.
        Same slots, ids and duplicate rule as a single prompt."""
        original = tuple(t.prompt for t in case.turns)
        variants = [Variant(case.id, 0, original[0], "original", turns=original)]
        first: dict[tuple[str, ...], str] = {original: "v0"}

        def add(turns: tuple[str, ...], family: Family, operators: tuple[str, ...] = ()) -> None:
            index = len(variants)
            known = first.setdefault(turns, f"v{index}")
            rejected = None if known == f"v{index}" else f"duplicate of {known}"
            variants.append(
                Variant(case.id, index, turns[0], family, operators, rejected, turns=turns)
            )

        for j in range(max(len(t.paraphrases) for t in case.turns)):
            add(
                tuple(t.paraphrases[j] if j < len(t.paraphrases) else t.prompt for t in case.turns),
                "paraphrase",
            )
        spec = case.perturbations
        if spec.count:
            perturb = self.perturb or _default_perturber()
            rng = random.Random(stable_seed(self.seed, scope, case.id, "rules"))
            for _ in range(spec.count):
                turns, ops = original, tuple[str, ...]()
                for _attempt in range(8):
                    turns, ops = _perturb_turns(case, perturb, rng)
                    if turns not in first:
                        break
                add(turns, "rule", ops)
        self._warn_duplicates(case, scope, variants[1:])
        blank = ("", *original[1:])  # a slot for a rewritten opening question
        for _ in range(case.model_paraphrases.count):
            variants.append(
                Variant(
                    case.id, len(variants), "", "model", rejected="not generated yet", turns=blank
                )
            )
        variants += self._attacks(case, scope, first, len(variants))
        return tuple(variants)

    @staticmethod
    def _warn_duplicates(
        case: Case,
        scope: str,
        variants: Sequence[Variant],
        what: str = "paraphrases and perturbations",
    ) -> None:
        """One warning naming the candidates (never v0) rejected as duplicates."""
        duplicates = [v for v in variants if v.rejected and v.rejected.startswith("duplicate")]
        if duplicates:
            warnings.warn(
                DuplicateVariants(
                    f"stabtest: case {case.id!r} ({scope}): {len(duplicates)} of "
                    f"{len(variants)} {what} gave no new prompt "
                    f"({', '.join(v.id for v in duplicates)}); they are skipped, not counted"
                ),
                stacklevel=4,
            )

    def _attacks(self, case: Case, scope: str, first: dict[Any, str], start: int) -> list[Variant]:
        """`count` variants per adversarial family, numbered from `start`, each family
        under its own seed (adding a family changes no other family's variants). A text
        an earlier variant has is rejected as a duplicate, as above. In a conversation
        the opening question is attacked; later turns stay as written."""
        spec = case.adversarial
        if not spec.families:
            return []
        from stabtest.variants.adversarial import attack

        blank = ("", *(turn.prompt for turn in case.turns[1:])) if case.turns else ()

        def asked(variant: Variant) -> str | tuple[str, ...]:  # what `first` is keyed by
            return variant.turns or variant.text

        out: list[Variant] = []
        for family in spec.families:
            rng = random.Random(stable_seed(self.seed, scope, case.id, "attack", family))
            for _ in range(spec.count):
                slot = Variant(
                    case.id, start + len(out), "", "adversarial", attack=family, turns=blank
                )
                if family == "word":  # filled by the session: it needs the embedder
                    out.append(replace(slot, rejected="not attacked yet"))
                    continue
                attacked = slot
                for _attempt in range(8):
                    text, ops = attack(family, case.prompt, rng)
                    attacked = replace(slot.reworded(text), operators=ops)
                    if asked(attacked) not in first:
                        break
                known = first.setdefault(asked(attacked), slot.id)
                rejected = None if known == slot.id else f"duplicate of {known}"
                out.append(replace(attacked, rejected=rejected))
        self._warn_duplicates(case, scope, out, "adversarial variants")
        return out


def _perturb_turns(
    case: Case, perturb: Perturber, rng: random.Random
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every turn but the challenge perturbed with the same rng, in turn order; the
    operators applied, in order, without repeats."""
    spec = case.perturbations
    turns: list[str] = []
    applied: list[str] = []
    for turn in case.turns:
        if turn.challenge:
            turns.append(turn.prompt)
            continue
        text, ops = perturb(turn.prompt, spec.operators, spec.depth, rng)
        turns.append(text)
        applied += [op for op in ops if op not in applied]
    return tuple(turns), tuple(applied)


def _default_perturber() -> Perturber:
    from stabtest.variants.perturb import perturb

    return perturb
