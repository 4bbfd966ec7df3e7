"""Plans past one process: `stabtest plan`, then `stabtest execute` with each engine,
measured in one run on this machine.

    .venv/bin/python benchmarks/scale.py [--sizes 100000,1000000] [--engines local,ray1,ray2]
        [--judge-variants 10000] [--model-requests 1000] [--parts plan,execute,judge,model]

(plan)    `stabtest plan` on a per-case suite of N requests on the fake backend (N / 100
          cases of 10 variants, 10 samples each): seconds, and seconds per 1,000 variants.
(execute) `stabtest execute` of that plan with `--engine local`, `--engine ray --actors 1`
          and `--actors 2`, each into an empty cache, each in its own process: requests
          per second and the driver's peak RSS (VmHWM; Ray's actors live in their own
          processes). Flat from 100k to 1M is the target: the driver streams blocks.
(judge)   the cached judging pass: `pytest` on a suite of `--judge-variants` variants
          whose answers `stabtest execute` already stored (nothing generated, checked in
          its report), seconds per 1,000 variants; the lexical embedder.
(model)   the bundled model (SmolLM2-135M-Instruct, greedy, 48 new tokens) on
          `--model-requests` TruthfulQA questions through each engine, with the judges'
          embedder (MiniLM), against raw batched `model.generate` on the same prompts
          (`raw_generate.py`, batches of 32) in a fresh process.

The fake backend answers instantly (`record=false`: it keeps no prompts), so (execute)
measures stabtest's own costs per request: the cache lookups and writes, the keys, the
plan's parsing, Ray's transport. Figures also go to reports/benchmarks/scale.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
TRUTHFULQA = ROOT.parent / "shared" / "data" / "TruthfulQA.csv"
ENV = {k: v for k, v in os.environ.items() if k not in {"PYTHONDONTWRITEBYTECODE", "RAY_ADDRESS"}}
ENV["TOKENIZERS_PARALLELISM"] = "false"
# The driver's peak RSS is its own VmHWM: `ru_maxrss` would not do, since Linux carries
# the parent's RSS at fork into the child's (this script's, after writing a large suite).
CHILD = """
import json, sys
from stabtest.cli import main
status = main(sys.argv[1:])
with open("/proc/self/status") as status_file:
    hwm = next(line for line in status_file if line.startswith("VmHWM:"))
print(json.dumps({"maxrss_mb": int(hwm.split()[1]) / 1024}), file=sys.stderr)
sys.exit(status)
"""
ENGINES = {
    "local": ["--engine=local"],
    "ray1": ["--engine=ray", "--actors=1"],
    "ray2": ["--engine=ray", "--actors=2"],
}
FAKE_ANSWERS = {"question": [f"The answer is {n}." for n in range(10)]}


def run(command: list[str], cwd: Path, ok: tuple[int, ...] = (0,)) -> tuple[float, str, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in ok:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout, done.stderr


def fake_project(where: Path, cases: int, variants: int, samples: int) -> Path:
    """A per-case suite on the fake backend: `cases` x `variants` x `samples` requests."""
    where.mkdir(parents=True)
    rows = []
    for c in range(cases):
        rows.append(
            {
                "id": f"c{c}",
                "prompt": f"Question number {c}: what is it?",
                "reference": "answer",
                "paraphrases": [f"Question number {c}, wording {v}?" for v in range(1, variants)],
            }
        )
    sampling = {"temperature": 0.7 if samples > 1 else 0.0, "samples": samples}
    suite = {"suite": "bench", "collect": "per-case", "defaults": {"sampling": sampling}}
    (where / "suites").mkdir()
    text = yaml.safe_dump({**suite, "cases": rows}, sort_keys=False)
    (where / "suites" / "bench.yaml").write_text(text)
    (where / "answers.json").write_text(json.dumps(FAKE_ANSWERS))
    (where / "pytest.ini").write_text(
        "[pytest]\nstab_backend = fake\nstab_model = answers.json\nstab_embedder = lexical\n"
        "stab_backend_option = record=false\nstab_html = false\n"
    )
    return where


def model_project(where: Path, requests: int) -> Path:
    with TRUTHFULQA.open(encoding="utf-8") as handle:
        questions = [row["Question"] for row in csv.DictReader(handle)]
    rows = [
        {
            "id": f"q{i}",
            "prompt": questions[i % len(questions)] + ("" if i < len(questions) else f" ({i})"),
        }
        for i in range(requests)
    ]
    where.mkdir(parents=True)
    (where / "suites").mkdir()
    suite = {"suite": "open", "collect": "per-case", "cases": rows}
    (where / "suites" / "open.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    (where / "pytest.ini").write_text("[pytest]\nstab_html = false\n")
    return where


def plan(project: Path, variants: int) -> dict[str, Any]:
    seconds, out, _ = run(
        [sys.executable, "-m", "stabtest.cli", "plan", "-o", "plan.jsonl"], project
    )
    size = (project / "plan.jsonl").stat().st_size
    return {
        "variants": variants,
        "seconds": round(seconds, 2),
        "seconds_per_1000_variants": round(1000 * seconds / variants, 3),
        "plan_mb": round(size / 2**20, 1),
        "line": next((line for line in out.splitlines() if "wrote the plan" in line), ""),
    }


def execute(project: Path, engine: str) -> dict[str, Any]:
    command = [sys.executable, "-c", CHILD, "execute", "plan.jsonl", "--json"]
    command += [*ENGINES[engine], f"--cache-dir=cache-{engine}"]
    _, out, err = run(command, project)
    summary = json.loads(out)
    memory = json.loads(err.strip().splitlines()[-1])
    return {**summary, **memory, "engine": engine}


def judge(project: Path, variants: int) -> dict[str, Any]:
    run([sys.executable, "-m", "stabtest.cli", "execute", "plan.jsonl"], project)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "suites"]
    seconds, _, _ = run(command, project, ok=(0, 1))
    generation = json.loads((project / "reports" / "stabtest.json").read_text())["generation"]
    return {
        "variants": variants,
        "seconds": round(seconds, 2),
        "seconds_per_1000_variants": round(1000 * seconds / variants, 3),
        "generated": generation["generated"],
        "cached": generation["cached"],
    }


def raw_baseline(project: Path, work: Path) -> dict[str, Any]:
    suite = yaml.safe_load((project / "suites" / "open.yaml").read_text())
    from stabtest.generation.embedder import _minilm_dir
    from stabtest.generation.hf import HFBackend

    backend = HFBackend()
    backend.model_and_tokenizer()  # converts the GGUF once (the plan step did already)
    job = {
        "prompts": [c["prompt"] for c in suite["cases"]],
        "max_new_tokens": 48,
        "batch_size": 32,
        "model_dir": str(backend.converted_dir()),
        "embedder_dir": str(_minilm_dir()),
    }
    job_path, out_path = work / "raw-job.json", work / "raw-out.json"
    job_path.write_text(json.dumps(job))
    script = str(ROOT / "benchmarks" / "raw_generate.py")
    seconds, _, _ = run([sys.executable, script, str(job_path), str(out_path)], work)
    out = json.loads(out_path.read_text())
    requests = len(out["answers"])
    generate = out["generate_seconds"]
    return {
        "requests": requests,
        "seconds": round(seconds, 2),
        "generate_seconds": round(generate, 2),
        "embed_seconds": round(out["embed_seconds"], 2),
        "requests_per_second": round(requests / generate, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--engines", default="local,ray1,ray2")
    parser.add_argument("--judge-variants", type=int, default=10000)
    parser.add_argument("--model-requests", type=int, default=1000)
    parser.add_argument("--parts", default="plan,execute,judge,model")
    args = parser.parse_args()
    parts, engines = set(args.parts.split(",")), args.engines.split(",")
    results: dict[str, Any] = {"plan": [], "execute": [], "judge": None, "model": []}
    with tempfile.TemporaryDirectory(prefix="stabtest-scale-") as tmp:
        work = Path(tmp)
        if parts & {"plan", "execute"}:
            for size in [int(s) for s in args.sizes.split(",")]:
                project = fake_project(work / f"fake-{size}", size // 100, 10, 10)
                results["plan"].append({"requests": size, **plan(project, size // 10)})
                print(results["plan"][-1], flush=True)
                if "execute" in parts:
                    for engine in engines:
                        results["execute"].append({"requests": size, **execute(project, engine)})
                        print(results["execute"][-1], flush=True)
        if "judge" in parts:
            variants = args.judge_variants
            project = fake_project(work / "judge", variants // 10, 10, 1)
            plan(project, variants)
            results["judge"] = judge(project, variants)
            print(results["judge"], flush=True)
        if "model" in parts:
            project = model_project(work / "model", args.model_requests)
            plan(project, args.model_requests)
            for engine in engines:
                results["model"].append(execute(project, engine))
                print(results["model"][-1], flush=True)
            results["raw_generate"] = raw_baseline(project, work)
            print(results["raw_generate"], flush=True)
    print_tables(results)
    out = ROOT / "reports" / "benchmarks" / "scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    # the parts not run this time keep their figures from an earlier run
    earlier = json.loads(out.read_text()) if out.exists() else {}
    ran = {k: v for k, v in results.items() if v}
    out.write_text(json.dumps({**earlier, **ran}, indent=2))
    print(f"figures: {out}")


def print_tables(results: dict[str, Any]) -> None:
    if results["plan"]:
        rows = [
            [
                p["requests"],
                p["variants"],
                p["seconds"],
                p["seconds_per_1000_variants"],
                p["plan_mb"],
            ]
            for p in results["plan"]
        ]
        print(tabulate(rows, headers=["requests", "variants", "plan s", "s / 1k variants", "MB"]))
    if results["execute"]:
        rows = [
            [
                e["requests"],
                e["engine"],
                e["seconds"],
                e["requests_per_second"],
                round(e["maxrss_mb"]),
            ]
            for e in results["execute"]
        ]
        print(
            tabulate(rows, headers=["requests", "engine", "seconds", "req/s", "driver peak RSS MB"])
        )
    if results["judge"]:
        j = results["judge"]
        print(
            f"cached judging pass: {j['variants']} variants in {j['seconds']} s "
            f"({j['seconds_per_1000_variants']} s / 1,000 variants; generated {j['generated']})"
        )
    if results["model"]:
        raw = results.get("raw_generate", {})
        rows = [
            [
                m["engine"],
                m["requests"],
                m["seconds"],
                m["requests_per_second"],
                round(m["maxrss_mb"]),
            ]
            for m in results["model"]
        ]
        print(
            tabulate(
                rows, headers=["model: engine", "requests", "seconds", "req/s", "driver RSS MB"]
            )
        )
        print(f"raw model.generate, batches of 32, same prompts: {raw}")


if __name__ == "__main__":
    main()
