"""Fixtures for `stability`-marked tests and inline checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from stabtest.pytest_plugin.keys import SESSION, Target

if TYPE_CHECKING:
    from stabtest.core.results import CaseResult, VariantResult
    from stabtest.pytest_plugin.inline import StabChecker


@pytest.fixture
def stab_variant(request: pytest.FixtureRequest) -> Target:
    """(scope, case id, variant id) of a `stability`-marked test's current item
    (`stability` on the `[stability]` item; `*` there when the test is collected per
    case)."""
    target: Target = request.param
    return target


@pytest.fixture
def stab_result(request: pytest.FixtureRequest, stab_variant: Target) -> VariantResult | None:
    """The VariantResult of this item of a `stability`-marked test (None on the
    `[stability]` item, which checks the whole case)."""
    scope, case_id, variant_id = stab_variant
    outcome = request.config.stash[SESSION].outcome(scope, case_id)
    return outcome.variants.get(variant_id)


@pytest.fixture
def stab_case(request: pytest.FixtureRequest, stab_variant: Target) -> CaseResult:
    """The CaseResult (SI, FC, RDR and thresholds) of a `stability`-marked test."""
    scope, case_id, _ = stab_variant
    return request.config.stash[SESSION].outcome(scope, case_id).case


@pytest.fixture
def stab(request: pytest.FixtureRequest) -> StabChecker:
    """Imperative API: `stab.check(prompt, ...)` / `stab.assert_stable(prompt, ...)` inside
    any test. Each call runs its own small plan: prefer suites or the marker for many cases."""
    from stabtest.pytest_plugin.inline import StabChecker

    return StabChecker(request.config.stash[SESSION], request.node)
