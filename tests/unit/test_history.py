"""The run history: whole lines under concurrent appends, bad lines skipped with a
warning, never a crash, and a record built from a report."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from stabtest.core.report import RunReport
from stabtest.core.results import GenerationStats, RunSummary
from stabtest.reporting.history import (
    Figures,
    HistoryRecord,
    HistoryWarning,
    append_history,
    read_history,
    record_of,
)


def record(run_id: str, when: float = 1.0, **extra: object) -> HistoryRecord:
    return HistoryRecord(run_id=run_id, time=when, status="complete", run=Figures(), **extra)


def _writer(path: str, worker: int, count: int) -> None:
    for i in range(count):
        # a long label makes each line several KiB, so torn writes would show
        append_history(Path(path), record(f"w{worker}-{i}", label="x" * 4000))


def test_records_round_trip_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "history.jsonl"
    assert read_history(path) == []  # none yet
    append_history(path, record("b", 2.0, label="round 1"))
    append_history(path, record("a", 1.0))
    assert [r.run_id for r in read_history(path)] == ["a", "b"]
    assert read_history(path)[1].label == "round 1"


def test_concurrent_appends_keep_every_line_whole(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    workers, count = 4, 25
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_writer, args=(str(path), w, count)) for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    skipped: list[str] = []
    records = read_history(path, on_skip=skipped.append)
    assert skipped == []
    assert sorted(r.run_id for r in records) == sorted(
        f"w{w}-{i}" for w in range(workers) for i in range(count)
    )


def test_bad_lines_are_skipped_with_their_line_number(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    append_history(path, record("good-1"))
    with path.open("ab") as out:
        out.write(b"not json\n")
        out.write(b'{"run_id": "no time"}\n')
        out.write(b"[1, 2]\n")
        out.write(b"\xff\xfe\n")
        out.write(b"\n")  # blank lines are not records, nor errors
        out.write(b'{"run_id": "torn", "ti')
    append_history(path, record("good-2", 2.0))  # starts on a line of its own
    skipped: list[str] = []
    records = read_history(path, on_skip=skipped.append)
    assert [r.run_id for r in records] == ["good-1", "good-2"]
    assert [s.split(": ")[0].rsplit(":", 1)[1] for s in skipped] == ["2", "3", "4", "5", "7"]
    assert "3: skipped a line that is not a history record (time: Field required)" in skipped[1]
    with pytest.warns(HistoryWarning) as caught:
        read_history(path)
    assert len(caught) == 5 and "history.jsonl:2: skipped" in str(caught[0].message)


def test_a_newer_record_with_unknown_keys_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    line = record("r").model_dump_json()[:-1] + ', "from_the_future": {"a": 1}}\n'
    path.write_text(line)
    assert [r.run_id for r in read_history(path)] == ["r"]


def test_a_record_of_a_report_keeps_the_figures_and_hashes_the_suites(tmp_path: Path) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "a.yaml").write_text("suite: a\n")
    summary = RunSummary(cases=3, cases_failed=1, variants=9, si=0.25, fc=0.5, rdr=0.3)
    report = RunReport(
        run_id="r1",
        status="complete",
        exitstatus=1,
        started_at=10.0,
        finished_at=12.5,
        settings={"backend": "fake", "model": "answers.json"},
        summary=summary,
        generation=GenerationStats(requests=9, generated=4),
        suites={"suites/a.yaml": summary, "tests/test_x.py::test_y": RunSummary(cases=1)},
    )
    made = record_of(report, rootdir=tmp_path, fingerprint="fake:abc", label="round 2")
    assert (made.run_id, made.time, made.seconds, made.exitstatus) == ("r1", 12.5, 2.5, 1)
    assert (made.backend, made.model, made.fingerprint) == ("fake", "answers.json", "fake:abc")
    assert made.run.si == 0.25 and made.run.cases_failed == 1
    assert set(made.suites) == {"suites/a.yaml", "tests/test_x.py::test_y"}
    assert list(made.suite_hashes) == ["suites/a.yaml"]  # the test file does not exist here
    assert len(made.suite_hashes["suites/a.yaml"]) == 16
    assert made.generation.generated == 4 and made.baseline is None
