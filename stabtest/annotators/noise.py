"""The judges' own noise: how often a verdict flips when nothing that matters changed.

A case's answers are judged as they are, then again under perturbations of the judges'
inputs that should change no verdict: of the answer text (`whitespace`: a doubled space, a
trailing space or newline; `casing`: the first letter's case swapped; `punctuation`: a
final `.`, `!` or `?` removed, or a `.` added) and of the case's references
(`reference_order`: aliases and known-wrong answers shuffled; only for a case with two or
more of either). Each perturbed judging is compared answer by answer with the unperturbed
one: a *flip* is a verdict whose outcome (pass, fail, escalate) differs, and per judge a
vote whose outcome (pass, fail, abstain) differs. An LLM judge is simply asked again: its
own sampling is part of its noise.

Agreement between the judges is Krippendorff's alpha (nominal) over the unperturbed
answers: each judge a coder, its vote pass or fail, an abstention missing.

Pure: no model, cache or session; the embeddings come from `Judging.encode`. Human labels
are not applied: the noise measured is the machine's. Perturbations are seeded (`seed`,
the case's key, the kind and the round): the same seed gives the same result.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from stabtest.annotators.base import Answer
from stabtest.annotators.case_outcome import Judging, case_evidence
from stabtest.core.results import Verdict
from stabtest.core.suite import Case
from stabtest.core.variant import stable_seed

Kind = Literal["whitespace", "casing", "punctuation", "reference_order"]
KINDS: tuple[Kind, ...] = ("whitespace", "casing", "punctuation", "reference_order")
ANSWER_KINDS: tuple[Kind, ...] = ("whitespace", "casing", "punctuation")
"""The kinds that perturb the answer text (the others perturb the case)."""
FINAL_PUNCTUATION = ".!?"
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Tally:
    """`flips` of `verdicts` compared; the rate with its Wilson 95% interval."""

    flips: int = 0
    verdicts: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.flips + other.flips, self.verdicts + other.verdicts)

    @property
    def rate(self) -> float | None:
        return self.flips / self.verdicts if self.verdicts else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.flips, self.verdicts)

    def to_json(self) -> dict[str, Any]:
        interval = self.interval
        return {
            "flips": self.flips,
            "verdicts": self.verdicts,
            "rate": self.rate,
            "low": None if interval is None else interval[0],
            "high": None if interval is None else interval[1],
        }


def wilson_interval(successes: int, trials: int) -> tuple[float, float] | None:
    """The Wilson score interval (95%) of a proportion (scipy); None without trials."""
    if trials <= 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(successes, trials).proportion_ci(CONFIDENCE, method="wilson")
    return float(ci.low), float(ci.high)


# -- perturbations ---------------------------------------------------------------------
def perturb_answer(kind: Kind, text: str, rng: random.Random) -> str:
    """`text` perturbed by `kind` (one of ANSWER_KINDS), as a reader would not notice."""
    if kind == "whitespace":
        spaces = [i for i, char in enumerate(text) if char == " "]
        choices = ["trailing_space", "trailing_newline"] + (["double_space"] if spaces else [])
        choice = rng.choice(choices)
        if choice == "double_space":
            at = rng.choice(spaces)
            return text[:at] + " " + text[at:]
        return text + (" " if choice == "trailing_space" else "\n")
    if kind == "casing":
        for i, char in enumerate(text):
            if char.isalpha():
                return text[:i] + char.swapcase() + text[i + 1 :]
        return text
    if kind == "punctuation":
        body = text.rstrip()
        tail = text[len(body) :]
        if body and body[-1] in FINAL_PUNCTUATION:
            return body[:-1] + tail
        return body + "." + tail
    raise ValueError(f"{kind!r} does not perturb an answer")


def shuffle_references(case: Case, rng: random.Random) -> Case | None:
    """`case` with its aliases and known-wrong answers in another order; None when it has
    fewer than two of each (nothing to reorder)."""
    if len(case.aliases) < 2 and len(case.incorrect) < 2:
        return None
    return case.model_copy(
        update={
            "aliases": _reordered(case.aliases, rng),
            "incorrect": _reordered(case.incorrect, rng),
        }
    )


def _reordered(items: tuple[str, ...], rng: random.Random) -> tuple[str, ...]:
    """Another order of `items` (two or more); `items` itself when it has fewer."""
    if len(items) < 2:
        return items
    shuffled = tuple(rng.sample(items, len(items)))
    return shuffled if shuffled != items else items[1:] + items[:1]


# -- measurement -----------------------------------------------------------------------
@dataclass(frozen=True)
class CaseNoise:
    """One case (or one turn of a conversation) measured: ensemble verdict flips per kind,
    vote flips per judge and kind, and the unperturbed votes (judge -> pass / fail) per
    answer, for the agreement."""

    kinds: Mapping[Kind, Tally]
    votes: Mapping[str, Mapping[Kind, Tally]]
    codes: tuple[Mapping[str, str], ...]


def measure_case(
    judging: Judging,
    case: Case,
    answers: Sequence[Answer],
    *,
    seed: int,
    rounds: int = 1,
    key: str = "",
) -> CaseNoise:
    """`answers` of `case` judged unperturbed, then under each kind of perturbation once
    per round; `key` (the case's uid, say) makes each case's perturbations its own."""
    base = _verdicts(judging, case, answers)
    kinds: dict[Kind, Tally] = {}
    votes: dict[str, dict[Kind, Tally]] = {}
    for round_ in range(rounds):
        for kind in KINDS:
            rng = random.Random(stable_seed(seed, key, kind, round_))
            if kind in ANSWER_KINDS:
                view: Case | None = case
                asked = [replace(a, text=perturb_answer(kind, a.text, rng)) for a in answers]
            else:
                view, asked = shuffle_references(case, rng), list(answers)
            if view is None:
                continue
            perturbed = _verdicts(judging, view, asked)
            flips = sum(a.outcome != b.outcome for a, b in zip(base, perturbed, strict=True))
            kinds[kind] = kinds.get(kind, Tally()) + Tally(flips, len(base))
            for judge, tally in _vote_flips(base, perturbed).items():
                per_kind = votes.setdefault(judge, {})
                per_kind[kind] = per_kind.get(kind, Tally()) + tally
    codes = tuple(
        {vote.judge: vote.outcome for vote in verdict.votes if vote.outcome != "abstain"}
        for verdict in base
    )
    return CaseNoise(kinds, votes, codes)


def _verdicts(judging: Judging, case: Case, answers: Sequence[Answer]) -> list[Verdict]:
    """The ensemble's verdicts on `answers`, with fresh evidence (the ensemble writes the
    answers' equivalence into it)."""
    if not answers:
        return []
    return judging.ensemble.judge(case_evidence(judging, case, answers))[0]


def _vote_flips(base: Sequence[Verdict], perturbed: Sequence[Verdict]) -> dict[str, Tally]:
    """Per judge, the votes whose outcome differs (of the answers it voted on both times)."""
    tallies: dict[str, Tally] = {}
    for before, after in zip(base, perturbed, strict=True):
        then = {v.judge: v.outcome for v in before.votes}
        for vote in after.votes:
            if vote.judge in then:
                flip = int(then[vote.judge] != vote.outcome)
                tallies[vote.judge] = tallies.get(vote.judge, Tally()) + Tally(flip, 1)
    return tallies


# -- agreement -------------------------------------------------------------------------
def judge_alpha(codes: Iterable[Mapping[str, str]]) -> tuple[float | None, int]:
    """Krippendorff's alpha (nominal) of the judges over answers (`codes`: per answer,
    judge -> its vote), with the number of answers two or more judges coded. None when
    it is undefined: no such answer, or every vote the same (no variation to agree on)."""
    units = [unit for unit in codes if len(unit) >= 2]
    values = sorted({value for unit in units for value in unit.values()})
    if len(values) < 2:
        return None, len(units)
    import krippendorff
    import numpy as np

    judges = sorted({judge for unit in units for judge in unit})
    data = np.array(
        [
            [values.index(unit[judge]) if judge in unit else np.nan for unit in units]
            for judge in judges
        ],
        dtype=np.float64,
    )
    alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    return (alpha if math.isfinite(alpha) else None), len(units)


# -- the whole run ---------------------------------------------------------------------
@dataclass(frozen=True)
class NoiseFloor:
    """A run's judge noise: verdict flips per kind and overall (`noise_floor`: the flip
    rate of the ensemble verdict over every perturbation), vote flips per judge and kind,
    and the judges' agreement (Krippendorff's alpha over `units` answers)."""

    seed: int
    rounds: int
    cases: int
    answers: int
    kinds: Mapping[Kind, Tally]
    judges: Mapping[str, Mapping[Kind, Tally]]
    alpha: float | None
    units: int
    skipped: tuple[str, ...] = field(default=())
    """Case uids of the report not measured, each with why (`uid: reason`)."""

    @property
    def overall(self) -> Tally:
        return sum(self.kinds.values(), Tally())

    def vote_flips(self, judge: str, kind: Kind | None = None) -> Tally:
        """`judge`'s vote flips under `kind`, or under every kind (None)."""
        kinds = self.judges.get(judge, {})
        if kind is not None:
            return kinds.get(kind, Tally())
        return sum(kinds.values(), Tally())

    @property
    def noise_floor(self) -> float | None:
        return self.overall.rate

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "rounds": self.rounds,
            "cases": self.cases,
            "answers": self.answers,
            "noise_floor": self.noise_floor,
            "overall": self.overall.to_json(),
            "kinds": {kind: tally.to_json() for kind, tally in self.kinds.items()},
            "judges": {
                judge: {kind: tally.to_json() for kind, tally in kinds.items()}
                for judge, kinds in self.judges.items()
            },
            "alpha": self.alpha,
            "alpha_units": self.units,
            "skipped": list(self.skipped),
        }


def summarize(
    measured: Sequence[CaseNoise],
    *,
    seed: int,
    rounds: int,
    cases: int,
    skipped: Sequence[str] = (),
) -> NoiseFloor:
    """The cases' (and turns') measurements pooled: flips summed, alpha over all answers."""
    kinds: dict[Kind, Tally] = {}
    judges: dict[str, dict[Kind, Tally]] = {}
    for one in measured:
        for kind, tally in one.kinds.items():
            kinds[kind] = kinds.get(kind, Tally()) + tally
        for judge, per_kind in one.votes.items():
            mine = judges.setdefault(judge, {})
            for kind, tally in per_kind.items():
                mine[kind] = mine.get(kind, Tally()) + tally
    ordered = {kind: kinds[kind] for kind in KINDS if kind in kinds}
    alpha, units = judge_alpha(code for one in measured for code in one.codes)
    return NoiseFloor(
        seed,
        rounds,
        cases,
        sum(len(one.codes) for one in measured),
        ordered,
        {judge: {k: v[k] for k in KINDS if k in v} for judge, v in sorted(judges.items())},
        alpha,
        units,
        tuple(skipped),
    )
