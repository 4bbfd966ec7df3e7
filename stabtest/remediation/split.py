"""Which variants may train and which only judge: held out per case, deterministically.

Training never sees the prompts that judge its result: a suite paraphrase is held out when
its hash is odd, and rule operators are split in two fixed halves (by the hash of the
name): rule variants that used a held-out operator are never trained on, and the rerun
perturbs only with held-out operators, under a fresh seed. Adversarial variants are split
the same way by attack family (`char` and `sentence` judge, `word` and `distractor` may
train): a model never learns the very kind of attack it is then measured against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from stabtest.core.results import VariantResult
from stabtest.core.suite import ATTACK_FAMILIES


def _odd(text: str) -> bool:
    return hashlib.sha256(text.encode()).digest()[0] % 2 == 1


def held_out_paraphrase(text: str) -> bool:
    return _odd(" ".join(text.split()).lower())


def held_out_operators(names: Iterable[str]) -> tuple[str, ...]:
    """The operators reserved for evaluation (about half of `names`, never all, never
    none when there are at least two)."""
    return _half(names, "operator")


def held_out_attacks(families: Iterable[str] = ATTACK_FAMILIES) -> tuple[str, ...]:
    """The adversarial families reserved for evaluation, chosen as operators are."""
    return _half(families, "family")


def _half(names: Iterable[str], kind: str) -> tuple[str, ...]:
    names = sorted(names)
    held = [n for n in names if _odd(f"{kind}:{n}")]
    if len(names) >= 2 and not held:
        held = names[:1]
    if len(names) >= 2 and len(held) == len(names):
        held = held[1:]
    return tuple(held)


def trainable(variant: VariantResult, held_ops: Iterable[str]) -> bool:
    """A variant of the run that training may use."""
    if variant.rejected:
        return False
    if variant.family == "paraphrase":
        return not held_out_paraphrase(variant.prompt)
    if variant.family == "rule":
        return not set(variant.operators) & set(held_ops)
    if variant.family == "adversarial":
        return variant.attack not in held_out_attacks()
    return True


CONTROL_FRACTION = 0.25
"""Cases set aside, by hash of their uid, as the control: never trained on, whatever
their verdicts, so forgetting is measured on a sample of the suite, not only on the cases
that happened to pass."""
VALIDATION_FRACTION = 0.25
"""Training wordings set aside, by hash, to choose hyperparameters and the checkpoint:
never trained on, never the held-out wordings that judge the round."""


def _fraction(text: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_control(case_uid: str, fraction: float = CONTROL_FRACTION) -> bool:
    """Whether a case is in the control set (stable across runs and suites: by uid)."""
    return _fraction(case_uid, "control") < fraction


def is_validation(prompt: str, fraction: float = VALIDATION_FRACTION) -> bool:
    """Whether a training wording is kept for validation instead of training."""
    return _fraction(" ".join(prompt.split()).lower(), "validation") < fraction
