"""A run whose backend crashes or is interrupted keeps what it produced: the cache holds
every finished batch, the JSON report is written with what could be judged, and a rerun
resumes instead of starting over."""

from __future__ import annotations

import json

import pytest

# A backend loaded by `module:attr`: answers every prompt, but with CRASH set it fails (or
# is interrupted) on any batch asking about Japan. Same fingerprint either way, so a
# rerun without CRASH reuses what the crashed run cached.
CRASHY = """
import os


class Crashy:
    name = "crashy"

    def __init__(self, **options):
        self.calls = 0

    def fingerprint(self):
        return "crashy:1"

    def generate(self, requests):
        mode = os.environ.get("CRASH")
        if mode and any("japan" in r.prompt.lower() for r in requests):
            if mode == "interrupt":
                raise KeyboardInterrupt
            raise RuntimeError("the accelerator fell over")
        answers = []
        for r in requests:
            city = "Tokyo" if "japan" in r.prompt.lower() else "Paris"
            answers.append(f"The capital is {city}.")
        return answers
"""

# Different max_new_tokens put the cases in different generation groups, France first:
# France is fully generated before the Japan batch crashes.
SUITE = """\
suite: two
defaults:
  perturbations: {count: 1, operators: [casing]}
cases:
  - id: france
    prompt: What is the capital of France?
    reference: Paris
    sampling: {max_new_tokens: 16}
  - id: japan
    prompt: What is the capital of Japan?
    reference: Tokyo
    sampling: {max_new_tokens: 17}
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(crashy=CRASHY)
    pytester.syspathinsert()
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "two.yaml").write_text(SUITE, encoding="utf-8")
    pytester.makeini(
        "[pytest]\nstab_backend = crashy:Crashy\nstab_embedder = lexical\nstab_batch_size = 1\n"
    )
    return pytester


def _report(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "reports" / "stabtest.json").read_text())


def test_crash_keeps_cache_and_partial_report_and_rerun_resumes(project, monkeypatch):
    monkeypatch.setenv("CRASH", "error")
    result = project.runpytest()
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*japan[[]v0[]]*",
            "stabtest: the session's generation failed: RuntimeError: the accelerator fell over*",
            "*generation failed: RuntimeError: the accelerator fell over; answers generated "
            "before it are cached*",
        ]
    )
    report = _report(project)
    assert [c["case_id"] for c in report["cases"]] == ["france"]
    assert report["error"] == "generation failed: RuntimeError: the accelerator fell over"
    assert report["generation"]["generated"] == 2

    monkeypatch.delenv("CRASH")
    result = project.runpytest()
    result.assert_outcomes(passed=6)
    rerun = _report(project)
    assert "error" not in rerun
    assert (rerun["generation"]["cached"], rerun["generation"]["generated"]) == (2, 2)


def test_interrupted_run_still_writes_its_report(project, monkeypatch):
    monkeypatch.setenv("CRASH", "interrupt")
    result = project.runpytest(no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = _report(project)
    assert report["status"] == "interrupted"
    assert report["cases"] == []  # nothing was judged yet: the plan runs before any item
    # France's answers were generated before the interrupt: the report counts them.
    assert report["generation"]["generated"] == 2
    monkeypatch.delenv("CRASH")
    project.runpytest().assert_outcomes(passed=6)
    assert _report(project)["generation"]["cached"] == 2


def test_a_run_without_stability_items_keeps_the_last_report(project):
    project.runpytest().assert_outcomes(passed=6)
    before = _report(project)
    project.runpytest("-k", "nothing-matches")
    assert _report(project)["run_id"] == before["run_id"]
