"""Variants: the equivalent forms of a case's prompt, with ids that never move.

Ids are positional within fixed slots: `v0` is the original prompt, then the suite's own
paraphrases, then the seeded rule perturbations, then the model-paraphrase slots. The same
case and seed always give the same ids and texts, in every process and xdist worker.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from stabtest.core.suite import Case

Family = Literal["original", "paraphrase", "rule", "model"]


@dataclass(frozen=True)
class Variant:
    """One prompt to ask. `family` groups variants by origin (remediation holds families
    out); `operators` names the perturbations that made a `rule` variant."""

    case_id: str
    index: int
    text: str
    family: Family
    operators: tuple[str, ...] = ()
    rejected: str | None = None

    @property
    def id(self) -> str:
        return f"v{self.index}"


def stable_seed(*parts: object) -> int:
    """A 31-bit seed derived from its parts with SHA-256: unlike `hash()`, the same in
    every process, so xdist workers and reruns agree; small enough for SQLite and torch."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


Perturber = Callable[[str, Sequence[str], int, random.Random], tuple[str, tuple[str, ...]]]
"""(text, operator names, depth, rng) -> (perturbed text, operators applied)."""


@dataclass
class VariantExpander:
    """Expands a case into its variants. `perturb` is the rule engine (stabtest.core.perturb);
    model paraphrases are filled in later by the session, so here they are empty slots."""

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
                text, ops = case.prompt, ()
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
    from stabtest.core.perturb import perturb

    return perturb
