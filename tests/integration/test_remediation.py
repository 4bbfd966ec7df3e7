"""A real remediation round, CI-sized: the bundled model, real TRL LoRA SFT steps, the
held-out rerun and the gate, driven through the `stabtest` command as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stabtest.cli import main

SUITE = """\
suite: facts
defaults:
  sampling: {temperature: 0.0, max_new_tokens: 24}
  perturbations: {count: 4, depth: 1}
cases:
  - id: largest-planet
    prompt: What is the largest planet in the solar system?
    reference: Jupiter
    incorrect: [Neptune, Saturn]
    paraphrases:
      - Which planet is the largest in our solar system?
      - Name the biggest planet in the solar system.
      - Which is the largest planet orbiting the Sun?
      - What planet is bigger than all the others in the solar system?
  - id: capital-of-france
    prompt: What is the capital of France?
    reference: Paris
    incorrect: [Lyon]
  - id: water-boils
    prompt: At what temperature in Celsius does water boil at sea level?
    reference: "100"
    kind: numeric
  - id: france-thread
    turns:
      - prompt: What is the capital of France?
        reference: Paris
        incorrect: [Lyon]
        paraphrases: [Which city is the capital of France?, Name the capital of France.]
      - prompt: Which river flows through that city?
        reference: Seine
      - prompt: Remind me, what is the capital of France?
        recall: 1
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("trl")
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "facts.yaml").write_text(SUITE)
    (tmp_path / "pyproject.toml").write_text("[tool.stabtest]\nseed = 0\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_suites(root: Path) -> None:
    command = [sys.executable, "-m", "stabtest.cli", "run", "-p", "no:cacheprovider", "-q"]
    subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600)
    assert (root / "reports" / "stabtest.json").is_file()


def test_a_round_trains_reruns_held_out_variants_and_gates(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_suites(project)
    assert main(["export", "sft", "-o", "sft.jsonl"]) == 0
    rows = [json.loads(line) for line in Path("sft.jsonl").read_text().splitlines()]
    trained = {row["prompt"][0]["content"] for row in rows}
    assert trained
    threads = [row["prompt"] for row in rows if len(row["prompt"]) > 1]
    assert threads  # conversation turns train in their thread: user, assistant, ..., user
    for thread in threads:
        roles = [message["role"] for message in thread]
        assert roles == ["user", "assistant"] * (len(roles) // 2) + ["user"]
    code = main(["remediate", "--steps", "12", "--eval-variants", "3"])
    out = capsys.readouterr().out
    report = json.loads((project / "reports" / "remediation.json").read_text())
    assert code == (0 if report["accepted"] else 1)
    assert ("ACCEPTED" if report["accepted"] else "REJECTED") in out
    # training happened: 12 real steps, the loss fell, the weights changed
    assert report["steps"] == 12 and report["losses"][-1] < report["losses"][0]
    model = Path(report["model"])
    assert (model / "config.json").is_file() and (model / "manifest.json").is_file()
    base = Path(
        report["hyperparameters"] and sorted(Path.home().glob(".cache/stabtest/models/*"))[0]
    )
    assert (model / "model.safetensors").read_bytes() != (base / "model.safetensors").read_bytes()
    assert report["base_fingerprint"].startswith("hf:") and len(report["training_data_hash"]) == 12
    # the rerun judged only prompts training never saw; untouched cases are the control
    judged = {p for case in report["per_case"] for p in case["prompts"]}
    assert judged and not judged & trained
    assert any(not c["trained"] for c in report["per_case"])
    assert report["control"]["before"]["cases"] >= 1
    # the round is listed, and a new model version (fingerprint) never reuses old answers
    assert main(["models"]) == 0
    assert f"{model.name}: round 1" in capsys.readouterr().out
    from stabtest.generation.hf import HFBackend

    assert HFBackend(str(model)).fingerprint() != report["base_fingerprint"]


def test_no_training_data_is_a_clear_error_and_trains_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_suites(project)
    assert main(["remediate", "--no-weak"]) == 2
    err = capsys.readouterr().err
    assert "no training data" in err and "nothing was trained" in err
    assert not (project / ".stabtest" / "models").exists() or not any(
        (project / ".stabtest" / "models").iterdir()
    )


def test_an_http_backend_cannot_be_trained(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pyproject.toml").write_text('[tool.stabtest]\nbackend = "fake"\n')
    assert main(["remediate"]) == 2
    assert "--stab-backend fake" in capsys.readouterr().err


def test_pytest_remediate_gates_the_session(project: Path) -> None:
    command = [sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", "-q"]
    command += ["--tb=no", "--remediate", "--remediate-steps", "12"]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=600)
    report = json.loads((project / "reports" / "remediation.json").read_text())
    assert done.returncode == (0 if report["accepted"] else 1), done.stdout[-2000:]
    assert "remediation: held-out SI" in done.stdout
    assert ("ACCEPTED" if report["accepted"] else "REJECTED") in done.stdout
    assert report["steps"] == 12
