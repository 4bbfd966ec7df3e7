"""pytest collectors and items for YAML suites: thin glue over the engine.

A suite file collects one item per variant (`suites/capitals.yaml::capital-of-france[v3]`)
and one per case (`...::capital-of-france[stability]`) that checks the case's thresholds.
Items only read results: the engine has already planned the whole session.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stabtest.core.errors import StabtestError, SuiteError
from stabtest.core.results import CaseResult, VariantResult, to_dict

if TYPE_CHECKING:
    from stabtest.core.suite import Case
    from stabtest.engine import Engine

PROPERTY = "stabtest"
CASE_ITEM = "stability"


class VariantFailure(Exception):
    """A variant's verdict is `fail`."""

    def __init__(self, result: VariantResult, original: VariantResult | None):
        super().__init__(result.uid)
        self.result = result
        self.original = original


class CaseFailure(Exception):
    """A case missed its SI / FC thresholds."""

    def __init__(self, result: CaseResult, variants: list[VariantResult]):
        super().__init__(result.uid)
        self.result = result
        self.variants = variants


def engine_of(config: pytest.Config) -> Engine:
    from stabtest.plugin import ENGINE

    return config.stash[ENGINE]


def record(item: pytest.Item, kind: str, payload: Any) -> None:
    """Attach a result to the item's report as JSON, so it survives xdist."""
    item.user_properties.append((PROPERTY, json.dumps({"kind": kind, "data": to_dict(payload)})))


def record_cost(item: pytest.Item, engine: Engine) -> None:
    """Attach what generation cost since the last item that reported it."""
    stats = engine.take_stats()
    if stats:
        record(item, "generation", stats)


def check_variant(item: pytest.Item, scope: str, case_id: str, variant_id: str) -> VariantResult:
    """Record a variant's result and raise if it failed or escalated."""
    engine = engine_of(item.config)
    outcome = engine.outcome(scope, case_id)
    result = outcome.variants[variant_id]
    record_cost(item, engine)
    record(item, "variant", result)
    if result.rejected:
        pytest.skip(f"variant rejected: {result.rejected}")
    if result.outcome == "fail":
        raise VariantFailure(result, outcome.variants.get("v0"))
    if result.outcome == "escalate":
        reason = next(a.verdict.reason for a in result.answers if a.verdict.outcome == "escalate")
        pytest.skip(f"escalated to human review: {reason}")
    return result


def check_case(item: pytest.Item, scope: str, case_id: str) -> CaseResult:
    """Record a case's metrics and raise if it missed a threshold."""
    engine = engine_of(item.config)
    outcome = engine.outcome(scope, case_id)
    record_cost(item, engine)
    record(item, "case", outcome.case)
    if not outcome.case.passed:
        raise CaseFailure(outcome.case, list(outcome.variants.values()))
    return outcome.case


def render_failure(excinfo: pytest.ExceptionInfo[BaseException], tbstyle: str) -> str | None:
    """The failure as stabtest explains it; one line under `--tb=line` / `--tb=no`, where
    pytest shows no more (and a thousand full renderings would cost a second)."""
    from stabtest.reporting.failure import (
        case_headline,
        render_case,
        render_variant,
        variant_headline,
    )

    brief = tbstyle in ("line", "no")
    if isinstance(excinfo.value, VariantFailure):
        if brief:
            return variant_headline(excinfo.value.result)
        return render_variant(excinfo.value.result, excinfo.value.original)
    if isinstance(excinfo.value, CaseFailure):
        if brief:
            return case_headline(excinfo.value.result)
        return render_case(excinfo.value.result, excinfo.value.variants)
    if isinstance(excinfo.value, StabtestError):
        return f"stabtest: {excinfo.value}"
    return None


class SuiteFile(pytest.File):
    """A YAML suite. A malformed file fails its own collection only, naming file and line."""

    def collect(self) -> Iterator[pytest.Item]:
        from stabtest.core.loader import load_suite

        scope = self.nodeid
        try:
            suite = load_suite(self.path, display_path=scope)
            engine = engine_of(self.config)
            registered = zip(suite.cases, engine.register_all(scope, suite.cases), strict=True)
        except SuiteError as error:
            raise self.CollectError(str(error)) from None
        except StabtestError as error:
            raise self.CollectError(f"{scope}: {error}") from None
        for case, variants in registered:
            for variant in variants:
                yield VariantItem.from_parent(
                    self, name=f"{case.id}[{variant.id}]", case=case, variant_id=variant.id
                )
            yield CaseItem.from_parent(self, name=f"{case.id}[{CASE_ITEM}]", case=case)


class _StabItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any):
        super().__init__(**kwargs)
        self.case = case
        self.scope = self.parent.nodeid if self.parent else ""
        self.add_marker(pytest.mark.stabtest)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        tbstyle = self.config.getoption("tbstyle", "auto")
        return render_failure(excinfo, tbstyle) or super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = None if self.case.line is None else self.case.line - 1
        return self.path, line, self.name


class VariantItem(_StabItem):
    """One prompt variant: passes when its answers pass the judges."""

    def __init__(self, *, variant_id: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.variant_id = variant_id

    def runtest(self) -> None:
        check_variant(self, self.scope, self.case.id, self.variant_id)


class CaseItem(_StabItem):
    """The whole case: passes when SI and FC meet their thresholds."""

    def runtest(self) -> None:
        check_case(self, self.scope, self.case.id)
