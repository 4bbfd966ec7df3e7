"""Collects the results that items attach to their reports and writes the JSON report.

Runs in the controller process only, so it sees every xdist worker's results. The report
is written atomically, and also for failed or interrupted runs (`status` says which), so a
crashed run still leaves what it produced.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from stabtest.core.results import GenerationStats, case_from_dict, variant_from_dict
from stabtest.core.settings import Settings
from stabtest.reporting.summary import by_suite, summarize

REPORT_NAME = "stabtest.json"
SCHEMA = 1
PRIVATE_SETTINGS = {"label_studio_token"}


class Recorder:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.started_at = time.time()
        self.variants: dict[str, dict[str, Any]] = {}
        self.cases: dict[str, dict[str, Any]] = {}
        self.report_path: Path | None = None
        self.written: dict[str, Any] | None = None  # the report as last written
        self.extra: dict[str, Any] = {}
        self.generation = GenerationStats()

    def add(self, nodeid: str, payload: dict[str, Any]) -> None:
        data = payload["data"]
        if payload["kind"] == "generation":
            self.generation = self.generation.merged(GenerationStats(**data))
            return
        target = self.variants if payload["kind"] == "variant" else self.cases
        target[data["uid"]] = data

    def has_results(self) -> bool:
        return bool(self.variants or self.cases)

    def report(self, status: str = "running", exitstatus: int | None = None) -> dict[str, Any]:
        cases = [case_from_dict(c) for c in self.cases.values()]
        variants = [variant_from_dict(v) for v in self.variants.values()]
        settings = {
            f.name: getattr(self.settings, f.name)
            for f in fields(self.settings)
            if f.name not in PRIVATE_SETTINGS
        }
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "status": status,
            "exitstatus": exitstatus,
            "started_at": self.started_at,
            "finished_at": time.time(),
            "settings": settings,
            "summary": asdict(summarize(cases, variants)),
            "generation": asdict(self.generation),
            "suites": {name: asdict(s) for name, s in by_suite(cases, variants).items()},
            "cases": sorted(self.cases.values(), key=lambda c: c["uid"]),
            "variants": sorted(self.variants.values(), key=lambda v: v["uid"]),
            **self.extra,
        }

    def write(self, status: str, exitstatus: int | None = None) -> Path:
        directory = self.settings.report_path
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / REPORT_NAME
        self.written = self.report(status, exitstatus)
        write_json(path, self.written)
        self.report_path = path
        return path


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report.
    Compact: `indent` would switch json to its pure-Python encoder, 10x slower on the
    report of a thousand variants (`python -m json.tool` pretty-prints it)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
