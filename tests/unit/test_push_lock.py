"""The push lock and the staged outbox, without a server: a push that cannot get the lock
parks its tasks and names the lock; the lock is keyed by the redacted server URL and the
prefix; staging keeps a row that is already parked as it is. The real-server races are in
tests/integration/test_label_studio_hardening.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stabtest.adjudication.client import push_results
from stabtest.adjudication.outbox import Outbox, push_lock
from tests.unit.test_adjudication import answer, variant, verdict


def test_a_push_that_cannot_get_the_lock_parks_its_tasks_and_says_why(tmp_path: Path) -> None:
    outbox = tmp_path / "label_studio" / "outbox.sqlite"
    url = "http://me:hunter22@127.0.0.1:9/?token=abc123"
    held = push_lock(outbox, "http://***@127.0.0.1:9/?token=***", "stabtest")
    with held:
        report = push_results(
            [variant("v1", [answer("Lyon", verdict("fail"))])],
            url=url,
            token="tok-" + "7" * 20,
            outbox_path=outbox,
            lock_timeout=0.2,
        )
    assert not report.ok and report.parked == 1 and report.imported == 0
    assert report.error is not None
    assert "another stabtest push to http://***@127.0.0.1:9/?token=***" in report.error
    assert held.lock_file in report.error and "kept in the outbox" in report.error
    assert "hunter22" not in report.error and "abc123" not in report.error
    assert Path(held.lock_file).parent == outbox.parent  # under the cache dir


def test_the_lock_is_one_per_server_and_prefix(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.sqlite"
    one = push_lock(outbox, "http://ls:8080", "stabtest").lock_file
    assert push_lock(outbox, "http://ls:8080/", "stabtest").lock_file == one
    assert push_lock(outbox, "http://ls:8081", "stabtest").lock_file != one
    assert push_lock(outbox, "http://ls:8080", "team").lock_file != one


def test_staging_keeps_a_parked_row_and_adds_new_ones_at_zero_attempts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.sqlite")
    task = {"data": {"external_id": "u1#0000000000000001"}, "v": "parked"}
    box.park("stabtest: a", [task], error="down")
    staged = box.stage(
        "stabtest: a",
        [{**task, "v": "fresh"}, {"data": {"external_id": "u2#0000000000000002"}}],
    )
    assert staged == 1 and len(box) == 2
    assert box.pending()["stabtest: a"][0]["v"] == "parked"
    rows = sqlite3.connect(box.path).execute(
        "SELECT external_id, attempts FROM outbox ORDER BY external_id"
    )
    assert rows.fetchall() == [("u1#0000000000000001", 1), ("u2#0000000000000002", 0)]
