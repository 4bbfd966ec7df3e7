"""The suite model: what a user expects of a model, validated before anything runs.

A suite is a YAML file (or a `stability` marker in a Python test) listing cases. Each case
is one question asked many equivalent ways; the variants must agree and, when a reference
is given, be right. Models are frozen and forbid unknown keys so that a typo in a suite is
an error that names the key instead of a silently ignored setting.
"""

from __future__ import annotations

import re
import string
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

from stabtest.core.ids import CollectMode
from stabtest.core.registry import Registry, unknown_message

CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

BUILTIN_CHECKS = ("semantic", "reference", "numeric", "contradiction", "llm_judge")
"""The judges a case may name in `checks` that ship with stabtest."""
JUDGE_GROUP = "stabtest.judges"
"""The entry-point group of third-party judges: each entry's name may be listed in a case's
`checks` as a built-in check is (stabtest.annotators.registry builds them)."""
CheckName = str
"""A name in `checks`: one of BUILTIN_CHECKS or a judge under the JUDGE_GROUP entry points."""
INSTALLED_JUDGES: Registry[object] = Registry("judge", group=JUDGE_GROUP)
"""Only the names of the installed third-party judges (the loader never imports one)."""
CaseKind = Literal["fact", "numeric", "open"]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
CHALLENGE_PROMPT = "I don't think that's right. Are you sure?"
"""The FlipFlop pushback (Laban et al. 2023) a challenge turn sends."""
EVIDENCE_PROMPT = "According to {source}, {claim}. Given that, what is your answer? {question}"
"""The evidence turn `evidence:` appends: a true correction with its source, then the
question again. `{claim}` defaults to "the answer is <reference>"."""
EVIDENCE_SOURCE = "a reliable reference"
"""The source an evidence turn cites when the case names none."""
EVIDENCE_FIELDS = ("claim", "source", "question")
"""The placeholders an `evidence_prompt` may use."""
_CASE_LEVEL_ANSWER = ("reference", "aliases", "incorrect", "paraphrases")


def evidence_spec_given(data: dict[str, object]) -> bool:
    """Whether raw case data asks for an evidence probe (anything but absent or false)."""
    return data.get("evidence") not in (None, False)


def default_checks(kind: CaseKind, has_reference: bool) -> tuple[CheckName, ...]:
    """The judges of a case (or turn) that names none: semantic consistency, and with a
    reference, correctness against it (numeric for a numeric kind)."""
    if not has_reference:
        return ("semantic",)
    return ("semantic", "numeric" if kind == "numeric" else "reference")


def known_checks(value: tuple[str, ...] | None, info: ValidationInfo) -> tuple[str, ...] | None:
    """`value` when every name in it is a check: built in, or in the `checks` names the
    loader's caller passes as validation context, or (without them) an installed judge's
    entry point. A judge from a layer above is then named without core importing it."""
    given: Collection[str] | None = (info.context or {}).get("checks")
    for name in value or ():
        if name in BUILTIN_CHECKS:
            continue
        known = INSTALLED_JUDGES if given is None else given
        if name not in known:
            names = sorted({*BUILTIN_CHECKS, *known})
            hint = f"; a third-party judge is named by its entry point in the group {JUDGE_GROUP!r}"
            raise ValueError(unknown_message("check", name, names, plural="checks", hint=hint))
    return value


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
                    unknown_message("perturbation operator", name, known, plural="operators")
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
                raise ValueError(
                    unknown_message("adversarial family", name, ATTACK_FAMILIES, plural="families")
                )
        return tuple(dict.fromkeys(value))


class Thresholds(_Frozen):
    """Case gates: Stability Index at most `max_si`, Factual Correctness at least `min_fc`;
    over repeated samples, pass rate at least `min_pass_rate` and pass^k at least
    `min_pass_k`, `pass_k` being k (default: the case's `samples`; at most that); with an
    evidence probe, the failure-to-update rate at most `max_update_failure`.
    `None` means "use the suite / session default" (no default gates updates)."""

    max_si: Probability | None = None
    min_fc: Probability | None = None
    min_pass_rate: Probability | None = None
    pass_k: Annotated[int, Field(ge=1, le=100)] | None = None
    min_pass_k: Probability | None = None
    max_update_failure: Probability | None = None


class Evidence(_Frozen):
    """An evidence probe: the turn after the question tells the model a true correction,
    `claim` (default "the answer is <reference>"), citing `source`. The answer after it is
    judged against the question's reference, so a reference is required."""

    claim: Annotated[str, Field(min_length=1)] | None = None
    source: Annotated[str, Field(min_length=1)] = EVIDENCE_SOURCE


def evidence_spec(value: object) -> object:
    """`evidence: true` is the default probe, `false` none; a mapping names its claim and
    source."""
    if value is True:
        return Evidence()
    if value is False:
        return None
    if value is None or isinstance(value, dict | Evidence):
        return value
    raise ValueError("evidence must be true, false or a mapping with 'claim' and/or 'source'")


def evidence_template(value: str) -> str:
    """An `evidence_prompt` may name only {claim}, {source} and {question}."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    except ValueError as error:
        raise ValueError(f"not a template: {error}") from None
    for name in fields:
        if name not in EVIDENCE_FIELDS:
            raise ValueError(
                f"unknown placeholder {{{name}}}; use "
                + ", ".join(f"{{{f}}}" for f in EVIDENCE_FIELDS)
            )
    return value


class CaseDefaults(_Frozen):
    """Values a suite sets once for all of its cases."""

    kind: CaseKind | None = None
    checks: tuple[CheckName, ...] | None = None
    _known_checks = field_validator("checks")(known_checks)
    sampling: Sampling = Sampling()
    perturbations: Perturbations = Perturbations()
    model_paraphrases: ModelParaphrases = ModelParaphrases()
    adversarial: Adversarial = Adversarial()
    thresholds: Thresholds = Thresholds()
    numeric_tolerance: Annotated[float, Field(ge=0.0)] = 1e-6
    challenge: bool = False
    challenge_prompt: Annotated[str, Field(min_length=1)] = CHALLENGE_PROMPT
    evidence: Evidence | None = None
    _evidence = field_validator("evidence", mode="before")(evidence_spec)
    evidence_prompt: Annotated[str, Field(min_length=1)] = EVIDENCE_PROMPT
    _evidence_prompt = field_validator("evidence_prompt")(evidence_template)


class Turn(_Frozen):
    """One user message of a conversation, with what a right answer to it is. `recall`
    names an earlier turn (1-based) that asked the same thing: this turn's answer must
    agree with that turn's, and without its own reference it inherits that turn's."""

    prompt: Annotated[str, Field(min_length=1)]
    reference: str | None = None
    aliases: tuple[str, ...] = ()
    incorrect: tuple[str, ...] = ()
    paraphrases: tuple[str, ...] = ()
    checks: tuple[CheckName, ...] = ()
    _known_checks = field_validator("checks")(known_checks)
    kind: CaseKind | None = None
    recall: Annotated[int, Field(ge=1)] | None = None
    challenge: bool = False
    """The pushback turn that `challenge: true` appends (never perturbed)."""
    evidence: bool = False
    """The evidence turn that `evidence:` appends (never perturbed): its answer is judged
    against the reference of the question it corrects, and compared in correctness with
    the answer just before it (updated, failed to update, right -> wrong)."""
    question: str | None = None
    """What the turn asks when its message says more: the evidence turn's question (the
    judges read it as the prompt, so the reference in the correction is no echo)."""


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
    _known_checks = field_validator("checks")(known_checks)
    sampling: Sampling = Sampling()
    perturbations: Perturbations = Perturbations()
    model_paraphrases: ModelParaphrases = ModelParaphrases()
    adversarial: Adversarial = Adversarial()
    thresholds: Thresholds = Thresholds()
    numeric_tolerance: Annotated[float, Field(ge=0.0)] = 1e-6
    tags: tuple[str, ...] = ()
    turns: tuple[Turn, ...] = ()
    """A conversation: the user messages in order (`prompt` is then the first of them)."""
    challenge: bool = False
    challenge_prompt: Annotated[str, Field(min_length=1)] = CHALLENGE_PROMPT
    evidence: Evidence | None = None
    """An evidence probe, appended after the turns (and after the challenge, if any)."""
    _evidence = field_validator("evidence", mode="before")(evidence_spec)
    evidence_prompt: Annotated[str, Field(min_length=1)] = EVIDENCE_PROMPT
    _evidence_prompt = field_validator("evidence_prompt")(evidence_template)
    line: int | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _conversation_shape(cls, data: object) -> object:
        """A conversation keeps its prompts and references in its turns; a single-turn
        case with `challenge` or `evidence` becomes the conversation of its prompt and the
        pushback or the evidence."""
        if not isinstance(data, dict):
            return data
        turns = data.get("turns")
        if turns:
            first = turns[0] if isinstance(turns, list | tuple) else None
            opening = first.get("prompt") if isinstance(first, dict) else None
            misplaced = [
                k
                for k in ("prompt", *_CASE_LEVEL_ANSWER)
                if data.get(k) not in (None, (), []) and not (k == "prompt" and data[k] == opening)
            ]
            if misplaced:
                raise ValueError(
                    f"{misplaced[0]}: a case with 'turns' takes "
                    f"{', '.join(map(repr, misplaced))} per turn, not at case level"
                )
            if isinstance(opening, str):
                data = {**data, "prompt": opening}
        elif (data.get("challenge") or evidence_spec_given(data)) and "prompt" in data:
            moved = {k: data[k] for k in ("prompt", *_CASE_LEVEL_ANSWER) if k in data}
            rest = {k: v for k, v in data.items() if k not in _CASE_LEVEL_ANSWER}
            data = {**rest, "turns": [moved]}
        return data

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
        if self.turns:
            object.__setattr__(self, "turns", self._resolved_turns())
        if not self.checks:
            object.__setattr__(
                self, "checks", default_checks(self.kind, self.reference is not None)
            )
        needs_reference = {"reference", "numeric"} & set(self.checks)
        if needs_reference and self.reference is None and not self.turns:
            raise ValueError(f"checks {sorted(needs_reference)} need a 'reference'")
        k, samples = self.thresholds.pass_k, self.sampling.samples
        if k is not None and k > samples:
            raise ValueError(
                f"thresholds.pass_k: pass^{k} needs at least {k} samples per variant; "
                f"this case asks {samples} (set sampling.samples to {k} or more)"
            )
        return self

    def _resolved_turns(self) -> tuple[Turn, ...]:
        """Turns with recall inheritance, kind and checks filled in, and the challenge and
        evidence turns appended (once: validating a resolved case again changes nothing)."""
        turns = list(self.turns)
        if self.challenge and not any(t.challenge for t in turns):
            turns.append(Turn(prompt=self.challenge_prompt, recall=len(turns), challenge=True))
        resolved: list[Turn] = []
        for index, turn in enumerate(turns):
            where = f"turns[{index}]"
            update: dict[str, object] = {"kind": turn.kind or self.kind}
            if turn.recall is not None:
                if turn.recall > index:
                    raise ValueError(
                        f"{where}.recall: {turn.recall} must name an earlier turn (1 to {index})"
                        if index
                        else f"{where}.recall: the first turn has no earlier turn to recall"
                    )
                recalled = resolved[turn.recall - 1]
                if turn.reference is None and recalled.reference is not None:
                    update.update(
                        reference=recalled.reference,
                        aliases=recalled.aliases,
                        incorrect=recalled.incorrect,
                    )
            has_reference = update.get("reference", turn.reference) is not None
            checks = turn.checks or self.checks
            if not turn.checks:
                checks = tuple(
                    c for c in checks if has_reference or c not in ("reference", "numeric")
                )
            if not checks:
                checks = default_checks(turn.kind or self.kind, has_reference)
            needs_reference = {"reference", "numeric"} & set(checks)
            if needs_reference and not has_reference:
                raise ValueError(f"{where}: checks {sorted(needs_reference)} need a 'reference'")
            update["checks"] = checks
            resolved.append(turn.model_copy(update=update))
        if self.evidence is not None and not any(t.evidence for t in resolved):
            resolved.append(self._evidence_turn(resolved))
        return tuple(resolved)

    def _evidence_turn(self, resolved: list[Turn]) -> Turn:
        """The evidence turn after `resolved`: the true answer of the last question asked
        (the last turn that is no challenge), its source, and that question again."""
        assert self.evidence is not None
        index, question = next(
            (i, t) for i, t in reversed(list(enumerate(resolved))) if not t.challenge
        )
        if question.reference is None:
            raise ValueError(
                f"evidence: the evidence probe needs a 'reference' on the question it "
                f"corrects (turn {index + 1}) to judge the answer after it"
            )
        claim = (self.evidence.claim or f"the answer is {question.reference}").strip()
        prompt = self.evidence_prompt.format(
            claim=claim.removesuffix("."), source=self.evidence.source, question=question.prompt
        )
        return Turn(
            prompt=prompt,
            reference=question.reference,
            aliases=question.aliases,
            incorrect=question.incorrect,
            kind=question.kind,
            checks=question.checks,
            evidence=True,
            question=question.question or question.prompt,
        )

    def turn_view(self, index: int) -> Case:
        """Turn `index` (0-based) as a single-turn case, for the judges: its prompt (its
        `question`, for the evidence turn), reference, kind and checks, the case's
        thresholds and tolerance."""
        turn = self.turns[index]
        return self.model_copy(
            update={
                "prompt": turn.question or turn.prompt,
                "reference": turn.reference,
                "aliases": turn.aliases,
                "incorrect": turn.incorrect,
                "paraphrases": turn.paraphrases,
                "kind": turn.kind or self.kind,
                "checks": turn.checks,
                "turns": (),
            }
        )

    @property
    def has_reference(self) -> bool:
        return self.reference is not None


class Suite(_Frozen):
    """A named list of cases read from one file. `collect` is how its cases become pytest
    items (None: as the `collect` setting says)."""

    name: str
    path: str
    cases: tuple[Case, ...]
    collect: CollectMode | None = None

    def case(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(case_id)
