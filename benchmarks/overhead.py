"""What the harness costs on top of the model, measured in one run on this machine.

    .venv/bin/python benchmarks/overhead.py [--cases 200] [--naive 48] [--parts a,b,c,d]
        [--workload pararel|open]

Builds a suite from real ParaRel facts (each fact asked through its paraphrase patterns
plus seeded perturbations: 5 variants per case by default, so 1,000 variants), then prints:

`--workload open` asks TruthfulQA questions instead (open answers of varied length,
`--max-new-tokens 128` unless given), one variant per question plus 2 perturbations.

  (a) harness: `pytest` on the suite from an empty cache (start, collection, planning,
      generation, embedding, judging, reports) / the same prompts through plain batched
      `model.generate` + sentence-transformers in a fresh process, prompts in plan order
      and batches of 32 (target <= 1.10 on ParaRel, <= 0.85 on the open workload: the
      harness's longest-first order and continuous batching must beat the naive loop);
  (b) the harness's batched plan (its generation seconds per generated prompt) vs naive
      per-item `generate` (batch 1) per prompt, on a seeded sample of the prompts
      (target >= 6x);
  (c) a fully cached rerun of the same suite: wall seconds and whether torch was
      imported (target <= 3 s for 1,000 items, no torch);
  (d) `pytest --version` with the plugin vs with `-p no:stabtest` (target <= 30 ms more).

Every subprocess runs in a temporary project, with Python's bytecode cache on as on a
user's machine (this sandbox sets PYTHONDONTWRITEBYTECODE=1, which makes every pytest start
recompile pytest's plugins and ours: about 2 s more); the figures also go to
reports/benchmarks/overhead.json.
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

import yaml
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
PARAREL = ROOT.parent / "shared" / "data" / "pararel"
TRUTHFULQA = ROOT.parent / "shared" / "data" / "TruthfulQA.csv"
RAW_BATCH = 32
"""Rows per `model.generate` call in the raw baseline (stabtest's former default)."""
PROBE = """
import json, sys

def pytest_unconfigure(config):
    loaded = {m: m in sys.modules for m in ("torch", "transformers", "sentence_transformers")}
    (config.rootpath / "modules.json").write_text(json.dumps(loaded))
"""


def build_suite(source: Path, cases: int, paraphrases: int, max_new_tokens: int) -> str:
    """A ParaRel suite: `paraphrases` patterns and 2 perturbations per fact."""
    from stabtest.importers import import_suite

    data = yaml.safe_load(import_suite("pararel", source, limit=cases, seed=0))
    for case in data["cases"]:
        case["paraphrases"] = case.get("paraphrases", [])[:paraphrases]
    data["defaults"] = {
        **data.get("defaults", {}),
        "sampling": {"temperature": 0.0, "max_new_tokens": max_new_tokens},
        "perturbations": {"count": 2},
        "model_paraphrases": {"count": 0},
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def build_open_suite(source: Path, cases: int, max_new_tokens: int) -> str:
    """A TruthfulQA suite: open questions whose answers vary in length."""
    from stabtest.importers import import_suite

    data = yaml.safe_load(import_suite("truthfulqa", source, limit=cases, seed=0))
    for case in data["cases"]:
        case["paraphrases"] = []
    data["defaults"] = {
        **data.get("defaults", {}),
        "sampling": {"temperature": 0.0, "max_new_tokens": max_new_tokens},
        "perturbations": {"count": 2},
        "model_paraphrases": {"count": 0},
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["TOKENIZERS_PARALLELISM"] = "false"


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: some stability items failed, as expected
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed


def run_harness(project: Path, *extra: str) -> tuple[float, dict[str, Any], dict[str, bool]]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra]
    wall = timed(command, project)
    report = json.loads((project / "reports" / "stabtest.json").read_text())
    modules = json.loads((project / "modules.json").read_text())
    return wall, report, modules


def run_raw(job: dict[str, Any], work: Path, name: str) -> tuple[float, dict[str, Any]]:
    job_path, out_path = work / f"{name}-job.json", work / f"{name}-out.json"
    job_path.write_text(json.dumps(job))
    script = str(ROOT / "benchmarks" / "raw_generate.py")
    wall = timed([sys.executable, script, str(job_path), str(out_path)], work)
    return wall, json.loads(out_path.read_text())


def version_ms(project: Path, extra: list[str], repeats: int) -> float:
    command = [sys.executable, "-m", "pytest", *extra, "--version"]
    timed(command, project)  # warm the bytecode cache
    return 1000 * statistics.median(timed(command, project) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pararel", type=Path, default=PARAREL)
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--paraphrases", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=None, help="16; open: 128")
    parser.add_argument("--workload", choices=("pararel", "open"), default="pararel")
    parser.add_argument("--truthfulqa", type=Path, default=TRUTHFULQA)
    parser.add_argument("--parts", default="a,b,c,d", help="comma-separated subset of a,b,c,d")
    parser.add_argument("--naive", type=int, default=48, help="prompts in the batch-1 sample")
    parser.add_argument("--repeats", type=int, default=15, help="pytest --version runs each")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if args.max_new_tokens is None:
        args.max_new_tokens = 128 if args.workload == "open" else 16
    if args.workload == "pararel" and not args.pararel.is_dir():
        sys.exit(f"ParaRel data not found at {args.pararel}: pass --pararel DIR")
    if args.workload == "open" and not args.truthfulqa.is_file():
        sys.exit(f"TruthfulQA not found at {args.truthfulqa}: pass --truthfulqa FILE")

    from stabtest.core.settings import Settings
    from stabtest.generation.embedder import _minilm_dir
    from stabtest.generation.hf import HFBackend

    batch_size = Settings().batch_size  # None: auto
    backend = HFBackend(batch_size=batch_size)
    backend.model_and_tokenizer()  # converts the GGUF once, outside every timing
    model_dir = str(backend.converted_dir())

    with tempfile.TemporaryDirectory(prefix="stabtest-bench-") as tmp:
        project = Path(tmp)
        (project / "suites").mkdir()
        if args.workload == "open":
            suite = build_open_suite(args.truthfulqa, args.cases, args.max_new_tokens)
        else:
            suite = build_suite(args.pararel, args.cases, args.paraphrases, args.max_new_tokens)
        (project / "suites" / "bench.yaml").write_text(suite, encoding="utf-8")
        (project / "conftest.py").write_text(PROBE)
        (project / "pytest.ini").write_text(
            f"[pytest]\nstab_seed = 0\nstab_batch_size = {batch_size or 'auto'}\n"
        )

        figures: dict[str, Any] = {
            "workload": args.workload,
            "batch_size": batch_size or "auto",
            "raw_batch_size": RAW_BATCH,
            "max_new_tokens": args.max_new_tokens,
        }
        rows: list[list[str]] = []
        if parts & {"a", "b", "c"}:
            print("(a) harness from an empty cache ...", flush=True)
            harness_wall, report, first_modules = run_harness(project)
            variants = [v for v in report["variants"] if not v["rejected"]]
            prompts = [v["prompt"] for v in variants]
            figures.update(
                variants=len(prompts),
                cases=len(report["cases"]),
                harness_wall_s=round(harness_wall, 2),
                harness_generation=report["generation"],
                first_run_torch_imported=first_modules["torch"],
            )
        references = sorted(
            {
                t
                for c in yaml.safe_load(suite)["cases"]
                for t in [c["reference"], *c.get("aliases", [])]
            }
        )
        job = {
            "embed_texts": references,
            "model_dir": model_dir,
            "embedder_dir": str(_minilm_dir()),
            "batch_size": RAW_BATCH,
            "max_new_tokens": args.max_new_tokens,
        }
        if "a" in parts:
            print(
                f"(a) raw batched generate + embed of the same {len(prompts)} prompts ...",
                flush=True,
            )
            raw_wall, raw = run_raw({**job, "prompts": prompts}, project, "raw")
            same = sum(
                a == b for a, b in zip(prompts_answers(report), raw["answers"], strict=False)
            )
            ratio = harness_wall / raw_wall
            figures.update(
                raw_wall_s=round(raw_wall, 2),
                raw_breakdown_s={k: round(raw[k], 2) for k in raw if k.endswith("_seconds")},
                a_harness_over_raw=round(ratio, 3),
                answers_identical_to_raw=f"{same}/{len(prompts)}",
            )
            target = "<= 0.85" if args.workload == "open" else "<= 1.10"
            rows.append(
                [
                    "(a) harness / raw generate+embed",
                    f"{ratio:.3f}",
                    target,
                    f"{harness_wall:.1f} s vs {raw_wall:.1f} s, {len(prompts)} variants, "
                    f"{same} answers identical",
                ]
            )
        if "b" in parts:
            sample = random.Random(0).sample(prompts, k=min(args.naive, len(prompts)))
            print(f"(b) naive per-item generate of {len(sample)} prompts ...", flush=True)
            _, naive = run_raw({**job, "prompts": sample, "batch_size": 1}, project, "naive")
            generation = report["generation"]
            batched_per_prompt = generation["generate_seconds"] / generation["generated"]
            naive_per_prompt = naive["generate_seconds"] / len(sample)
            figures.update(
                naive_prompts=len(sample),
                naive_per_prompt_s=round(naive_per_prompt, 3),
                batched_per_prompt_s=round(batched_per_prompt, 3),
                b_batched_speedup=round(naive_per_prompt / batched_per_prompt, 2),
            )
            rows.append(
                [
                    "(b) batched / naive per prompt",
                    f"{figures['b_batched_speedup']:.2f}x",
                    ">= 6x",
                    f"{naive_per_prompt:.3f} s vs {batched_per_prompt:.3f} s per prompt",
                ]
            )
        if "c" in parts:
            print("(c) cached rerun ...", flush=True)
            cached_wall, cached_report, cached_modules = run_harness(project)
            line_wall, _, line_modules = run_harness(project, "--tb=line")
            items = len(cached_report["variants"]) + len(cached_report["cases"])
            figures.update(
                c_cached_items=items,
                c_cached_wall_s=round(cached_wall, 2),
                c_cached_generated=cached_report["generation"]["generated"],
                c_torch_imported=cached_modules["torch"] or line_modules["torch"],
                c_cached_wall_tb_line_s=round(line_wall, 2),
            )
            rows += [
                [
                    "(c) cached rerun",
                    f"{cached_wall:.2f} s",
                    "<= 3 s, no torch",
                    f"{items} items, torch imported: {figures['c_torch_imported']}",
                ],
                [
                    "(c) same with --tb=line",
                    f"{line_wall:.2f} s",
                    "<= 3 s, no torch",
                    "pytest's failure summary grows with the square of the failures",
                ],
            ]
        if "d" in parts:
            print("(d) pytest --version ...", flush=True)
            with_plugin = version_ms(project, [], args.repeats)
            without_plugin = version_ms(project, ["-p", "no:stabtest"], args.repeats)
            figures.update(
                d_version_ms_with_plugin=round(with_plugin, 1),
                d_version_ms_without_plugin=round(without_plugin, 1),
                d_plugin_overhead_ms=round(with_plugin - without_plugin, 1),
            )
            rows.append(
                [
                    "(d) pytest --version overhead",
                    f"{with_plugin - without_plugin:.1f} ms",
                    "<= 30 ms",
                    f"{with_plugin:.0f} ms vs {without_plugin:.0f} ms (median of {args.repeats})",
                ]
            )

    print(tabulate(rows, headers=["measure", "value", "target", "detail"], disable_numparse=True))
    out = ROOT / "reports" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    name = "overhead.json" if args.workload == "pararel" else "overhead-open.json"
    (out / name).write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


def prompts_answers(report: dict[str, Any]) -> list[str]:
    return [v["answers"][0]["text"] for v in report["variants"] if not v["rejected"]]


if __name__ == "__main__":
    main()
