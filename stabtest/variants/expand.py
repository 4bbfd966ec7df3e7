"""Expand a case into its variants: the original, the suite's paraphrases, seeded rule
perturbations, and empty model-paraphrase slots that the session fills in one batch."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stabtest.core.suite import Case
from stabtest.core.variant import Variant, stable_seed

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
        variants = [Variant(case.id, 0, case.prompt, "original")]
        for text in case.paraphrases:
            variants.append(Variant(case.id, len(variants), text, "paraphrase"))
        spec = case.perturbations
        if spec.count:
            perturb = self.perturb or _default_perturber()
            rng = random.Random(stable_seed(self.seed, scope, case.id, "rules"))
            seen = {v.text for v in variants}
            for _ in range(spec.count):
                text, ops = case.prompt, tuple[str, ...]()
                for _attempt in range(8):
                    text, ops = perturb(case.prompt, spec.operators, spec.depth, rng)
                    if text not in seen:
                        break
                seen.add(text)
                variants.append(Variant(case.id, len(variants), text, "rule", ops))
        for _ in range(case.model_paraphrases.count):
            variants.append(
                Variant(case.id, len(variants), "", "model", rejected="not generated yet")
            )
        return tuple(variants)


def _default_perturber() -> Perturber:
    from stabtest.variants.perturb import perturb

    return perturb
