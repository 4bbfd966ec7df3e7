"""Hypothesis strategies over stabtest's perturbation operators, for `@given` tests.

    from hypothesis import given
    from stabtest.variants.strategies import perturbations

    @given(perturbations("What is the capital of France?", max_depth=2))
    def test_capital_is_stable(p):
        assert "Paris" in ask(p.text), p.operators

A perturbation is drawn as a list of operator names (duplicates dropped) plus an rng seed,
so when a test fails hypothesis shrinks it toward FEWER operators, operators earlier in the
registry, and seed 0: the failure it reports is the smallest perturbation that still breaks
the model, which is the one worth reading. The same operators as suite `perturbations:` are used
(stabtest.variants.perturb), applied in the same stage order.

Only users' tests import this module, so it may import hypothesis at the top.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

from stabtest.variants.perturb import application_order, apply_operators, resolve_operators

__all__ = ["Perturbation", "operator_names", "perturbations", "perturbed"]

MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Perturbation:
    """One perturbed prompt and how to reproduce it. `operators` lists only the operators
    that changed the text, in the order they were applied; a built-in operator that finds
    nothing to change draws nothing from the rng, so `apply_operators(original, operators,
    random.Random(seed))` gives `text` again."""

    original: str
    text: str
    operators: tuple[str, ...]
    seed: int

    def __str__(self) -> str:
        return self.text


def operator_names(operators: Sequence[str] = ()) -> st.SearchStrategy[str]:
    """One operator name (from `operators`, or any registered one when empty)."""
    return st.sampled_from(resolve_operators(operators))


def _build(original: str, names: list[str], seed: int) -> Perturbation:
    text, applied = apply_operators(original, application_order(names), random.Random(seed))
    return Perturbation(original, text, applied, seed)


def perturbations(
    text: str | st.SearchStrategy[str],
    operators: Sequence[str] = (),
    max_depth: int = 3,
    min_depth: int = 0,
) -> st.SearchStrategy[Perturbation]:
    """Perturbations of `text` (a string, or a strategy of strings) composing between
    `min_depth` and `max_depth` distinct operators from `operators` (all when empty).
    `min_depth=0` includes the unperturbed text, the baseline every variant must agree with.
    Unknown operator names raise ValueError at once, not inside a test run."""
    names = resolve_operators(operators)
    if not 0 <= min_depth <= max_depth:
        raise ValueError(f"need 0 <= min_depth <= max_depth, got {min_depth}, {max_depth}")
    texts = st.just(text) if isinstance(text, str) else text
    return st.builds(
        _build, texts, _operator_lists(names, min_depth, max_depth), st.integers(0, MAX_SEED)
    )


def _operator_lists(
    names: tuple[str, ...], min_depth: int, max_depth: int
) -> st.SearchStrategy[list[str]]:
    """Distinct operator names. Drawn as a plain list and de-duplicated rather than with
    `unique=True`: hypothesis draws a unique list's later elements relative to the earlier
    ones, so deleting one renames the rest and shrinking gets stuck at 3-4 operators
    (measured: 26 of 60 `find` runs); independent elements delete cleanly (0 of 100)."""
    lists = st.lists(st.sampled_from(names), max_size=min(max_depth, len(names)))
    distinct = lists.map(lambda drawn: list(dict.fromkeys(drawn)))
    minimum = min(min_depth, len(names))
    return distinct.filter(lambda drawn: len(drawn) >= minimum) if minimum else distinct


def perturbed(
    text: str | st.SearchStrategy[str],
    operators: Sequence[str] = (),
    max_depth: int = 3,
    min_depth: int = 0,
) -> st.SearchStrategy[str]:
    """Just the perturbed strings of `perturbations(...)` (same shrinking)."""
    return perturbations(text, operators, max_depth, min_depth).map(lambda p: p.text)
