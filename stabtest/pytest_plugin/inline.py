"""The `stab` fixture's object: stability checks written inline in a Python test.

    def test_capital(stab):
        stab.assert_stable("What is the capital of France?", reference="Paris",
                           paraphrases=["Which city is France's capital?"], max_si=0.3)

Each call plans and runs its own case (the slow path: use suites or the `stability`
marker for many cases, which share one batched plan).
"""

from __future__ import annotations

from typing import Any

import pytest

from stabtest.core.loader import build_case
from stabtest.core.results import CaseOutcome
from stabtest.pytest_plugin.items import record, record_cost
from stabtest.reporting.failure import render_case, render_variant
from stabtest.session import Session

THRESHOLD_KEYS = ("max_si", "min_fc", "min_pass_rate", "pass_k", "min_pass_k")


class StabilityError(AssertionError):
    """`assert_stable` failed; the message shows every answer by cluster."""


class StabChecker:
    def __init__(self, session: Session, node: pytest.Item):
        self.session = session
        self.node = node
        self._count = 0

    def check(
        self, prompt: str | None = None, *, id: str | None = None, **fields: Any
    ) -> CaseOutcome:
        """Run one case built from the same keys a YAML case takes (a conversation:
        `turns=[...]` and no prompt); `max_si`, `min_fc` and the repeat thresholds
        (`min_pass_rate`, `pass_k`, `min_pass_k`) may be given directly. Results
        join the run's report."""
        from stabtest.variants.perturb import OPERATORS

        self._count += 1
        thresholds = {k: fields.pop(k) for k in THRESHOLD_KEYS if k in fields}
        if thresholds:
            fields["thresholds"] = {**fields.get("thresholds", {}), **thresholds}
        raw: dict[str, Any] = {"id": id or f"{self.node.name.split('[')[0]}-{self._count}"}
        if prompt is not None:
            raw["prompt"] = prompt
        raw.update({k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()})
        case = build_case(raw, path=f"{self.node.nodeid} (stab.check)", operators=OPERATORS)
        scope = self.node.nodeid
        self.session.register(scope, case)
        outcome = self.session.outcome(scope, case.id)
        record_cost(self.node, self.session)
        for variant in outcome.variants.values():
            record(self.node, "variant", variant)
        record(self.node, "case", outcome.case)
        return outcome

    def assert_stable(self, prompt: str | None = None, **fields: Any) -> CaseOutcome:
        """`check`, then fail the test if the case missed a threshold or a variant failed."""
        outcome = self.check(prompt, **fields)
        failed = [v for v in outcome.variants.values() if v.outcome == "fail"]
        if not outcome.case.passed:
            raise StabilityError(render_case(outcome.case, list(outcome.variants.values())))
        if failed:
            original = outcome.variants.get("v0")
            raise StabilityError("\n\n".join(render_variant(v, original) for v in failed))
        return outcome
