"""The history's trend: slopes with t intervals on known series, and drift flagged only
on the bad side of 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from stabtest.reporting.history import Figures, HistoryRecord
from stabtest.reporting.history_trend import metric_trend, trend_lines, trends


def record(i: int, si: float | None, fc: float | None) -> HistoryRecord:
    return HistoryRecord(
        run_id=f"r{i}", time=float(i), status="complete", run=Figures(si=si, fc=fc)
    )


def test_slope_and_interval_match_a_worked_example() -> None:
    """y = 0, 1, 3, 4 over x = 0..3: slope 7 / 5 = 1.4, residuals 0.1, -0.3, 0.3, -0.1
    (SSE 0.2), stderr sqrt(0.2 / 2 / 5) = 0.14142; t(0.975, 2) = 4.30265, so the
    interval is 1.4 +- 0.60849."""
    trend = metric_trend([0.0, 1.0, 3.0, 4.0], "si")
    assert trend.slope == pytest.approx(1.4)
    assert trend.low == pytest.approx(1.4 - 0.608487, abs=1e-5)
    assert trend.high == pytest.approx(1.4 + 0.608487, abs=1e-5)
    assert trend.drifting  # SI rising


def test_drift_is_flagged_only_in_the_bad_direction() -> None:
    rising = [0.10, 0.12, 0.15, 0.16, 0.19, 0.21]
    assert metric_trend(rising, "si").drifting
    assert not metric_trend(rising, "fc").drifting  # FC rising is good
    assert metric_trend([0.9, 0.88, 0.85, 0.84, 0.80], "fc").drifting
    noisy = [0.5, 0.6, 0.45, 0.58, 0.5, 0.52]
    assert not metric_trend(noisy, "si").drifting
    flat = metric_trend([0.3] * 5, "si")
    assert (flat.slope, flat.drifting) == (0.0, False)


def test_only_the_last_runs_count_and_too_few_say_so() -> None:
    history = [record(i, 0.1 + 0.05 * i if i < 5 else 0.35, 0.9) for i in range(15)]
    si, _ = trends(history, last=10)
    assert si.runs == 10 and si.slope is not None and not si.drifting  # flat since run 5
    assert trends(history, last=15)[0].drifting
    lines = trend_lines([record(0, 0.1, None), record(1, 0.2, None)], last=10)
    assert lines == [
        "trend SI: needs 3 runs with SI, the history has 2",
        "trend FC: needs 3 runs with FC, the history has 0",
    ]
    lines = trend_lines([record(i, 0.1 * i, 0.9) for i in range(4)], last=10)
    assert lines[0].startswith("trend SI over the last 4 runs: +0.1000/run [95% +0.1000,")
    assert lines[0].endswith("DRIFTING (rising)") and lines[1].endswith("steady")
    with pytest.raises(ValueError, match="last must be positive"):
        trends(history, last=0)


def test_the_history_command_flags_a_drifting_si(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from stabtest.cli import main
    from stabtest.reporting.history import append_history

    monkeypatch.chdir(tmp_path)
    path = tmp_path / ".stabtest" / "history.jsonl"
    for i, si in enumerate([0.10, 0.12, 0.15, 0.16, 0.19, 0.21]):
        append_history(path, record(i, si, 0.9))
    assert main(["history", "--trend", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("trend SI over the last 5 runs: +") and "DRIFTING (rising)" in out[-2]
    assert out[-1].startswith("trend FC over the last 5 runs:") and "DRIFTING" not in out[-1]
    assert main(["history", "--trend", "0"]) == 0
    assert not any(line.startswith("trend") for line in capsys.readouterr().out.splitlines())
