"""pytest collectors and items for YAML suites: thin glue over the session.

A suite file collects one item per variant (`suites/capitals.yaml::capital-of-france[v3]`)
and one per case (`...::capital-of-france[stability]`) that checks the case's thresholds;
with `collect: per-case` (or the `collect` setting) one item per case
(`suites/capitals.yaml::capital-of-france`) that records and checks all of it.
Items only read results: the session has already planned the whole run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stabtest.core.errors import StabtestError, SuiteError
from stabtest.core.ids import CASE_ITEM, PER_CASE, item_name
from stabtest.core.results import CaseOutcome, CaseResult, GenerationStats, VariantResult
from stabtest.pytest_plugin.keys import OUTCOME_PROPERTY, RESULT_PROPERTY, SESSION

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from stabtest.core.suite import Case
    from stabtest.reporting.recorder import PayloadKind
    from stabtest.session import Session

RESULTS: pytest.StashKey[list[VariantResult | CaseResult]] = pytest.StashKey()
"""The results an item recorded, typed (for its pytest-html row)."""


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


class WholeCaseFailure(Exception):
    """A case collected as one item: a variant failed or the case missed a threshold."""

    def __init__(self, outcome: CaseOutcome, failed: list[VariantResult]):
        super().__init__(outcome.case.uid)
        self.outcome = outcome
        self.failed = failed


def record(
    item: pytest.Item, kind: PayloadKind, payload: VariantResult | CaseResult | GenerationStats
) -> None:
    """Attach a result to the item's report as JSON, so it survives xdist."""
    from stabtest.reporting.recorder import encode_payload

    worker = str(getattr(item.config, "workerinput", {}).get("workerid", ""))
    item.user_properties.append((RESULT_PROPERTY, encode_payload(kind, payload, worker)))
    if isinstance(payload, VariantResult | CaseResult):
        item.stash.setdefault(RESULTS, []).append(payload)


def record_cost(item: pytest.Item, session: Session) -> None:
    """Attach what generation cost since the last item that reported it."""
    stats = session.take_stats()
    if stats:
        record(item, "generation", stats)


def outcome_of(item: pytest.Item, scope: str, case_id: str) -> CaseOutcome:
    """The judged case; a case that cannot run (a prompt beyond the model's context)
    fails its items with the reason, which the report lists under `problems`."""
    from stabtest.core.ids import case_uid
    from stabtest.reporting.recorder import encode_problem

    session = item.config.stash[SESSION]
    try:
        return session.outcome(scope, case_id)
    except StabtestError as error:
        record_cost(item, session)
        problem = encode_problem(case_uid(scope, case_id), str(error))
        item.user_properties.append((RESULT_PROPERTY, problem))
        raise


def check_variant(item: pytest.Item, scope: str, case_id: str, variant_id: str) -> VariantResult:
    """Record a variant's result and raise if it failed or escalated."""
    session = item.config.stash[SESSION]
    outcome = outcome_of(item, scope, case_id)
    result = outcome.variants[variant_id]
    record_cost(item, session)
    record(item, "variant", result)
    from stabtest.reporting.properties import variant_properties

    item.user_properties += variant_properties(result)  # for --junitxml
    if result.rejected:
        pytest.skip(f"variant rejected: {result.rejected}")
    item.user_properties.append((OUTCOME_PROPERTY, result.outcome))
    if result.outcome == "fail":
        raise VariantFailure(result, outcome.variants.get("v0"))
    if result.outcome == "escalate":
        reason = next(a.verdict.reason for a in result.answers if a.verdict.outcome == "escalate")
        pytest.skip(f"escalated to human review: {reason}")
    return result


def check_case(item: pytest.Item, scope: str, case_id: str) -> CaseResult:
    """Record a case's metrics and raise if it missed a threshold."""
    session = item.config.stash[SESSION]
    outcome = outcome_of(item, scope, case_id)
    record_cost(item, session)
    record(item, "case", outcome.case)
    from stabtest.reporting.properties import case_properties

    item.user_properties += case_properties(outcome.case)  # for --junitxml
    if not outcome.case.passed:
        raise CaseFailure(outcome.case, list(outcome.variants.values()))
    return outcome.case


def check_whole_case(item: pytest.Item, scope: str, case_id: str) -> CaseResult:
    """Record every variant's result and the case's, as their own items would (so the
    report is the same either way); raise if a variant failed or the case missed a
    threshold, else skip as escalated if a variant escalated. Rejected variants are
    recorded and listed, never failures."""
    session = item.config.stash[SESSION]
    outcome = outcome_of(item, scope, case_id)
    record_cost(item, session)
    variants = list(outcome.variants.values())
    for result in variants:
        record(item, "variant", result)
    record(item, "case", outcome.case)
    from stabtest.reporting.properties import whole_case_properties

    item.user_properties += whole_case_properties(outcome.case, variants)  # for --junitxml
    verdict = outcome.whole_outcome()
    item.user_properties.append((OUTCOME_PROPERTY, verdict))
    if verdict == "fail":
        raise WholeCaseFailure(outcome, outcome.judged("fail"))
    if verdict == "escalate":
        from stabtest.reporting.failure import variant_ids

        escalated = outcome.judged("escalate")
        shown = variant_ids(escalated)
        pytest.skip(f"escalated to human review: {len(escalated)} variant(s) ({shown})")
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
    if isinstance(excinfo.value, WholeCaseFailure):
        return render_whole_case_failure(excinfo.value, brief)
    if isinstance(excinfo.value, StabtestError):
        return f"stabtest: {excinfo.value}"
    return None


def render_whole_case_failure(failure: WholeCaseFailure, brief: bool) -> str:
    """A case collected as one item: one line, or its failing variants and metrics."""
    from stabtest.reporting.failure import render_whole_case, whole_case_headline

    outcome = failure.outcome
    variants = list(outcome.variants.values())
    if brief:
        judged = len(variants) - len(outcome.rejected())
        return whole_case_headline(outcome.case, failure.failed, judged)
    return render_whole_case(outcome.case, variants, failure.failed, outcome.variants.get("v0"))


class SuiteFile(pytest.File):
    """A YAML suite. A malformed file fails its own collection only, naming file and line."""

    def collect(self) -> Iterator[pytest.Item]:
        from stabtest.core.loader import load_suite
        from stabtest.variants.perturb import OPERATORS

        scope = self.nodeid
        try:
            suite = load_suite(self.path, display_path=scope, operators=OPERATORS)
            session = self.config.stash[SESSION]
            registered = zip(suite.cases, session.register_all(scope, suite.cases), strict=True)
        except SuiteError as error:
            raise self.CollectError(str(error)) from None
        except StabtestError as error:
            raise self.CollectError(f"{scope}: {error}") from None
        whole = (suite.collect or session.settings.collect) == PER_CASE
        for case, variants in registered:
            if whole:
                yield WholeCaseItem.from_parent(self, name=case.id, case=case)
                continue
            for variant in variants:
                yield VariantItem.from_parent(
                    self, name=item_name(case.id, variant.id), case=case, variant_id=variant.id
                )
            yield CaseItem.from_parent(self, name=item_name(case.id, CASE_ITEM), case=case)


class _StabItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any):
        super().__init__(**kwargs)
        self.case = case
        self.scope = self.parent.nodeid if self.parent else ""
        self.add_marker(pytest.mark.stabtest)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | TerminalRepr:
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


class WholeCaseItem(_StabItem):
    """The whole case in one item (`collect: per-case`): passes when every variant
    passes the judges and SI and FC meet their thresholds."""

    def runtest(self) -> None:
        check_whole_case(self, self.scope, self.case.id)
