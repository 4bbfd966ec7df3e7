"""Reruns that judge a model: on validation wordings (to choose) and on held-out variants
(to gate).

Held out: a fresh seed, held-out rule operators, held-out suite paraphrases and held-out
adversarial families only (split.py), and no variant whose text was trained on.
Validation: each treated or retain case asked exactly its validation wordings (see
partition.py); greedy answers of the base model to them are already in the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from stabtest.core.ids import case_uid
from stabtest.core.metrics import mean
from stabtest.core.results import CaseOutcome, TrainingExample
from stabtest.core.settings import Settings
from stabtest.core.suite import Adversarial, Case, ModelParaphrases, Perturbations
from stabtest.core.variant import Variant
from stabtest.remediation.split import held_out_attacks, held_out_paraphrase

Scoped = tuple[str, Case]


def load_cases(settings: Settings, wanted: set[str]) -> list[Scoped]:
    """(scope, case) of the suite files whose cases are in `wanted` (case uids)."""
    from stabtest.core.loader import find_cases
    from stabtest.variants.perturb import OPERATORS

    return find_cases(Path(settings.rootdir), settings.suites.split(), wanted, OPERATORS)


def held_out_case(case: Case, held_ops: Sequence[str], count: int) -> Case:
    """The case as the held-out rerun asks it: held-out paraphrases, operators and
    adversarial families only."""
    held_attacks = held_out_attacks()
    attacks = case.adversarial.families
    return case.model_copy(
        update={
            "paraphrases": tuple(p for p in case.paraphrases if held_out_paraphrase(p)),
            "perturbations": Perturbations(count=count, operators=tuple(held_ops), depth=1),
            "model_paraphrases": ModelParaphrases(count=0),
            "adversarial": case.adversarial.model_copy(
                update={"families": tuple(f for f in attacks if f in held_attacks)}
            ),
        }
    )


def validation_case(case: Case, wordings: Sequence[str]) -> Case:
    """The case asking exactly `wordings` (the first as its prompt), nothing generated."""
    first, *rest = sorted(wordings)
    return case.model_copy(
        update={
            "prompt": first,
            "paraphrases": tuple(rest),
            "perturbations": Perturbations(count=0),
            "model_paraphrases": ModelParaphrases(count=0),
            "adversarial": Adversarial(),
        }
    )


def trained_texts(examples: Sequence[TrainingExample]) -> set[str]:
    """Every user message training read, whitespace-normalised: the prompts, and in a
    conversation the earlier questions of the thread. A rerun variant asking one of these
    is not unseen."""
    return {
        " ".join(text.split())
        for example in examples
        for text in (example.prompt, *(user for user, _ in example.history))
    }


def _unseen(trained: set[str]) -> Callable[..., tuple[Variant, ...]]:
    def modify(*, case: Case, variants: tuple[Variant, ...]) -> tuple[Variant, ...]:
        return tuple(
            replace(v, rejected="trained on") if " ".join(v.text.split()) in trained else v
            for v in variants
        )

    return modify


def rerun(
    settings: Settings, model: str | None, cases: Sequence[Scoped], trained: set[str]
) -> dict[str, CaseOutcome]:
    """Every case judged on `model` (None: the default model), by case uid."""
    from stabtest.session import Session

    session = Session(replace(settings, model=model), modify_variants=_unseen(trained))
    for scope, case in cases:
        session.register(scope, case)
    return {case_uid(scope, case.id): session.outcome(scope, case.id) for scope, case in cases}


@dataclass(frozen=True)
class ValidationScore:
    """How a candidate did on the validation wordings, against the base model."""

    si_before: float | None
    si_after: float | None
    fc_before: float | None
    fc_after: float | None
    kept: float | None
    """Of the validation answers the base model got right (treated and retain cases),
    the fraction still right: the search's own measure of forgetting."""
    prompts: int

    @property
    def objective(self) -> float:
        """Relative SI drop plus FC gain on the treated cases' validation wordings."""
        drop = (
            1 - (self.si_after or 0.0) / self.si_before
            if self.si_before and self.si_after is not None
            else 0.0
        )
        gain = (self.fc_after or 0.0) - (self.fc_before or 0.0)
        return drop + gain

    def admissible(self, min_kept: float, max_fc_drop: float) -> bool:
        fc_ok = (
            self.fc_before is None
            or self.fc_after is None
            or self.fc_after >= self.fc_before - max_fc_drop
        )
        return fc_ok and (self.kept is None or self.kept >= min_kept)


def score(
    before: Mapping[str, CaseOutcome], after: Mapping[str, CaseOutcome], treated: set[str]
) -> ValidationScore:
    """Compare two models' outcomes on the same validation cases."""
    t_before = [before[k] for k in before if k in treated]
    t_after = [after[k] for k in before if k in treated]
    right = kept = prompts = 0
    for key, outcome in before.items():
        for vid, variant in outcome.variants.items():
            if variant.rejected:
                continue
            prompts += 1
            other = after[key].variants.get(vid)
            for a, b in zip(variant.answers, other.answers if other else (), strict=False):
                if a.correct:
                    right += 1
                    kept += bool(b.correct)
    return ValidationScore(
        si_before=mean(o.case.metrics.si for o in t_before),
        si_after=mean(o.case.metrics.si for o in t_after),
        fc_before=mean(o.case.metrics.fc for o in t_before),
        fc_after=mean(o.case.metrics.fc for o in t_after),
        kept=kept / right if right else None,
        prompts=prompts,
    )
