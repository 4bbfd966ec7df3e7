"""Tasks that could not reach Label Studio yet.

A push that meets a down server, a refused token or a server error parks its tasks here;
the next push sends them first. Rows are keyed by (project title, external id), so parking
the same task twice keeps one copy, and a row leaves only once the server has the task.
SQLite rather than JSONL: concurrent pytest-xdist workers may park tasks at once, and a
crash mid-write must not lose or corrupt what is already parked. Only task payloads are
stored, never the token.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    project_title TEXT NOT NULL,
    external_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    parked_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    last_error TEXT,
    PRIMARY KEY (project_title, external_id)
);
"""


class Outbox:
    """Parked tasks, grouped by the project (title) they belong to."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=30)
        connection.execute(_SCHEMA)
        return connection

    def park(self, project_title: str, tasks: Iterable[dict[str, Any]], error: str = "") -> int:
        """Keep tasks for a later push; a task already parked keeps one row (attempts + 1)."""
        now = datetime.now(UTC).isoformat()
        rows = [
            (
                project_title,
                task["data"]["external_id"],
                json.dumps(task, sort_keys=True),
                now,
                error,
            )
            for task in tasks
        ]
        with closing(self._connect()) as db, db:
            db.executemany(
                "INSERT INTO outbox (project_title, external_id, payload, parked_at, last_error)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_title, external_id) DO UPDATE SET"
                " payload = excluded.payload, attempts = attempts + 1,"
                " last_error = excluded.last_error",
                rows,
            )
        return len(rows)

    def pending(self) -> dict[str, list[dict[str, Any]]]:
        """Parked tasks by project title, oldest first."""
        if not self.path.exists():
            return {}
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT project_title, payload FROM outbox ORDER BY parked_at, rowid"
            ).fetchall()
        grouped: dict[str, list[dict[str, Any]]] = {}
        for title, payload in rows:
            grouped.setdefault(title, []).append(json.loads(payload))
        return grouped

    def remove(self, project_title: str, external_ids: Iterable[str]) -> int:
        """Forget tasks the server now has."""
        ids = [(project_title, i) for i in external_ids]
        if not ids or not self.path.exists():
            return 0
        with closing(self._connect()) as db, db:
            before = db.total_changes
            db.executemany("DELETE FROM outbox WHERE project_title = ? AND external_id = ?", ids)
            return db.total_changes - before

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        with closing(self._connect()) as db:
            return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
