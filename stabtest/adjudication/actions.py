"""Label Studio at the edges of a run: human labels in before it, verdicts out after it.

Shared by the pytest plugin and the `stabtest` command, so both find the same outbox and
gold store (under the cache dir), take the token from the same places, and word their
messages alike. No pytest here; nothing imports the SDK until a server is really asked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stabtest.adjudication.client import PullReport, PushReport, pull_gold, push_results
from stabtest.adjudication.gold import GoldStore
from stabtest.adjudication.paths import default_gold_path, default_outbox_path
from stabtest.core.errors import StabtestError
from stabtest.core.report import read_report
from stabtest.core.results import GoldLabel, VariantResult
from stabtest.core.settings import Settings

URL_SETTINGS = "--stab-label-studio URL (ini stab_label_studio, [tool.stabtest] label_studio)"


def gold_path(settings: Settings) -> Path:
    return default_gold_path(settings.cache_path)


def outbox_path(settings: Settings) -> Path:
    return default_outbox_path(settings.cache_path)


@dataclass(frozen=True)
class GoldSnapshot:
    """The latest human labels, read once. Every process of a run (each xdist worker too)
    opens the gold store after the controller's pull and answers lookups from memory: one
    read, not one SQLite query per answer, and no process writes."""

    path: Path
    labels: Mapping[tuple[str, str], GoldLabel] = field(default_factory=dict)

    def lookup(self, uid: str, answer_hash: str) -> GoldLabel | None:
        return self.labels.get((uid, answer_hash))

    def __len__(self) -> int:
        return len(self.labels)


def load_gold(settings: Settings) -> GoldSnapshot | None:
    """The gold store of the cache dir, or None when there is none or it holds no label."""
    path = gold_path(settings)
    if not path.is_file():
        return None
    try:
        labels = GoldStore(path).latest()
    except sqlite3.Error as error:
        raise StabtestError(
            f"cannot read the gold store {path} ({error}); human labels are not used. "
            f"Move the file away and pull again (stabtest pull)."
        ) from None
    return GoldSnapshot(path, labels) if labels else None


def _url(settings: Settings, url: str | None) -> str:
    url = url or settings.label_studio
    if not url:
        raise StabtestError(f"no Label Studio URL: set {URL_SETTINGS}")
    return url


def pull(settings: Settings, url: str | None = None) -> PullReport:
    """Pull the annotations of the `<prefix>: ...` projects into the gold store."""
    return pull_gold(
        url=_url(settings, url),
        token=settings.token,
        store=GoldStore(gold_path(settings)),
        project_prefix=settings.label_studio_prefix,
    )


def push(
    settings: Settings,
    variants: Iterable[VariantResult],
    run_id: str | None = None,
    url: str | None = None,
) -> PushReport:
    """Push failed and escalated answers (after whatever the outbox holds), one project
    per suite; server trouble parks them in the outbox."""
    return push_results(
        variants,
        url=_url(settings, url),
        token=settings.token,
        outbox_path=outbox_path(settings),
        project_prefix=settings.label_studio_prefix,
        run_id=run_id,
        store=GoldStore(gold_path(settings)),
    )


def variants_of_report(path: Path) -> tuple[list[VariantResult], str | None]:
    """The variants of a JSON report written by a run, and its run id."""
    report = read_report(path)
    return list(report.variants), report.run_id


# -- messages ------------------------------------------------------------------------------


def push_fix(report: PushReport, rerun: str, url_setting: str = URL_SETTINGS) -> list[str]:
    """The error and what to do about it, when the push parked tasks."""
    if report.ok:
        return []
    lines = [report.error or ""]
    if "unreachable" in (report.error or ""):
        lines.append(
            f"fix: start Label Studio at {report.url} or correct {url_setting}; then {rerun} "
            f"sends the parked tasks"
        )
    else:
        lines.append(f"fix: as above; then {rerun} sends the parked tasks")
    return lines


def push_record(report: PushReport) -> dict[str, Any]:
    """What the JSON report keeps of a push (no token, no credential of the URL: the URL is
    redacted and messages are scrubbed)."""
    return {
        "url": report.url,
        "selected": report.selected,
        "imported": report.imported,
        "drained": report.drained,
        "already_present": report.already_present,
        "parked": report.parked,
        "outbox": report.outbox_path,
        "projects": dict(report.projects),
        "created_projects": list(report.created_projects),
        "error": report.error,
        "interrupted": report.interrupted,
        "seconds": round(report.seconds, 3),
    }


def pull_record(report: PullReport) -> dict[str, Any]:
    return {
        "url": report.url,
        "projects": dict(report.projects),
        "annotated": report.annotated,
        "inserted": report.inserted,
        "changed": report.changed,
        "unchanged": report.unchanged,
        "missing_projects": list(report.missing_projects),
        "error": report.error,
        "seconds": round(report.seconds, 3),
    }
