"""Performance Drop Rate of adversarial families, as PromptBench defines it.

    PDR = 1 - FC(attacked) / FC(clean)

per attack family, over the cases that have judged variants of that family:

- FC(attacked) = mean over those cases of the case's FC on its judged (not rejected)
  variants of the family: correct answers / answers judged against the reference;
- FC(clean) = mean over the same cases of the case's FC on its original prompt (`v0`).

A case counts only where both are defined (it has a reference, and at least one answer of
the family and of `v0` was judged). Cases are weighted equally, as in the suite FC. PDR is
undefined (None) when no case counts or FC(clean) is 0; it is negative when the attacked
prompts did better. 0 means the attack cost nothing; 1 means it took every right answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from stabtest.core.metrics import factual_correctness, mean
from stabtest.core.results import AttackSummary, VariantResult
from stabtest.core.suite import ATTACK_FAMILIES


def performance_drop_rate(fc_clean: float | None, fc_attacked: float | None) -> float | None:
    """1 - attacked / clean; None when either is missing or `fc_clean` is 0."""
    if fc_clean is None or fc_attacked is None or fc_clean == 0:
        return None
    return 1.0 - fc_attacked / fc_clean


def _fc(variants: Iterable[VariantResult]) -> float | None:
    return factual_correctness(a.correct for v in variants for a in v.answers)


def _family_order(family: str) -> tuple[int, str]:
    known = family in ATTACK_FAMILIES
    return (ATTACK_FAMILIES.index(family) if known else len(ATTACK_FAMILIES), family)


def attack_summaries(variants: Iterable[VariantResult]) -> dict[str, AttackSummary]:
    """Per attack family present among `variants` (rejected ones are ignored): the
    families in their documented order, then any other name."""
    by_case: dict[str, list[VariantResult]] = {}
    for variant in variants:
        if not variant.rejected:
            by_case.setdefault(variant.case_uid, []).append(variant)
    pairs: dict[str, list[tuple[float, float]]] = {}
    judged: dict[str, int] = {}
    for results in by_case.values():
        clean = _fc(v for v in results if v.family == "original")
        for family in dict.fromkeys(v.attack for v in results if v.attack):
            attacked = [v for v in results if v.attack == family]
            judged[family] = judged.get(family, 0) + len(attacked)
            fc_attacked = _fc(attacked)
            pairs.setdefault(family, [])
            if clean is not None and fc_attacked is not None:
                pairs[family].append((clean, fc_attacked))
    out = {}
    for family in sorted(pairs, key=_family_order):
        fc_clean = mean(c for c, _ in pairs[family])
        fc_attacked = mean(a for _, a in pairs[family])
        out[family] = AttackSummary(
            cases=len(pairs[family]),
            variants=judged[family],
            fc_clean=fc_clean,
            fc_attacked=fc_attacked,
            pdr=performance_drop_rate(fc_clean, fc_attacked),
        )
    return out
