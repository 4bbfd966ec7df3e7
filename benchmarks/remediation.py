"""A real remediation run on the bundled model, measured in one run.

    .venv/bin/python benchmarks/remediation.py [--facts 160] [--tqa 20] [--gsm8k 20]
        [--project DIR] [--legacy] [-- remediate flags...]

Builds a project with a ParaRel suite (each fact asked through its human-validated
patterns: some patterns train, the others are held out by the split), a TruthfulQA slice
and a GSM8K slice, runs the suites once, then `stabtest remediate` with the given flags.
No human labels exist here: the datasets' own reference answers stand in for human
corrections (the training target of a failed answer is the case's right answer, written
from the reference when the model never gave one). `--project DIR` keeps the project (and
its cache) there and reuses it, so several configurations compare on one suite run.
`--legacy` reproduces the rule of the previous release: no control set drawn by hash
(untouched cases are the control), no retain set, no validation split, no search, 60
steps, targets written from references left bare.

Prints, per round: examples and roles, the search (configurations, chosen step), wall
time and peak memory, held-out SI / FC / RDR before and after with 95% bootstrap
intervals over cases, control FC likewise, and the gate's criteria with their paired
intervals.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
LEGACY = [
    "--control-fraction", "0", "--retain-weight", "0", "--validation-fraction", "0",
    "--no-search", "--steps", "60", "--replay-weight", "0.5", "--no-restate",
]  # fmt: skip


def suites(project: Path, facts: int, tqa: int, gsm8k: int) -> None:
    from stabtest.importers import import_suite

    (project / "suites").mkdir(parents=True)
    for kind, source, limit, tokens in (
        ("pararel", SHARED / "pararel", facts, 24),
        ("truthfulqa", SHARED / "TruthfulQA.csv", tqa, 48),
        ("gsm8k", SHARED / "gsm8k_test.jsonl", gsm8k, 96),
    ):
        if not limit:
            continue
        data = yaml.safe_load(import_suite(kind, source, limit=limit, seed=0))
        defaults = data.setdefault("defaults", {})
        defaults["sampling"] = {"temperature": 0.0, "max_new_tokens": tokens}
        defaults["perturbations"] = {"count": 2, "depth": 1}
        defaults.pop("model_paraphrases", None)
        for case in data["cases"]:
            for key in ("sampling", "perturbations", "model_paraphrases"):
                case.pop(key, None)
        (project / "suites" / f"{kind}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (project / "pyproject.toml").write_text("[tool.stabtest]\nseed = 0\n")


def interval(values: list[float], seed: int = 0) -> str:
    """Mean and 95% percentile bootstrap interval over cases."""
    if not values:
        return "-"
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(2000, len(data)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return f"{data.mean():.3f} [{low:.3f}, {high:.3f}]"


def side_rows(report: dict[str, Any]) -> list[list[Any]]:
    """Per role (treated, retain, control): each metric's mean over cases, before and
    after, with 95% bootstrap intervals."""
    rows = []
    for role in ("treated", "retain", "control"):
        cases = [c for c in report["per_case"] if c["role"] == role]
        for metric in ("si", "fc", "rdr"):
            pairs = [
                (c["before"][metric], c["after"][metric])
                for c in cases
                if c["before"][metric] is not None and c["after"][metric] is not None
            ]
            if pairs:
                rows.append(
                    [
                        role,
                        metric.upper(),
                        len(pairs),
                        interval([b for b, _ in pairs]),
                        interval([a for _, a in pairs]),
                    ]
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=160)
    parser.add_argument("--tqa", type=int, default=20)
    parser.add_argument("--gsm8k", type=int, default=20)
    parser.add_argument("--project", type=Path, help="keep (and reuse) the project here")
    parser.add_argument("--legacy", action="store_true", help="the previous release's rule")
    args, rest = parser.parse_known_args(argv)
    rest = [a for a in rest if a != "--"]
    with tempfile.TemporaryDirectory(prefix="stabtest-remediation-") as tmp:
        project = args.project or Path(tmp)
        run_seconds = 0.0
        if not (project / "reports" / "stabtest.json").is_file():
            suites(project, args.facts, args.tqa, args.gsm8k)
            started = time.perf_counter()
            run = [sys.executable, "-m", "stabtest.cli", "run", "-q", "--tb=no"]
            subprocess.run([*run, "-p", "no:cacheprovider"], cwd=project, check=False)
            run_seconds = time.perf_counter() - started
        command = [sys.executable, "-m", "stabtest.cli", "remediate"]
        command += (LEGACY if args.legacy else []) + rest
        print("$", " ".join(command[2:]), flush=True)
        started = time.perf_counter()
        subprocess.run(command, cwd=project, check=False)
        seconds = time.perf_counter() - started
        report = json.loads((project / "reports" / "remediation.json").read_text())
    print()
    print("no human labels: the datasets' reference answers stand in for human corrections")
    for number, entry in enumerate(report["rounds"], 1):
        roles = entry["roles"]
        print(
            f"round {number}: {entry['examples']} examples {entry['example_families']}, "
            f"{roles['treated']} treated / {roles['retain']} retain / {roles['control']} "
            f"control cases; chosen step {entry['chosen_step']} of {entry['steps']} "
            f"({entry['search']['configs_tried']} configuration(s), "
            f"{len(entry['search']['trials'])} checkpoints); round {entry['seconds']} s, "
            f"training {entry['training_seconds']} s, peak RSS {entry['peak_rss_mb']} MB; "
            f"{'ACCEPTED' if entry['accepted'] else 'REJECTED'}"
        )
        for criterion in entry["criteria"]:
            print(f"  {'pass' if criterion['passed'] else 'MISS'}: {criterion['line']}")
    print(
        tabulate(
            side_rows(report),
            headers=["cases", "metric", "n", "before (95% CI)", "after (95% CI)"],
            disable_numparse=True,
        )
    )
    print(f"whole remediate {seconds:.0f} s (suite run {run_seconds:.0f} s)")
    print(f"status: {report['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
