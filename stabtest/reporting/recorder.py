"""Collects the results that items attach to their reports and builds the RunReport.

Runs in the controller process only, so it sees every xdist worker's results. It only
accumulates: the run's end (`stabtest.finish`) adds the other sections and writes it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import TypeAdapter

from stabtest.core.report import RunReport, Status
from stabtest.core.results import CaseResult, GenerationStats, VariantResult
from stabtest.core.settings import Settings
from stabtest.reporting.summary import by_suite, summarize

PayloadKind = Literal["variant", "case", "generation", "problem"]
_VARIANT = TypeAdapter(VariantResult)
_CASE = TypeAdapter(CaseResult)
_STATS = TypeAdapter(GenerationStats)


def encode_payload(
    kind: PayloadKind, record: VariantResult | CaseResult | GenerationStats, worker: str = ""
) -> str:
    """One result as JSON for an item's report (it crosses xdist as a user property).
    `worker` is the xdist worker that paid a generation cost."""
    adapters: dict[str, TypeAdapter[Any]] = {
        "variant": _VARIANT,
        "case": _CASE,
        "generation": _STATS,
    }
    adapter = adapters[kind]
    data = adapter.dump_json(record).decode()
    return f'{{"kind":"{kind}","worker":{json.dumps(worker)},"data":{data}}}'


def encode_problem(where: str, message: str) -> str:
    """A case that could not run (e.g. a prompt beyond the model's context), for the
    report's `problems`."""
    return json.dumps({"kind": "problem", "data": {"where": where, "message": message}})


class Recorder:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.started_at = time.time()
        self.variants: dict[str, VariantResult] = {}
        self.cases: dict[str, CaseResult] = {}
        self.costs: dict[str, GenerationStats] = {}  # by xdist worker ("" without xdist)
        self.problems: dict[str, str] = {}

    def add_payload(self, payload: dict[str, Any]) -> None:
        """A payload made by `encode_payload`, parsed back to its typed record."""
        kind, data = payload["kind"], payload["data"]
        if kind == "generation":
            self.add_cost(_STATS.validate_python(data), str(payload.get("worker", "")))
        elif kind == "problem":
            self.problems[str(data["where"])] = str(data["message"])
        elif kind == "variant":
            self.add_variant(_VARIANT.validate_python(data))
        else:
            self.add_case(_CASE.validate_python(data))

    def add_cost(self, stats: GenerationStats, worker: str = "") -> None:
        self.costs[worker] = self.costs.get(worker, GenerationStats()).merged(stats)

    @property
    def generation(self) -> GenerationStats:
        """The run's cost. xdist workers each plan the whole session and share one cache
        under a lock, so each answer is generated once but planned by every worker: the
        run's requests are the largest worker plan, generated answers add up."""
        costs = list(self.costs.values())
        if len(costs) <= 1:
            return costs[0] if costs else GenerationStats()
        requests = max(c.requests for c in costs)
        generated = sum(c.generated for c in costs)
        return GenerationStats(
            requests=requests,
            cached=max(requests - generated, 0),
            generated=generated,
            generate_seconds=round(sum(c.generate_seconds for c in costs), 3),
            embed_seconds=round(max(c.embed_seconds for c in costs), 3),
            reproducible=all(c.reproducible for c in costs),
        )

    def add_variant(self, result: VariantResult) -> None:
        self.variants[result.uid] = result

    def add_case(self, result: CaseResult) -> None:
        self.cases[result.uid] = result

    def add_problem(self, where: str, message: str) -> None:
        """A suite that failed to collect, or a case that could not run."""
        self.problems[where] = message

    def has_results(self) -> bool:
        return bool(self.variants or self.cases or self.problems)

    def report(self, status: Status = "running", exitstatus: int | None = None) -> RunReport:
        """What the items recorded, as a report; the run's end adds its sections."""
        cases = sorted(self.cases.values(), key=lambda c: c.uid)
        variants = sorted(self.variants.values(), key=lambda v: v.uid)
        if status == "complete" and self.problems:
            status = "incomplete"
        return RunReport(
            run_id=self.run_id,
            status=status,
            exitstatus=exitstatus,
            started_at=self.started_at,
            finished_at=time.time(),
            settings=self.settings.public(),
            summary=summarize(cases, variants),
            generation=self.generation,
            suites=by_suite(cases, variants),
            cases=cases,
            variants=variants,
            problems=dict(sorted(self.problems.items())) or None,
        )
