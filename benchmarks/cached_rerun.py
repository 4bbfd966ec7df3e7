"""A fully cached rerun of a ParaRel suite, timed with pytest's default output.

    .venv/bin/python benchmarks/cached_rerun.py [--project DIR] [--fake] [--runs 5]

Builds the suite of `benchmarks/overhead.py` (real ParaRel facts, 200 cases, 5 variants
each) in a project directory (a temporary one unless `--project` names one to keep, so its
cache serves the next call), fills the cache with one untimed run, then times the cached
rerun as a user types it: `pytest` (default output), `pytest --tb=line`, `pytest -q`, and
pytest with the plugin off (`-p no:stabtest`: pytest's own start, nothing collected).
Each figure is the median of `--runs` runs, wall seconds of the whole process.

`--fake` answers from a JSON file (the fake backend: one seeded answer per prompt, about
four in five wrong, so most items fail as on the 135M model) and embeds with the lexical
embedder: no model, a few seconds to fill. Without it the real model fills the cache
(minutes). Figures also go to reports/benchmarks/cached_rerun.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from overhead import PARAREL, PROBE, build_suite  # noqa: E402

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["TOKENIZERS_PARALLELISM"] = "false"
BASE = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
SHAPES = {
    "default": [],
    "tb_line": ["--tb=line"],
    "quiet": ["-q"],
    "no_plugin": ["-p", "no:stabtest"],
}


def run(project: Path, *extra: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([*BASE, *extra], cwd=project, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1, 5):  # 1: items failed, as expected; 5: none collected
        sys.exit(f"pytest {' '.join(extra)} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    return elapsed, done


def fake_answers(report: dict[str, Any], seed: int = 0) -> dict[str, str]:
    """One answer per prompt, about one in five right: a 135M model's ParaRel record."""
    rng = random.Random(seed)
    variants = [v for v in report["variants"] if not v["rejected"]]
    references = sorted({v["reference"] for v in variants if v["reference"]})
    answers = {}
    for v in variants:
        right = rng.random() < 0.2
        name = v["reference"] if right else rng.choice(references)
        answers[v["prompt"]] = f"The answer is {name}, as far as I know from what I have read."
    return answers


def setup(project: Path, fake: bool, cases: int) -> None:
    """The suite, the ini and a filled cache (skipped when the project has them)."""
    if (project / "reports" / "stabtest.json").exists():
        return
    (project / "suites").mkdir(parents=True, exist_ok=True)
    (project / "suites" / "bench.yaml").write_text(
        build_suite(PARAREL, cases, paraphrases=2, max_new_tokens=16), encoding="utf-8"
    )
    (project / "conftest.py").write_text(PROBE)
    ini = "[pytest]\nstab_seed = 0\n"
    if fake:
        answers = project / "answers.json"
        answers.write_text("{}")
        ini += f"stab_backend = fake\nstab_model = {answers}\nstab_embedder = lexical\n"
    (project / "pytest.ini").write_text(ini)
    print("filling the cache ...", flush=True)
    run(project, "-q")
    if fake:  # the prompts are known now: answer each one
        report = json.loads((project / "reports" / "stabtest.json").read_text())
        (project / "answers.json").write_text(json.dumps(fake_answers(report)))
        run(project, "-q")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="keep the project (and its cache) here")
    parser.add_argument("--fake", action="store_true", help="fake backend, lexical embedder")
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not PARAREL.is_dir():
        sys.exit(f"ParaRel data not found at {PARAREL}")

    with tempfile.TemporaryDirectory(prefix="stabtest-cached-") as tmp:
        project = (args.project or Path(tmp)).resolve()
        setup(project, args.fake, args.cases)
        run(project, "-q")  # warms the bytecode cache
        figures: dict[str, Any] = {"backend": "fake" if args.fake else "hf"}
        modules: dict[str, bool] = {}
        for name, extra in SHAPES.items():
            walls = []
            for _ in range(args.runs):
                wall, done = run(project, *extra)
                walls.append(wall)
            figures[f"{name}_s"] = {
                "median": round(statistics.median(walls), 2),
                "min": round(min(walls), 2),
                "max": round(max(walls), 2),
            }
            if name == "default":
                figures["default_output_lines"] = done.stdout.count("\n")
                modules = json.loads((project / "modules.json").read_text())
        report = json.loads((project / "reports" / "stabtest.json").read_text())
        figures["cases"] = len(report["cases"])
        figures["variants"] = len(report["variants"])
        figures["items"] = figures["cases"] + figures["variants"]
        figures["failed_items"] = report["summary"]["cases_failed"] + sum(
            v["outcome"] == "fail" for v in report["variants"]
        )
        figures["generated"] = report["generation"]["generated"]
        figures["torch_imported"] = modules["torch"]

    for name in SHAPES:
        f = figures[f"{name}_s"]
        print(f"{name:10} median {f['median']:.2f} s (min {f['min']:.2f}, max {f['max']:.2f})")
    print(json.dumps(figures, indent=2))
    out = ROOT / "reports" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    suffix = "-fake" if args.fake else ""
    (out / f"cached_rerun{suffix}.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
