"""Rule-based perturbations: deterministic, varied, meaning-keeping, number-safe."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stabtest.variants.perturb as perturb_module
from stabtest.core.suite import Case, Perturbations
from stabtest.variants.expand import VariantExpander
from stabtest.variants.perturb import (
    OPERATORS,
    Operator,
    apply_operators,
    compose,
    describe_operators,
    numbers_in,
    perturb,
    resolve_operators,
)

REQUIRED = {
    "casing",
    "punctuation",
    "whitespace",
    "typo",
    "contraction",
    "politeness",
    "clause_reorder",
    "distractor",
    "synonym",
    "instruction",
}
TYPICAL = "In your opinion, what is the largest planet in the solar system?"
QUESTIONS = (
    TYPICAL,
    "What is the capital of France?",
    "Who wrote Hamlet, and when was it written?",
    "If it rains tomorrow, what should I bring, please?",
    "I don't know what the tallest mountain in Europe is. Can you tell me?",
)
WORD_PROBLEMS = (
    "Maria bakes 24 cookies every day. She gives 7 to her neighbours and sells the rest "
    "for $1.50 each. How much money does she make in 3 days?",
    "A farm has 1,250 chickens.  In 2021, a storm killed 15% of them, and the farmer "
    "bought 300 more. How many chickens does the farm have now?",
    "Tom reads 12 pages on Monday, 3 times as many on Tuesday, and 1 000 words per page. "
    "If the train leaves at 7:45, how many pages has he read?",
    "What is 3/4 of 128, minus 0.25?",
)
NAMES = sorted(OPERATORS)


def run(name: str, text: str, seed: int) -> str:
    return OPERATORS[name](text, random.Random(seed))


# --- registry ---------------------------------------------------------------------------


def test_registry_has_the_required_operators() -> None:
    assert set(OPERATORS) >= REQUIRED
    assert len(OPERATORS) >= 10
    for name, op in OPERATORS.items():
        assert isinstance(op, Operator) and op.name == name
        assert op.description and "\n" not in op.description


def test_describe_operators_lists_every_operator_once() -> None:
    described = describe_operators()
    assert [name for name, _ in described] == list(OPERATORS)
    assert all(description for _, description in described)


# --- each operator ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_output(name: str) -> None:
    for text in QUESTIONS + WORD_PROBLEMS:
        for seed in range(5):
            assert run(name, text, seed) == run(name, text, seed)


@pytest.mark.parametrize("name", NAMES)
def test_operator_changes_typical_text(name: str) -> None:
    assert any(run(name, TYPICAL, seed) != TYPICAL for seed in range(5))


def test_different_seeds_give_different_outputs() -> None:
    rich = (
        "If you are not busy, what is the largest country in Europe, and how many people "
        "live there?"
    )
    reorderable = "If it rains tomorrow, what should I bring, please?"
    for name in NAMES:
        text = reorderable if name == "clause_reorder" else rich
        assert len({run(name, text, seed) for seed in range(20)}) > 1, name


@pytest.mark.parametrize("name", NAMES)
def test_word_problem_numbers_survive(name: str) -> None:
    for text in WORD_PROBLEMS:
        for seed in range(30):
            # The raw function, not the guarded call: the guard must never be what saves us.
            out = OPERATORS[name].function(text, random.Random(seed))
            assert numbers_in(out) == numbers_in(text), (name, seed, out)


@st.composite
def word_problems(draw: st.DrawFn) -> str:
    """GSM8K-shaped questions with integers, decimals, money, thousands and percentages."""
    number = st.one_of(
        st.integers(0, 10**6).map(str),
        st.integers(1000, 10**7).map(lambda n: f"{n:,}"),
        st.decimals("0.01", "999.99", places=2).map(str),
        st.integers(1, 100).map(lambda n: f"{n}%"),
    )
    values = [draw(number) for _ in range(4)]
    name = draw(st.sampled_from(["Janet", "Ali", "The shop", "A baker"]))
    return (
        f"{name} has {values[0]} apples, and buys {values[1]} more at ${values[2]} each.  "
        f"In the end, {values[3]} are given away. How many apples, in total, are left?"
    )


@settings(max_examples=300, deadline=None)
@given(word_problems(), st.sampled_from(NAMES), st.integers(0, 2**32 - 1))
def test_numbers_survive_every_operator(text: str, name: str, seed: int) -> None:
    out = OPERATORS[name].function(text, random.Random(seed))
    assert numbers_in(out) == numbers_in(text)


@settings(max_examples=200, deadline=None)
@given(word_problems(), st.integers(0, 5), st.integers(0, 2**32 - 1))
def test_numbers_survive_composition(text: str, depth: int, seed: int) -> None:
    out, _ = perturb(text, (), depth, random.Random(seed))
    assert numbers_in(out) == numbers_in(text)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1), st.sampled_from(NAMES), st.integers(0, 2**32 - 1))
def test_any_text_gives_a_non_empty_string_with_the_same_numbers(
    text: str, name: str, seed: int
) -> None:
    out = OPERATORS[name](text, random.Random(seed))
    assert (isinstance(out, str) and out.strip()) or out == text
    assert numbers_in(out) == numbers_in(text)


def test_an_operator_with_nothing_to_do_draws_nothing_from_the_rng() -> None:
    text = "2 + 2 = ?"
    for name in ("contraction", "synonym", "typo", "clause_reorder"):
        rng = random.Random(3)
        state = rng.getstate()
        assert OPERATORS[name](text, rng) == text
        assert rng.getstate() == state, name


# --- operator specifics -----------------------------------------------------------------


def outputs(name: str, text: str, seeds: int = 30) -> set[str]:
    return {run(name, text, seed) for seed in range(seeds)}


def test_contraction_goes_both_ways_and_keeps_case() -> None:
    assert outputs("contraction", "What is the capital of France?") == {
        "What's the capital of France?"
    }
    assert outputs("contraction", "I don't know it.") == {"I do not know it."}
    assert outputs("contraction", "I am lost here.") == {"I'm lost here."}


def test_contraction_avoids_ungrammatical_forms() -> None:
    assert outputs("contraction", "Do you know where it is?") == {"Do you know where it is?"}
    assert outputs("contraction", "It's been a year.") == {"It's been a year."}


def test_typo_never_touches_words_with_digits_or_short_words() -> None:
    text = "Is 3rd or 21st abc1234 big?"
    assert outputs("typo", text) == {text}


def test_typo_changes_exactly_one_word() -> None:
    for out in outputs("typo", TYPICAL):
        changed = [a for a, b in zip(TYPICAL.split(), out.split(), strict=True) if a != b]
        assert len(changed) == 1


def test_punctuation_keeps_thousands_separators() -> None:
    text = "He paid $80,000, then sold it. How much, in dollars, did he lose?"
    for out in outputs("punctuation", text):
        assert "$80,000" in out


def test_clause_reorder_examples() -> None:
    assert outputs("clause_reorder", "In 1990, who won the World Cup?") == {
        "Who won the World Cup, in 1990?"
    }
    assert outputs("clause_reorder", "Who wrote Hamlet, and when was it written?") == {
        "When was it written, and who wrote Hamlet?"
    }
    assert outputs("clause_reorder", "Please tell me the capital of France.") == {
        "Tell me the capital of France, please."
    }
    problem = "Ann has 4 pens. Bob has 2 more. How many pens do they have?"
    assert outputs("clause_reorder", problem) == {
        "How many pens do they have? Ann has 4 pens. Bob has 2 more."
    }


def test_clause_reorder_leaves_text_without_any_boundary_unchanged() -> None:
    assert outputs("clause_reorder", "What is the capital of France?") == {
        "What is the capital of France?"
    }


def test_synonym_leaves_names_alone() -> None:
    text = "Who mapped the Largest Lake?"
    assert outputs("synonym", text) == {text}
    assert outputs("synonym", "Largest planet?") == {"Biggest planet?"}


def test_framing_operators_keep_the_question_intact() -> None:
    for name in ("politeness", "distractor", "instruction", "whitespace"):
        for out in outputs(name, TYPICAL):
            assert " ".join(TYPICAL.split()) in " ".join(out.split())


# --- composition ------------------------------------------------------------------------


def test_perturb_draws_distinct_operators_from_the_given_pool() -> None:
    pool = ("typo", "casing", "punctuation")
    for seed in range(30):
        text, applied = perturb(TYPICAL, pool, 2, random.Random(seed))
        assert len(applied) == len(set(applied)) <= 2
        assert set(applied) <= set(pool)
        assert text != TYPICAL


def test_perturb_uses_every_operator_when_none_are_named() -> None:
    seen = {name for seed in range(60) for name in perturb(TYPICAL, (), 2, random.Random(seed))[1]}
    assert seen == set(OPERATORS)


def test_perturb_applies_framing_after_content() -> None:
    for seed in range(40):
        _, applied = perturb(TYPICAL, (), 4, random.Random(seed))
        stages = [OPERATORS[name].stage for name in applied]
        assert stages == sorted(stages)


def test_perturb_is_deterministic_and_clamps_depth() -> None:
    first = perturb(TYPICAL, ("typo", "casing"), 5, random.Random(7))
    assert first == perturb(TYPICAL, ("typo", "casing"), 5, random.Random(7))
    assert set(first[1]) == {"typo", "casing"}
    assert perturb(TYPICAL, ("typo",), 0, random.Random(7)) == (TYPICAL, ())
    with pytest.raises(ValueError, match="depth"):
        perturb(TYPICAL, ("typo",), -1, random.Random(7))


def test_unknown_operator_is_named_with_the_valid_ones() -> None:
    with pytest.raises(ValueError) as error:
        perturb(TYPICAL, ("typo", "tpyo"), 1, random.Random(0))
    message = str(error.value)
    assert "'tpyo'" in message and "did you mean 'typo'" in message
    assert "valid operators: " in message
    assert all(name in message for name in OPERATORS)
    with pytest.raises(ValueError, match="nonsense"):
        compose(["nonsense"])
    with pytest.raises(ValueError, match="nonsense"):
        resolve_operators(["casing", "nonsense"])


def test_compose_applies_in_the_given_order() -> None:
    upper_then_wrap = compose(["instruction", "casing"])
    for seed in range(10):
        out = upper_then_wrap(TYPICAL, random.Random(seed))
        assert out == apply_operators(TYPICAL, ["instruction", "casing"], random.Random(seed))[0]
    assert compose([])(TYPICAL, random.Random(0)) == TYPICAL


# --- variants ---------------------------------------------------------------------------


def test_variant_expander_gives_distinct_stable_rule_variants() -> None:
    case = Case(
        id="capital",
        prompt="What is the capital of France?",
        perturbations=Perturbations(count=5, operators=("typo", "casing"), depth=2),
    )
    variants = VariantExpander(seed=0).expand(case, "suite")
    rules = [v for v in variants if v.family == "rule"]
    assert [v.id for v in rules] == ["v1", "v2", "v3", "v4", "v5"]
    assert len({v.text for v in rules}) == 5
    assert case.prompt not in {v.text for v in rules}
    assert all(v.operators and set(v.operators) <= {"typo", "casing"} for v in rules)
    again = VariantExpander(seed=0).expand(case, "suite")
    assert [(v.id, v.text, v.operators) for v in again] == [
        (v.id, v.text, v.operators) for v in variants
    ]
    other = VariantExpander(seed=1).expand(case, "suite")
    assert [v.text for v in other] != [v.text for v in variants]


def test_core_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, stabtest.variants.perturb\n"
        "heavy = {'hypothesis', 'pytest', 'torch', 'transformers', 'numpy'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    root = Path(perturb_module.__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.strip() == "[]"
