"""A real remediation round on the bundled model, measured in one run.

    .venv/bin/python benchmarks/remediation.py [--facts 40] [--tqa 15] [--steps 60]

Builds a temporary project with a ParaRel suite (each fact asked through its
human-validated patterns: some patterns train, the others are held out by the split) and
a TruthfulQA slice, runs the suites, trains one round (LoRA SFT) and reruns held-out
variants with the base and the new model. No human labels exist here: the datasets'
own reference answers stand in for human corrections (the training target of a failed
answer is the case's right answer, written from the reference when the model never gave
one). Prints before/after SI, FC, RDR and pass rate on held-out variants of the trained
cases and on the control cases, training examples, steps, wall time and peak memory.
Target: held-out SI down at least 30% relative with FC not lower.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def suites(project: Path, facts: int, tqa: int) -> None:
    from stabtest.importers import import_suite

    (project / "suites").mkdir()
    for kind, source, limit, tokens in (
        ("pararel", SHARED / "pararel", facts, 24),
        ("truthfulqa", SHARED / "TruthfulQA.csv", tqa, 48),
    ):
        data = yaml.safe_load(import_suite(kind, source, limit=limit, seed=0))
        defaults = data.setdefault("defaults", {})
        defaults["sampling"] = {"temperature": 0.0, "max_new_tokens": tokens}
        defaults["perturbations"] = {"count": 2, "depth": 1}
        defaults.pop("model_paraphrases", None)
        for case in data["cases"]:
            for key in ("sampling", "perturbations", "model_paraphrases"):
                case.pop(key, None)
        (project / "suites" / f"{kind}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=40)
    parser.add_argument("--tqa", type=int, default=15)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--replay-weight", type=float, default=0.5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stabtest-remediation-") as tmp:
        project = Path(tmp)
        suites(project, args.facts, args.tqa)
        (project / "pyproject.toml").write_text("[tool.stabtest]\nseed = 0\n")
        started = time.perf_counter()
        run = [
            sys.executable,
            "-m",
            "stabtest.cli",
            "run",
            "-q",
            "--tb=no",
            "-p",
            "no:cacheprovider",
        ]
        subprocess.run(run, cwd=project, capture_output=True, text=True, check=False)
        run_seconds = time.perf_counter() - started
        command = [sys.executable, "-m", "stabtest.cli", "remediate", "--steps", str(args.steps)]
        command += ["--lr", str(args.lr), "--replay-weight", str(args.replay_weight)]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        report_path = project / "reports" / "remediation.json"
        if not report_path.is_file():
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
            return 1
        report = json.loads(report_path.read_text())
    rows = []
    for name in ("treated", "control"):
        before, after = report[name]["before"], report[name]["after"]
        for metric in ("si", "fc", "rdr", "pass_rate"):
            b, a = before[metric], after[metric]
            change = "-" if b in (None, 0) or a is None else f"{(a - b) / b:+.0%}"
            rows.append([name, metric, before["cases"], before["answers"], b, a, change])
    print("no human labels: the datasets' reference answers stand in for human corrections")
    print(
        tabulate(
            rows,
            headers=["cases", "metric", "n cases", "n answers", "before", "after", "relative"],
            floatfmt=".3f",
        )
    )
    print(
        f"examples {report['examples']}, steps {report['steps']}, training {report['seconds']} s, "
        f"peak RSS {report['peak_rss_mb']} MB, round wall {seconds:.0f} s (suite run "
        f"{run_seconds:.0f} s), loss {report['losses'][0]:.3f} -> {report['losses'][-1]:.3f}"
    )
    print(f"gate: {'accepted' if report['accepted'] else 'rejected'} {report['missed']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
