"""The judge noise floor of a finished run: its answers re-judged under perturbations that
should change no verdict (`annotators.noise`), without generating anything.

Each case of the report is read again from its suite (`core.loader.find_cases`); its
answers come from the report (`variants[*].answers[*].text`), are embedded by the
session's embedder (cached by text) and judged by the session's ensemble, as the run
judged them. A conversation is measured turn by turn, each turn's answers with the
exchanges before them. Human labels do not apply: the noise is the machine's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import cast

from stabtest.annotators.base import Answer
from stabtest.annotators.noise import CaseNoise, NoiseFloor, measure_case, summarize
from stabtest.core.ids import case_uid
from stabtest.core.report import RunReport
from stabtest.core.results import VariantResult
from stabtest.core.settings import Settings
from stabtest.core.suite import Case
from stabtest.core.variant import Family, Variant
from stabtest.session import Session

SECTION = "judge_noise"
NOISE_NAME = "judge_noise.json"


def judge_noise(
    report: RunReport,
    settings: Settings,
    *,
    session: Session | None = None,
    seed: int | None = None,
    rounds: int = 1,
) -> NoiseFloor:
    """The noise floor of `report`'s judging (seed: default the settings' seed)."""
    from stabtest.core.loader import find_cases
    from stabtest.variants.perturb import OPERATORS

    if rounds < 1:
        raise ValueError(f"rounds {rounds}: expected a positive number")
    seed = settings.seed if seed is None else seed
    session = session or Session(settings)
    judging = session.judging
    by_case = report.variants_by_case()
    found = find_cases(Path(settings.rootdir), settings.suites.split(), set(by_case), OPERATORS)
    cases = {case_uid(scope, case.id): case for scope, case in found}
    measured: list[CaseNoise] = []
    skipped: list[str] = []
    for uid, variants in by_case.items():
        case = cases.get(uid)
        if case is None:
            skipped.append(f"{uid}: not in the suites any more")
            continue
        for turn, (view, answers) in enumerate(case_answers(case, variants)):
            if answers:
                key = f"{uid}#{turn}"
                measured.append(
                    measure_case(judging, view, answers, seed=seed, rounds=rounds, key=key)
                )
    return summarize(measured, seed=seed, rounds=rounds, cases=len(cases), skipped=skipped)


def case_answers(case: Case, variants: Sequence[VariantResult]) -> list[tuple[Case, list[Answer]]]:
    """Per turn (one for a single-turn case): the case as that turn judges it and the
    report's answers at that turn, each with the exchanges of its thread before it."""
    rebuilt = [(_variant(case, v), v) for v in variants]
    if not case.turns:
        return [
            (case, [Answer(variant, a.sample, a.text) for variant, v in rebuilt for a in v.answers])
        ]
    views: list[tuple[Case, list[Answer]]] = []
    for turn in range(len(case.turns)):
        answers = []
        for variant, result in rebuilt:
            said = {(a.turn, a.sample): a.text for a in result.answers}
            messages = variant.messages
            for row in result.answers:
                if row.turn != turn or turn >= len(messages):
                    continue
                history = tuple((messages[k], said.get((k, row.sample), "")) for k in range(turn))
                asked = replace(variant, text=messages[turn])
                answers.append(Answer(asked, row.sample, row.text, history))
        views.append((case.turn_view(turn), answers))
    return views


def _variant(case: Case, result: VariantResult) -> Variant:
    """The variant a report row was asked as (its index parsed from its id, `v3-attack`)."""
    index = int(result.variant_id[1:].split("-", 1)[0])
    return Variant(
        case.id,
        index,
        result.prompt,
        cast(Family, result.family),
        result.operators,
        result.rejected,
        result.attack,
        result.turns,
    )
