"""The plugin end to end on the bundled SmolLM2-135M and all-MiniLM-L6-v2, as a user runs it:
plain `pytest` in a project with a suite, in a subprocess, no configuration, no network."""

from __future__ import annotations

import json

import pytest

from stabtest.generation.hf import default_cache_dir

# Resolved before pytester points HOME at a temporary dir: the converted model is reused.
MODEL_CACHE = default_cache_dir()

pytestmark = pytest.mark.integration

SUITE = """\
suite: real
defaults:
  sampling: {temperature: 0.0, max_new_tokens: 24}
cases:
  - id: capital-of-france
    prompt: What is the capital of France?
    reference: Paris
    paraphrases: [Which city is the capital of France?]
    perturbations: {count: 2, operators: [casing, punctuation]}
    thresholds: {min_fc: 0.75, max_si: 0.5}
  - id: contradicting-reference
    prompt: What is the capital of France?
    reference: Marseille     # deliberately wrong: every right answer contradicts it
    incorrect: [Paris]
    paraphrases: [Which city is the capital of France?]
"""

# Written into the project: records which heavy modules each process (controller and
# xdist workers) imported.
PROBE = """
import json
import os
import sys


def pytest_unconfigure(config):
    loaded = {name: name in sys.modules for name in ("torch", "transformers")}
    process = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (config.rootpath / f"modules-{process}.json").write_text(json.dumps(loaded))
"""


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STABTEST_CACHE_DIR", str(MODEL_CACHE))
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "real.yaml").write_text(SUITE, encoding="utf-8")
    pytester.makeconftest(PROBE)
    pytester.makeini("[pytest]\nstab_seed = 0\n")

    def go(*args: str) -> tuple[pytest.RunResult, dict, dict]:
        for old in pytester.path.glob("modules-*.json"):
            old.unlink()
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", *args)
        report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
        loaded: dict[str, bool] = {}
        for probe in pytester.path.glob("modules-*.json"):
            for name, seen in json.loads(probe.read_text()).items():
                loaded[name] = loaded.get(name, False) or seen
        return result, report, loaded

    return go


def _case(report: dict, case_id: str) -> dict:
    return next(c for c in report["cases"] if c["case_id"] == case_id)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_real_model_passes_the_easy_fact_fails_the_wrong_reference_and_reruns_from_cache(
    run, workers
):
    result, report, modules = run(*workers)

    france = _case(report, "capital-of-france")
    assert france["passed"], france
    assert france["metrics"]["fc"] >= 0.75
    assert france["metrics"]["answers"] == 4
    answers = [a["text"] for v in report["variants"] for a in v["answers"]]
    assert sum("Paris" in text for text in answers) >= 6  # both cases see the same answers

    wrong = _case(report, "contradicting-reference")
    assert not wrong["passed"]
    assert wrong["metrics"]["fc"] == 0.0
    wrong_variants = [v for v in report["variants"] if v["case_id"] == "contradicting-reference"]
    assert {v["outcome"] for v in wrong_variants} == {"fail"}
    categories = {a["verdict"]["category"] for v in wrong_variants for a in v["answers"]}
    assert categories == {"hallucination"}
    result.stdout.fnmatch_lines(["contradicting-reference: FC 0.000 < min_fc 0.500"])

    # Both cases ask the same four prompts: the plan generates each once (under xdist the
    # worker that waited for the lock finds them all in the cache).
    assert report["generation"]["generated"] == 4
    assert modules["torch"]

    result, rerun, modules = run(*workers)
    assert rerun["generation"]["generated"] == 0
    assert rerun["generation"]["cached"] == rerun["generation"]["requests"] >= 4
    assert not modules["torch"], "a fully cached rerun must not import torch"
    assert [v["answers"] for v in rerun["variants"]] == [v["answers"] for v in report["variants"]]
    result.stdout.fnmatch_lines(["generation: * 0 generated*"])
