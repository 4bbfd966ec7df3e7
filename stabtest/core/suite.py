"""The suite model: what a user expects of a model, validated before anything runs.

A suite is a YAML file (or a `stability` marker in a Python test) listing cases. Each case
is one question asked many equivalent ways; the variants must agree and, when a reference
is given, be right. Models are frozen and forbid unknown keys so that a typo in a suite is
an error that names the key instead of a silently ignored setting.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

CheckName = Literal["semantic", "reference", "numeric", "contradiction", "llm_judge"]
CaseKind = Literal["fact", "numeric", "open"]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class Sampling(_Frozen):
    """How answers are drawn. Part of the expectation: `samples` > 1 with temperature > 0
    measures run-to-run instability of the same prompt."""

    temperature: Annotated[float, Field(ge=0.0, le=5.0)] = 0.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    samples: Annotated[int, Field(ge=1, le=100)] = 1
    max_new_tokens: Annotated[int, Field(ge=1, le=4096)] = 48
    system_prompt: str | None = None


class Perturbations(_Frozen):
    """Seeded rule-based perturbations: `count` variants, each composing `depth` operators
    drawn from `operators` (all registered operators when empty)."""

    count: Annotated[int, Field(ge=0, le=200)] = 0
    operators: tuple[str, ...] = ()
    depth: Annotated[int, Field(ge=1, le=5)] = 1

    @field_validator("operators")
    @classmethod
    def _known_operators(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        """Checked against the operator names the loader's caller passes as validation
        context (the registry lives in stabtest.variants, a layer above this one)."""
        known: Collection[str] | None = (info.context or {}).get("operators")
        if known is None:
            return value
        for name in value:
            if name not in known:
                raise ValueError(
                    f"unknown perturbation operator {name!r} (known: {', '.join(known)})"
                )
        return value


class ModelParaphrases(_Frozen):
    """Paraphrases written by the backend model, kept when their embedding similarity to
    the original prompt reaches `min_similarity`."""

    count: Annotated[int, Field(ge=0, le=50)] = 0
    min_similarity: Probability = 0.75


ATTACK_FAMILIES = ("char", "word", "sentence", "distractor")
"""The adversarial variant families (stabtest.variants.adversarial implements each)."""


class Adversarial(_Frozen):
    """Adversarial variants: `count` per family in `families`, each marked with its family.
    A `word` attack keeps a synonym swap only while the attacked prompt's embedding
    similarity to the original stays at least `min_similarity`."""

    families: tuple[str, ...] = ()
    count: Annotated[int, Field(ge=1, le=50)] = 2
    min_similarity: Probability = 0.85

    @field_validator("families")
    @classmethod
    def _known_families(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in ATTACK_FAMILIES:
                close = difflib.get_close_matches(name, ATTACK_FAMILIES, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"unknown adversarial family {name!r}{hint}; "
                    f"valid families: {', '.join(ATTACK_FAMILIES)}"
                )
        return tuple(dict.fromkeys(value))


class Thresholds(_Frozen):
    """Case gates: Stability Index at most `max_si`, Factual Correctness at least `min_fc`.
    `None` means "use the suite / session default"."""

    max_si: Probability | None = None
    min_fc: Probability | None = None


class CaseDefaults(_Frozen):
    """Values a suite sets once for all of its cases."""

    kind: CaseKind | None = None
    checks: tuple[CheckName, ...] | None = None
    sampling: Sampling = Sampling()
    perturbations: Perturbations = Perturbations()
    model_paraphrases: ModelParaphrases = ModelParaphrases()
    adversarial: Adversarial = Adversarial()
    thresholds: Thresholds = Thresholds()
    numeric_tolerance: Annotated[float, Field(ge=0.0)] = 1e-6


class Case(_Frozen):
    """One expectation: a prompt, its equivalent forms, and what a right answer is."""

    id: str
    prompt: Annotated[str, Field(min_length=1)]
    reference: str | None = None
    aliases: tuple[str, ...] = ()
    incorrect: tuple[str, ...] = ()
    paraphrases: tuple[str, ...] = ()
    kind: CaseKind = "fact"
    checks: tuple[CheckName, ...] = ()
    sampling: Sampling = Sampling()
    perturbations: Perturbations = Perturbations()
    model_paraphrases: ModelParaphrases = ModelParaphrases()
    adversarial: Adversarial = Adversarial()
    thresholds: Thresholds = Thresholds()
    numeric_tolerance: Annotated[float, Field(ge=0.0)] = 1e-6
    tags: tuple[str, ...] = ()
    line: int | None = Field(default=None, exclude=True)

    @field_validator("id")
    @classmethod
    def _id_is_safe(cls, value: str) -> str:
        if not CASE_ID.match(value):
            raise ValueError(
                f"case id {value!r} must start with a letter or digit and use only "
                "letters, digits, '-', '_' and '.'"
            )
        return value

    @model_validator(mode="after")
    def _default_checks(self) -> Case:
        if not self.checks:
            checks: tuple[CheckName, ...] = ("semantic",)
            if self.reference is not None:
                checks += ("numeric",) if self.kind == "numeric" else ("reference",)
            object.__setattr__(self, "checks", checks)
        needs_reference = {"reference", "numeric"} & set(self.checks)
        if needs_reference and self.reference is None:
            raise ValueError(f"checks {sorted(needs_reference)} need a 'reference'")
        return self

    @property
    def has_reference(self) -> bool:
        return self.reference is not None


class Suite(_Frozen):
    """A named list of cases read from one file."""

    name: str
    path: str
    cases: tuple[Case, ...]

    def case(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(case_id)
