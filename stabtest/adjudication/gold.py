"""The gold store: human labels keyed by (variant uid, answer hash), versioned.

Every change of a human decision adds a row with the next version, so a relabelled answer
keeps its history and a pull that finds nothing new writes nothing. Each row also keeps
what the machine said when the task was pushed (outcome, leaning, confidence, votes), so
Annotation Precision and threshold calibration can be computed from this file alone,
without the run that produced the verdicts.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stabtest.adjudication.calibrate import CalibrationRow
from stabtest.core.metrics import annotation_precision
from stabtest.core.results import GoldLabel, Outcome, Vote

_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    uid TEXT NOT NULL,
    answer_hash TEXT NOT NULL,
    version INTEGER NOT NULL,
    stable INTEGER,
    correct INTEGER,
    corrected_answer TEXT,
    rationale TEXT,
    annotator TEXT,
    updated_at TEXT,
    recorded_at TEXT NOT NULL,
    auto_outcome TEXT,
    auto_leaning TEXT,
    confidence REAL,
    category TEXT,
    votes TEXT NOT NULL DEFAULT '[]',
    prompt TEXT,
    original_prompt TEXT,
    answer TEXT,
    suite TEXT,
    case_id TEXT,
    project TEXT,
    PRIMARY KEY (uid, answer_hash, version)
);
CREATE TABLE IF NOT EXISTS projects (
    server TEXT NOT NULL,
    title TEXT NOT NULL,
    project_id INTEGER NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (server, title)
);
"""
_CONTENT = ("stable", "correct", "corrected_answer", "rationale")
_LATEST = (
    "SELECT * FROM labels AS l WHERE version = "
    "(SELECT MAX(version) FROM labels WHERE uid = l.uid AND answer_hash = l.answer_hash)"
)


@dataclass(frozen=True)
class GoldRecord:
    """A label with the machine's side of the story, as it was at push time."""

    label: GoldLabel
    auto_outcome: Outcome | None = None
    auto_leaning: Outcome | None = None
    confidence: float | None = None
    category: str | None = None
    votes: tuple[Vote, ...] = ()
    prompt: str | None = None
    original_prompt: str | None = None
    answer: str | None = None
    suite: str | None = None
    case_id: str | None = None
    project: str | None = None
    version: int = 0


@dataclass(frozen=True)
class Correction:
    """A human-written answer: remediation's supervised target for `prompt`."""

    uid: str
    answer_hash: str
    prompt: str
    corrected_answer: str
    answer: str | None = None
    rationale: str | None = None


@dataclass(frozen=True)
class UpsertReport:
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0


def _bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _unbool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


class GoldStore:
    """SQLite file of human labels; safe to open from several processes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30)) as db:
            db.row_factory = sqlite3.Row
            db.executescript(_SCHEMA)
            with db:
                yield db

    # -- writing ---------------------------------------------------------------------------

    def upsert(self, labels: Iterable[GoldLabel | GoldRecord]) -> UpsertReport:
        """Write labels; a new version only when the decision (choices, corrected answer,
        rationale) differs from the latest one, so repeated pulls are no-ops."""
        inserted = changed = unchanged = 0
        now = datetime.now(UTC).isoformat()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            for item in labels:
                record = item if isinstance(item, GoldRecord) else GoldRecord(label=item)
                label = record.label
                latest = db.execute(
                    "SELECT * FROM labels WHERE uid = ? AND answer_hash = ? "
                    "ORDER BY version DESC LIMIT 1",
                    (label.uid, label.answer_hash),
                ).fetchone()
                row = self._row(record, now)
                if latest is not None and all(latest[k] == row[k] for k in _CONTENT):
                    unchanged += 1
                    continue
                row["version"] = 1 if latest is None else latest["version"] + 1
                if latest is None:
                    inserted += 1
                else:
                    changed += 1
                    for key in (
                        "auto_outcome",
                        "auto_leaning",
                        "confidence",
                        "category",
                        "prompt",
                        "original_prompt",
                        "answer",
                        "suite",
                        "case_id",
                        "project",
                    ):
                        if row[key] is None:
                            row[key] = latest[key]  # keep push-time context we had
                    if row["votes"] == "[]":
                        row["votes"] = latest["votes"]
                columns = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                db.execute(f"INSERT INTO labels ({columns}) VALUES ({marks})", list(row.values()))
        return UpsertReport(inserted, changed, unchanged)

    @staticmethod
    def _row(record: GoldRecord, now: str) -> dict[str, Any]:
        label = record.label
        return {
            "uid": label.uid,
            "answer_hash": label.answer_hash,
            "stable": _bool(label.stable),
            "correct": _bool(label.correct),
            "corrected_answer": label.corrected_answer,
            "rationale": label.rationale,
            "annotator": label.annotator,
            "updated_at": label.updated_at,
            "recorded_at": now,
            "auto_outcome": record.auto_outcome,
            "auto_leaning": record.auto_leaning,
            "confidence": record.confidence,
            "category": record.category,
            "votes": json.dumps([asdict(v) for v in record.votes], sort_keys=True),
            "prompt": record.prompt,
            "original_prompt": record.original_prompt,
            "answer": record.answer,
            "suite": record.suite,
            "case_id": record.case_id,
            "project": record.project,
        }

    def record_project(self, server: str, title: str, project_id: int) -> None:
        """Remember which server project a suite's labels come from, so a pull can tell
        that a project was deleted rather than merely empty."""
        with self._db() as db:
            db.execute(
                "INSERT INTO projects (server, title, project_id, seen_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (server, title) DO UPDATE SET project_id = excluded.project_id,"
                " seen_at = excluded.seen_at",
                (server, title, project_id, datetime.now(UTC).isoformat()),
            )

    def forget_project(self, server: str, title: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM projects WHERE server = ? AND title = ?", (server, title))

    # -- reading ---------------------------------------------------------------------------

    def known_projects(self, server: str) -> dict[str, int]:
        if not self.path.exists():
            return {}
        with self._db() as db:
            rows = db.execute(
                "SELECT title, project_id FROM projects WHERE server = ?", (server,)
            ).fetchall()
        return {r["title"]: r["project_id"] for r in rows}

    def records(self) -> list[GoldRecord]:
        """The latest version of every label, with its push-time context."""
        if not self.path.exists():
            return []
        with self._db() as db:
            rows = db.execute(_LATEST + " ORDER BY uid, answer_hash").fetchall()
        return [self._record(r) for r in rows]

    @staticmethod
    def _record(row: sqlite3.Row) -> GoldRecord:
        label = GoldLabel(
            uid=row["uid"],
            answer_hash=row["answer_hash"],
            stable=_unbool(row["stable"]),
            correct=_unbool(row["correct"]),
            corrected_answer=row["corrected_answer"],
            rationale=row["rationale"],
            annotator=row["annotator"],
            updated_at=row["updated_at"],
        )
        try:
            votes = tuple(Vote(**v) for v in json.loads(row["votes"] or "[]"))
        except (TypeError, ValueError):
            votes = ()
        return GoldRecord(
            label=label,
            auto_outcome=row["auto_outcome"],
            auto_leaning=row["auto_leaning"],
            confidence=row["confidence"],
            category=row["category"],
            votes=votes,
            prompt=row["prompt"],
            original_prompt=row["original_prompt"],
            answer=row["answer"],
            suite=row["suite"],
            case_id=row["case_id"],
            project=row["project"],
            version=row["version"],
        )

    def latest(self) -> dict[tuple[str, str], GoldLabel]:
        return {(r.label.uid, r.label.answer_hash): r.label for r in self.records()}

    def lookup(self, uid: str, answer_hash: str) -> GoldLabel | None:
        """The human label for this exact answer, or None (a changed answer has another
        hash, so it is judged afresh)."""
        record = self.record(uid, answer_hash)
        return record.label if record else None

    def record(self, uid: str, answer_hash: str) -> GoldRecord | None:
        if not self.path.exists():
            return None
        with self._db() as db:
            row = db.execute(
                "SELECT * FROM labels WHERE uid = ? AND answer_hash = ? "
                "ORDER BY version DESC LIMIT 1",
                (uid, answer_hash),
            ).fetchone()
        return self._record(row) if row else None

    def version(self, uid: str, answer_hash: str) -> int:
        record = self.record(uid, answer_hash)
        return record.version if record else 0

    def count(self, project: str | None = None) -> int:
        records = self.records()
        return sum(1 for r in records if project is None or r.project == project)

    def corrections(self) -> list[Correction]:
        """Latest labels that carry a corrected answer, for remediation."""
        return [
            Correction(
                uid=r.label.uid,
                answer_hash=r.label.answer_hash,
                prompt=r.prompt or "",
                corrected_answer=r.label.corrected_answer or "",
                answer=r.answer,
                rationale=r.label.rationale,
            )
            for r in self.records()
            if r.label.corrected_answer and r.label.corrected_answer.strip()
        ]

    def judges(self) -> list[str]:
        return sorted({v.judge for r in self.records() for v in r.votes})

    def auto_vs_human(self, judge: str | None = None) -> list[tuple[str | None, Outcome | None]]:
        """(automatic, human) outcome pairs: the ensemble's pushed outcome, or with `judge`
        that judge's vote (an abstention counts as missing). Feed to annotation_precision."""
        pairs: list[tuple[str | None, Outcome | None]] = []
        for record in self.records():
            if judge is None:
                auto: str | None = record.auto_outcome
            else:
                auto = next((v.outcome for v in record.votes if v.judge == judge), None)
            pairs.append((auto, record.label.outcome))
        return pairs

    def precision(self) -> dict[str, float | None]:
        """AP of the ensemble ("ensemble") and of each judge, from the store alone."""
        result = {"ensemble": annotation_precision(self.auto_vs_human())}
        for judge in self.judges():
            result[judge] = annotation_precision(self.auto_vs_human(judge))
        return result

    def calibration_rows(self) -> list[CalibrationRow]:
        """(leaning, confidence, human) for labels where all three are known."""
        rows = []
        for record in self.records():
            human = record.label.outcome
            if record.auto_leaning in ("pass", "fail") and record.confidence is not None and human:
                rows.append(CalibrationRow(record.auto_leaning, record.confidence, human))
        return rows
