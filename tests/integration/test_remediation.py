"""A real remediation round, CI-sized: the bundled model, real TRL LoRA SFT steps, the
held-out rerun and the gate, driven through the `stabtest` command as a user would."""

from __future__ import annotations

import json
import shutil
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
  - id: capital-of-japan            # a control case (drawn by hash of its uid)
    prompt: What is the capital of Japan?
    reference: Tokyo
    paraphrases: [Which city is the capital of Japan?]
  - id: capital-of-germany          # a control case too
    prompt: What is the capital of Germany?
    reference: Berlin
"""
LENIENT = [  # a gate any round passes: the loop's mechanics are under test, not the model
    "--min-si-drop", "-100", "--max-fc-drop", "1", "--max-control-fc-drop", "1",
    "--min-rdr-ratio", "0", "--control-rule", "estimate",
]  # fmt: skip


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite run once (report and cache): each test works on a copy of it."""
    pytest.importorskip("trl")
    root = tmp_path_factory.mktemp("remediation-run")
    (root / "suites").mkdir()
    (root / "suites" / "facts.yaml").write_text(SUITE)
    (root / "pyproject.toml").write_text("[tool.stabtest]\nseed = 0\n")
    command = [sys.executable, "-m", "stabtest.cli", "run", "-p", "no:cacheprovider", "-q"]
    subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600)
    assert (root / "reports" / "stabtest.json").is_file()
    return root


@pytest.fixture
def project(ran: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ran, tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    return tmp_path / "project"


def test_a_round_trains_reruns_held_out_variants_and_gates(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "sft", "-o", "sft.jsonl"]) == 0
    rows = [json.loads(line) for line in Path("sft.jsonl").read_text().splitlines()]
    trained = {row["prompt"][0]["content"] for row in rows}
    assert trained
    threads = [row["prompt"] for row in rows if len(row["prompt"]) > 1]
    assert threads  # conversation turns train in their thread: user, assistant, ..., user
    for thread in threads:
        roles = [message["role"] for message in thread]
        assert roles == ["user", "assistant"] * (len(roles) // 2) + ["user"]
    code = main(["remediate", "--steps", "8", "--eval-variants", "3", "--no-search"])
    out = capsys.readouterr().out
    report = json.loads((project / "reports" / "remediation.json").read_text())
    assert report["schema_version"] == 2 and report["status"] in ("accepted", "rejected")
    assert code == (0 if report["accepted"] else 1)
    assert ("ACCEPTED" if report["accepted"] else "REJECTED") in out
    for criterion in report["criteria"]:  # one line each, with its paired interval
        assert ("pass: " if criterion["passed"] else "MISS: ") + criterion["line"] in out
        assert criterion["interval"] is None or "95% CI" in criterion["line"]
    assert [c["advice"] for c in report["criteria"] if not c["passed"]] == report["advice"]
    # training happened: 8 real steps, the chosen step recorded, the weights changed
    steps = {t["step"] for t in report["search"]["trials"]}  # early stopping on validation
    assert report["steps"] == 8 and report["chosen_step"] in steps and 8 in steps
    assert report["losses"][-1] < report["losses"][0]
    model = Path(report["model"])
    assert (model / "config.json").is_file() and (model / "manifest.json").is_file()
    base = Path(report["base_dir"])
    assert (model / "model.safetensors").read_bytes() != (base / "model.safetensors").read_bytes()
    assert report["base_fingerprint"].startswith("hf:") and len(report["training_data_hash"]) == 12
    # the control cases (drawn by hash) were never trained on; the held-out rerun judged
    # only prompts training never saw
    control = {c["case"] for c in report["per_case"] if c["role"] == "control"}
    assert {
        "suites/facts.yaml::capital-of-japan",
        "suites/facts.yaml::capital-of-germany",
    } <= control
    assert not any(row["prompt"][0]["content"].endswith("Japan?") for row in rows)
    judged = {p for case in report["per_case"] for p in case["prompts"]}
    assert judged and not judged & trained
    assert report["control"]["before"]["cases"] == len(control) >= 2
    # `stabtest report` reads the file back
    assert main(["report"]) == 0
    assert f"model {model}" in capsys.readouterr().out
    # the round is listed, and a new model version (fingerprint) never reuses old answers
    assert main(["models"]) == 0
    assert f"{model.name}: round 1" in capsys.readouterr().out
    from stabtest.generation.hf import HFBackend

    assert HFBackend(str(model)).fingerprint() != report["base_fingerprint"]


def test_the_model_and_the_steps_come_from_the_commands_settings(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--stab-model DIR` is the model the round trains from, and `[tool.stabtest]
    remediate_steps` (the one declaration's pyproject key) its number of steps."""
    from stabtest.generation.hf import HFBackend

    mine = project / "mine"  # the bundled model as a plain directory of the user's
    shutil.copytree(HFBackend(None, cache_dir=None).model_dir(), mine)
    (project / "pyproject.toml").write_text("[tool.stabtest]\nseed = 0\nremediate_steps = 2\n")
    command = ["remediate", "--stab-model", str(mine), "--eval-variants", "2", "--no-search"]
    code = main([*command, *LENIENT])
    out = capsys.readouterr().out
    report = json.loads((project / "reports" / "remediation.json").read_text())
    assert code == (0 if report["accepted"] else 1)
    assert f"remediation: round 1 from {report['base_dir']}:" in out
    assert report["base_model"] == str(mine)
    assert Path(report["base_dir"]).resolve() == mine.resolve()
    assert report["base_fingerprint"] == HFBackend(str(mine)).fingerprint()
    model = Path(report["model"])
    assert model.name.startswith("mine-r1-") and report["base"] == "mine"
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["base_model"] == str(mine) and manifest["steps"] == report["steps"] == 2
    assert report["search"]["configs_tried"] == 1  # --no-search: the given configuration


def test_the_search_chooses_on_validation_within_its_budget_then_a_second_round(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["remediate", "--steps", "6", "--eval-variants", "2", "--budget-minutes", "0.75"]
    assert main([*command, "--rounds", "2", "--retain-weight", "0.5", *LENIENT]) == 0
    out = capsys.readouterr().out
    report = json.loads((project / "reports" / "remediation.json").read_text())
    first, second = report["rounds"]
    # retain: the base model's own answers of cases with nothing to correct, trained on
    assert first["example_families"].get("retain", 0) > 0 and first["roles"]["retain"] > 0
    # validation: wordings held back from training, scored at every checkpoint
    assert first["roles"]["validation_prompts"] > 0
    assert first["roles"]["held_back_for_validation"] > 0
    search = first["search"]
    assert search["trials"] and sum(t["chosen"] for t in search["trials"]) == 1
    chosen = next(t for t in search["trials"] if t["chosen"])
    assert first["chosen_step"] == chosen["step"] <= first["steps"] <= 6
    # the budget (45 s) stops the search before all five configurations
    assert search["stopped_by_budget"] and search["configs_tried"] < 5
    assert "search stops" in out or "would not fit" in out
    # the second round trains from the first round's model
    assert second["round"] == 2 and second["base_model"] == first["model"]
    assert Path(second["base_dir"]) == Path(first["model"])
    assert report["model"] == second["model"] and report["status"] == "accepted"
    assert "rounds: 1: accepted, 2: " in out  # round 1 stands whatever round 2's verdict


def test_a_budget_too_small_for_one_step_trains_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["remediate", "--budget-minutes", "0.0001"]) == 2
    assert "budget ran out before one training step" in capsys.readouterr().err
    assert not list((project / ".stabtest" / "models").glob("smollm2*"))


def test_no_control_or_no_validation_is_one_clear_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["remediate", "--control-fraction", "0", "--retain-weight", "0.5"]) == 2
    assert "no control case" in capsys.readouterr().err
    assert main(["remediate", "--validation-fraction", "0"]) == 2
    assert "no validation prompt" in capsys.readouterr().err
    assert main(["remediate", "--control-fraction", "1"]) == 2
    assert "no treated case" in capsys.readouterr().err


def test_no_training_data_is_a_clear_error_and_trains_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
    command += ["--tb=no", "--remediate", "--remediate-steps", "6", "--remediate-budget", "3"]
    command += ["--stab-remediate-search=false"]  # one configuration: 6 steps on a busy CPU too
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=600)
    report = json.loads((project / "reports" / "remediation.json").read_text())
    assert done.returncode == (0 if report["accepted"] else 1), done.stdout[-2000:]
    assert "remediation: held-out SI" in done.stdout
    assert ("ACCEPTED" if report["accepted"] else "REJECTED") in done.stdout
    assert report["steps"] == 6 and report["search"]["configs_tried"] >= 1
    run = json.loads((project / "reports" / "stabtest.json").read_text())
    assert run["exitstatus"] == done.returncode  # settled before the report was written
    assert run["status"] == "complete" and "remediate" in run["steps"]
