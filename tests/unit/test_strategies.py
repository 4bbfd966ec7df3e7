"""Hypothesis strategies: the same operators as suites, shrinking to the smallest break."""

from __future__ import annotations

import random

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from stabtest.variants.perturb import OPERATORS, apply_operators, numbers_in
from stabtest.variants.strategies import Perturbation, operator_names, perturbations, perturbed

QUESTION = "In your opinion, what is the largest planet in the solar system?"
PROBLEM = "Sam has 12 apples and buys 3,500 more for $0.25 each. How many apples does Sam have?"


@given(operator_names())
def test_operator_names_are_registered(name: str) -> None:
    assert name in OPERATORS


@given(operator_names(["typo", "casing"]))
def test_operator_names_respect_the_pool(name: str) -> None:
    assert name in {"typo", "casing"}


@settings(max_examples=200, deadline=None)
@given(perturbations(QUESTION, max_depth=3))
def test_perturbation_is_reproducible_from_its_seed(p: Perturbation) -> None:
    assert p.original == QUESTION
    assert len(p.operators) == len(set(p.operators)) <= 3
    again, applied = apply_operators(p.original, p.operators, random.Random(p.seed))
    assert (again, applied) == (p.text, p.operators)
    assert (p.text == QUESTION) == (p.operators == ())


@settings(max_examples=200, deadline=None)
@given(perturbations(PROBLEM, max_depth=5))
def test_perturbations_keep_numbers(p: Perturbation) -> None:
    assert numbers_in(p.text) == numbers_in(PROBLEM)


@settings(max_examples=100, deadline=None)
@given(perturbations(QUESTION, operators=("typo", "casing"), min_depth=1, max_depth=5))
def test_pool_and_depth_bounds(p: Perturbation) -> None:
    assert 1 <= len(p.operators) <= 2
    assert set(p.operators) <= {"typo", "casing"}


@settings(max_examples=50, deadline=None)
@given(perturbations(st.sampled_from(["What is 2 + 2?", PROBLEM]), max_depth=2))
def test_text_may_be_a_strategy(p: Perturbation) -> None:
    assert p.original in {"What is 2 + 2?", PROBLEM}


@settings(max_examples=50, deadline=None)
@given(perturbed(QUESTION, ["politeness"], min_depth=1))
def test_perturbed_gives_strings(text: str) -> None:
    assert isinstance(text, str) and text != QUESTION


def test_bad_arguments_fail_before_any_example() -> None:
    with pytest.raises(ValueError, match="'tpyo'"):
        perturbations(QUESTION, ["tpyo"])
    with pytest.raises(ValueError, match="min_depth"):
        perturbations(QUESTION, min_depth=3, max_depth=2)


def test_find_shrinks_to_the_smallest_breaking_perturbation() -> None:
    """A 'model' that breaks only when a typo meets a casing change: among all the
    perturbations hypothesis can draw, it reports exactly those two operators and seed 0."""

    def breaks(p: Perturbation) -> bool:
        return {"typo", "casing"} <= set(p.operators)

    smallest = find(
        perturbations(QUESTION, max_depth=len(OPERATORS)),
        breaks,
        settings=settings(max_examples=2000, database=None),
    )
    assert sorted(smallest.operators) == ["casing", "typo"]
    assert smallest.seed == 0
    assert smallest.text != QUESTION
