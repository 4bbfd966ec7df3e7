"""Who trains, who validates, who judges: the roles of a remediation round's data.

Forgetting is prevented by design, in three parts that never share a prompt:
- **control** cases (a fixed fraction, by hash of the case uid) are never trained on,
  whatever their verdicts: the gate measures forgetting on them.
- **treated** cases have failures to correct; their right answers are replayed beside the
  corrections (weight `replay_weight`).
- **retain** cases have nothing to correct: the base model's own answers to their
  training wordings are trained on as they are (weight `retain_weight`), the rehearsal of
  experience-replay methods, so the update is anchored on what the model already does
  outside the treated cases.
Inside treated and retain cases a fraction of the training wordings (by hash) is kept
for **validation**: never trained on, it chooses the hyperparameters and the checkpoint,
so the held-out wordings that judge the round are looked at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from stabtest.core.ids import case_of, variant_of
from stabtest.core.results import TrainingExample, VariantResult
from stabtest.remediation.split import (
    CONTROL_FRACTION,
    VALIDATION_FRACTION,
    is_control,
    is_validation,
    trainable,
)

REPLAY = "replay"
RETAIN = "retain"


@dataclass(frozen=True)
class Roles:
    control_fraction: float = CONTROL_FRACTION
    validation_fraction: float = VALIDATION_FRACTION
    retain_weight: float = 0.5
    """0 turns the retain set off; cases with nothing to correct then join the control."""


@dataclass(frozen=True)
class Partition:
    train: tuple[TrainingExample, ...]
    treated: frozenset[str]
    retain: frozenset[str]
    control: frozenset[str]
    validation: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Per treated or retain case uid, the validation wordings (whitespace-normalised
    prompts of trainable variants that training never reads)."""
    held_back: int = 0
    """Examples left out because their wording is a validation wording."""
    rewritten: int = 0
    """Cases whose bare reference target the base model restated (rewrite.py)."""
    bare: int = 0
    corrections_seen: int = 0
    """Corrections (not replay) before control cases and validation wordings left."""

    def validation_prompts(self) -> int:
        return sum(len(prompts) for prompts in self.validation.values())


def normalise(text: str) -> str:
    return " ".join(text.split())


def partition(
    examples: Iterable[TrainingExample],
    variants: Sequence[VariantResult],
    held_ops: Iterable[str],
    roles: Roles = Roles(),
    method: str = "sft",
) -> Partition:
    """Split `examples` (built from `variants`) into the roles of the module docstring.
    DPO keeps only examples with a rejected answer (replay and retain have none)."""
    held = tuple(held_ops)
    by_uid = {v.uid: v for v in variants}
    cases = {v.case_uid for v in variants}
    control = {c for c in cases if is_control(c, roles.control_fraction)}

    def validation(example: TrainingExample) -> bool:
        variant = by_uid.get(variant_of(example.uid))
        prompt = variant.prompt if variant is not None else example.prompt
        return is_validation(prompt, roles.validation_fraction)

    kept, held_back, seen = [], 0, 0
    for example in examples:
        seen += example.family != REPLAY
        if case_of(example.uid) in control:
            continue
        if validation(example):
            held_back += 1
            continue
        kept.append(example)
    corrected = {case_of(e.uid) for e in kept if e.family != REPLAY}
    train: list[TrainingExample] = []
    for example in kept:
        case = case_of(example.uid)
        if example.family == REPLAY and case not in corrected:
            if roles.retain_weight <= 0 or method == "dpo":
                continue
            example = replace(example, family=RETAIN, weight=roles.retain_weight)
        if method == "dpo" and example.rejected is None:
            continue
        train.append(example)
    treated = frozenset(case_of(e.uid) for e in train if e.family not in (REPLAY, RETAIN))
    retain = frozenset(case_of(e.uid) for e in train if e.family == RETAIN) - treated
    control |= cases - treated - retain
    wordings: dict[str, set[str]] = {}
    for variant in variants:
        case = variant.case_uid
        if case not in treated | retain or not trainable(variant, held):
            continue
        if is_validation(variant.prompt, roles.validation_fraction):
            wordings.setdefault(case, set()).add(normalise(variant.prompt))
    return Partition(
        train=tuple(train),
        treated=treated,
        retain=retain,
        control=frozenset(control),
        validation={case: frozenset(texts) for case, texts in sorted(wordings.items())},
        held_back=held_back,
        corrections_seen=seen,
    )
