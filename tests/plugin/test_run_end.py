"""The end of a run (`stabtest.finish`): one pipeline, the report written once with the
exit status the process returns, the hook given the final report, and an interrupted or
crashed step still leaving a report that says how far the run got."""

from __future__ import annotations

import json
from pathlib import Path

import hypothesis  # noqa: F401  (imported once here: see conftest's note on pytester)
import pytest

from stabtest.core.report import RunReport, read_report
from tests.plugin.conftest import CAPITALS, CONSISTENT, Writer
from tests.plugin.test_explore_plugin import ANSWERS, SUITE

# Counts every write of the run's report (atomic writes go through write_atomic), with
# the status each write had, and keeps what the hook was given.
WATCH = """
import json
from pathlib import Path

import stabtest.core.report as report_module

real = report_module.write_atomic


def counting(path, data):
    if Path(path).name == "stabtest.json":
        with open("writes.jsonl", "a") as out:
            print(json.dumps({"status": json.loads(data)["status"]}), file=out)
    return real(path, data)


def pytest_configure(config):
    report_module.write_atomic = counting


def pytest_unconfigure(config):  # pytester runs in this process: leave it as it was
    report_module.write_atomic = real


def pytest_stabtest_report_written(path, report):
    Path("hooked.json").write_text(report.model_dump_json())
"""
NO_ESCALATION = "stab_escalate_below = 0\n"


def hooked(root: Path) -> RunReport:
    """The report `pytest_stabtest_report_written` was given."""
    return RunReport.model_validate_json((root / "hooked.json").read_text())


def writes(root: Path) -> list[str]:
    path = root / "writes.jsonl"
    return [json.loads(line)["status"] for line in path.read_text().splitlines()]


def test_a_plain_run_writes_its_report_once_with_its_exit_status(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT, ini=NO_ESCALATION)
    pytester.makeconftest(WATCH)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)
    assert writes(pytester.path) == ["complete"]
    report = read_report(pytester.path / "reports" / "stabtest.json")
    assert report.exitstatus == result.ret == 0
    assert report.steps == ["record", "compare", "push", "explore", "remediate", "history", "write"]
    assert hooked(pytester.path) == report


def test_the_hook_gets_the_final_report_with_explore_and_baseline_sections(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": SUITE}, ANSWERS)
    pytester.runpytest("-p", "no:cacheprovider", "--stab-save-baseline=main")
    pytester.makeconftest(WATCH)
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--stab-baseline=main", "--stab-explore=60"
    )
    result.assert_outcomes(passed=2, failed=2)
    # One `running` checkpoint before explore (a long step), then the final report once.
    assert writes(pytester.path) == ["running", "complete"]
    final = hooked(pytester.path)
    assert final == read_report(pytester.path / "reports" / "stabtest.json")
    assert final.baseline is not None and final.baseline.passed
    assert final.explore is not None and [e.status for e in final.explore] == ["found"]
    assert final.exitstatus == result.ret == 1


def test_a_regression_exit_is_in_the_stored_report(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT, ini=NO_ESCALATION)
    pytester.runpytest("-p", "no:cacheprovider", "--stab-save-baseline=main").assert_outcomes(
        passed=6
    )
    (pytester.path / "answers.json").write_text(json.dumps({"france": "It is Lyon."}))
    result = pytester.runpytest("-p", "no:cacheprovider", "--stab-baseline=main", "--stab-no-cache")
    assert result.ret == 6
    report = read_report(pytester.path / "reports" / "stabtest.json")
    assert report.exitstatus == 6 and report.baseline is not None
    assert not report.baseline.passed


EXPLORE_BREAKS = """
import stabtest.explore.after_run as after_run

searching = after_run.explore_passed


def stop(*args, **kwargs):
    raise {error}


def pytest_sessionstart(session):
    after_run.explore_passed = stop


def pytest_sessionfinish(session):
    after_run.explore_passed = searching
"""


def test_ctrl_c_in_a_step_leaves_an_interrupted_report_of_what_finished(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": SUITE}, ANSWERS)
    pytester.makeconftest(WATCH + EXPLORE_BREAKS.format(error="KeyboardInterrupt"))
    result = pytester.runpytest("-p", "no:cacheprovider", "--stab-explore=60")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert writes(pytester.path) == ["running", "interrupted"]
    report = read_report(pytester.path / "reports" / "stabtest.json")
    assert report.status == "interrupted" and report.exitstatus == 2
    assert report.steps == ["record", "compare", "push", "history", "write"]
    assert len(report.variants) == 2 and report.explore is None
    result.stdout.fnmatch_lines(["report: *stabtest.json"])


def test_a_crashed_step_leaves_its_report_and_is_raised(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": SUITE}, ANSWERS)
    pytester.makeconftest(WATCH + EXPLORE_BREAKS.format(error="RuntimeError('out of memory')"))
    result = pytester.runpytest("-p", "no:cacheprovider", "--stab-explore=60")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*RuntimeError: out of memory*"])
    report = read_report(pytester.path / "reports" / "stabtest.json")
    assert report.status == "interrupted" and report.exitstatus == 3
    assert report.error == "explore failed: RuntimeError: out of memory"
    assert report.steps == ["record", "compare", "push", "history", "write"]
    assert len(report.variants) == 2


def test_a_change_within_the_judges_noise_floor_is_not_called_a_regression(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project({"capitals.yaml": CAPITALS}, CONSISTENT, ini=NO_ESCALATION)
    pytester.runpytest("-p", "no:cacheprovider", "--stab-save-baseline=main")
    (pytester.path / "answers.json").write_text(json.dumps({"france": "It is Lyon."}))
    gate = ("-p", "no:cacheprovider", "--stab-baseline=main", "--stab-baseline-judge-noise")
    result = pytester.runpytest(*gate)
    assert result.ret == 6  # no noise floor measured: the tolerances stand
    result.stdout.fnmatch_lines(["judge noise: no *judge_noise.json (run `stabtest judge-noise`*"])
    floor = {"judge_noise": {"noise_floor": 1.0}}  # judges that flip every verdict
    (pytester.path / "reports" / "judge_noise.json").write_text(json.dumps(floor))
    result = pytester.runpytest(*gate)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # failing, but not a regression
    result.stdout.fnmatch_lines(["judge noise floor 1.000 (*): SI and FC changes within it*"])
    report = read_report(pytester.path / "reports" / "stabtest.json")
    assert report.baseline is not None and report.baseline.passed and report.exitstatus == 1
