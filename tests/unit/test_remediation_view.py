"""remediation.json read back for the terminal: schema versions, criteria, advice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stabtest.core.errors import StabtestError
from stabtest.reporting.remediation_view import read_remediation, remediation_lines

V2 = {
    "schema_version": 2,
    "status": "rejected",
    "round": 1,
    "examples": 12,
    "example_families": {"paraphrase": 8, "retain": 4},
    "roles": {"treated": 3, "retain": 1, "control": 2, "validation_prompts": 5},
    "steps": 6,
    "search": {
        "budget_minutes": 1.0,
        "seconds": 50.0,
        "configs_tried": 2,
        "stopped_by_budget": True,
        "trials": [
            {
                "learning_rate": 2e-4,
                "retain_weight": 0.5,
                "lora_r": 16,
                "step": 4,
                "objective": 0.3,
                "kept": 1.0,
                "chosen": True,
            },
        ],
    },
    "treated": {"before": {"cases": 3, "answers": 9, "si": 0.5, "fc": 0.2}, "after": {}},
    "criteria": [
        {"name": "held-out SI", "passed": True, "line": "held-out SI 0.500 -> 0.100"},
        {"name": "control FC", "passed": False, "line": "control FC 0.800 -> 0.700"},
    ],
    "advice": ["raise --retain-weight"],
    "model": "/m/r1",
}


def test_a_v2_file_reads_back_with_every_criterion_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "remediation.json"
    path.write_text(json.dumps(V2))
    lines = list(remediation_lines(read_remediation(path)))
    text = "\n".join(lines)
    assert "  pass: held-out SI 0.500 -> 0.100" in lines
    assert "  MISS: control FC 0.800 -> 0.700" in lines
    assert "  to do: raise --retain-weight" in lines
    assert "stopped by it" in text and "step 4 of 6" in text
    assert "3 treated, 1 retain, 2 control" in text
    assert lines[-1] == "model /m/r1: REJECTED"


def test_a_v1_file_still_reads_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "remediation.json"
    path.write_text(json.dumps({"accepted": False, "missed": ["held-out SI ..."], "model": "m"}))
    assert list(remediation_lines(read_remediation(path)))[-2:] == [
        "  missed: held-out SI ...",
        "model m: REJECTED",
    ]
    path.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(StabtestError, match="newer than this stabtest reads"):
        read_remediation(path)
    path.write_text("[1, 2]")
    with pytest.raises(StabtestError, match="expected a JSON object"):
        read_remediation(path)


def test_writes_are_atomic_and_keep_the_files_mode(tmp_path: Path) -> None:
    from stabtest.core.atomic import write_atomic

    target = tmp_path / "sub" / "f.json"
    write_atomic(target, "one")
    target.chmod(0o640)
    write_atomic(target, b"two")
    assert target.read_text() == "two" and (target.stat().st_mode & 0o777) == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]
