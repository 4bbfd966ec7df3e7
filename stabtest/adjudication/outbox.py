"""Tasks that could not reach Label Studio yet.

A push that meets a down server, a refused token or a server error parks its tasks here;
the next push sends them first. A push also stages its own tasks here before its first
request, and takes each out once the server has it, so an interrupted push (Ctrl-C, a
kill) leaves every unconfirmed task here. Rows are keyed by (project title, external id),
so parking the same task twice keeps one copy, and a row leaves only once the server has
the task. SQLite rather than JSONL: concurrent pytest-xdist workers may park tasks at
once, and a crash mid-write must not lose or corrupt what is already parked. Only task
payloads are stored, never the token.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filelock import FileLock

BUSY_TIMEOUT_S = 30.0
LOCK_TIMEOUT = 600.0
"""Seconds a push waits for another push to the same server and prefix to finish."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    project_title TEXT NOT NULL,
    external_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    parked_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,  -- failed pushes (0: staged by a push under way)
    last_error TEXT,
    PRIMARY KEY (project_title, external_id)
);
"""


class Outbox:
    """Parked tasks, grouped by the project (title) they belong to."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        """WAL and a busy timeout: two processes may write at once (see `push_lock`)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
        connection.execute("PRAGMA journal_mode = WAL")
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

    def stage(self, project_title: str, tasks: Iterable[dict[str, Any]]) -> int:
        """Keep tasks a push is about to send (attempts 0), so a push that dies part-way
        loses none; a task already here keeps its row as it is."""
        now = datetime.now(UTC).isoformat()
        rows = [
            (project_title, task["data"]["external_id"], json.dumps(task, sort_keys=True), now)
            for task in tasks
        ]
        with closing(self._connect()) as db, db:
            before = db.total_changes
            db.executemany(
                "INSERT INTO outbox (project_title, external_id, payload, parked_at, attempts)"
                " VALUES (?, ?, ?, ?, 0) ON CONFLICT (project_title, external_id) DO NOTHING",
                rows,
            )
            return db.total_changes - before

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


def push_lock(outbox_path: str | Path, server: str, prefix: str) -> FileLock:
    """The inter-process lock a push holds from reading the outbox to its last import, one
    per (server, project prefix): two pushes at once would each find no project and create
    one, and each import the same tasks. `server` is the redacted URL (no credential in a
    file name, and one server whatever the token); the lock file lives beside the outbox,
    under the cache dir.

    stabtest's locking rule: everything two processes (xdist workers, two `stabtest push`,
    a run and a push) may write at once goes through a `filelock.FileLock` under the cache
    dir; SQLite files are the exception: SQLite serialises their writers itself, with a
    busy timeout and WAL (the generation cache, the outbox; the gold store has the busy
    timeout). A lock dies with its process (flock), so a crash never leaves one behind."""
    from filelock import FileLock

    key = hashlib.sha256(f"{server.rstrip('/')}\0{prefix}".encode()).hexdigest()[:16]
    directory = Path(outbox_path).parent
    directory.mkdir(parents=True, exist_ok=True)
    return FileLock(str(directory / f"push-{key}.lock"))
