"""stabtest's vllm backend against raw vLLM on the same prompts and params, in one run.

    python benchmarks/vllm_throughput.py [--prompts 512] [--data truthfulqa|gsm8k]
        [--max-new-tokens 64] [--temperature 0.0] [--samples 1] [--model DIR]
        [--engine-option KEY=VALUE ...] [--json OUT.json]

Needs a CUDA GPU and `pip install vllm`. Prompts are the first N questions of
../shared/data (TruthfulQA.csv or gsm8k_test.jsonl), each asked `--samples` times (sample
indexes 0..k-1; greedy when the temperature is 0). Two sides, each in a fresh process
(one vLLM engine per process: two in one would split the GPU's memory):

  raw       `vllm.LLM(...)` and one `llm.chat(conversations, [SamplingParams...])` call,
            as one would write it by hand;
  stabtest  `--stab-backend vllm` as a run uses it: a `Generator` with an empty SQLite
            cache (plan, prompt screening against max_model_len, one call per
            `requests_per_call`, every answer stored).

Each side loads its engine, warms up on 8 prompts (CUDA graphs, compilation), then times
the whole set. Printed: requests/s and generated tokens/s per side (tokens counted by
re-encoding the answers with the engine's tokenizer, the same way on both sides), the
ratio stabtest / raw, and for greedy runs how many answers are identical.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
WARMUP = 8


def read_prompts(data: str, count: int) -> list[str]:
    """The first `count` questions of a ../shared/data set."""
    if data == "gsm8k":
        with (SHARED / "gsm8k_test.jsonl").open(encoding="utf-8") as handle:
            return [json.loads(line)["question"] for line in islice(handle, count)]
    with (SHARED / "TruthfulQA.csv").open(encoding="utf-8", newline="") as handle:
        return [row["Question"] for row in islice(csv.DictReader(handle), count)]


def engine_options(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; a value is read as JSON (numbers, true/false), else as text."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            sys.exit(f"--engine-option expects KEY=VALUE, got {pair!r}")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


def token_count(tokenizer: Any, texts: list[str]) -> int:
    return sum(len(tokenizer.encode(text, add_special_tokens=False)) for text in texts)


# -- the two sides (each in its own process) -------------------------------------------------


def run_raw(job: dict[str, Any]) -> dict[str, Any]:
    from vllm import LLM, SamplingParams

    started = time.perf_counter()
    llm = LLM(model=job["model_dir"], **job["engine"])
    loaded = time.perf_counter()

    def params(sample: int) -> Any:
        sampled = job["temperature"] > 0
        return SamplingParams(
            n=1,
            max_tokens=job["max_new_tokens"],
            temperature=job["temperature"],
            seed=sample if sampled else None,
        )

    def chat(items: list[tuple[str, int]]) -> list[str]:
        conversations = [[{"role": "user", "content": prompt}] for prompt, _ in items]
        outputs = llm.chat(conversations, [params(s) for _, s in items], use_tqdm=False)
        return [output.outputs[0].text.strip() for output in outputs]

    items = [(prompt, s) for prompt in job["prompts"] for s in range(job["samples"])]
    chat(items[:WARMUP])
    begun = time.perf_counter()
    answers = chat(items)
    seconds = time.perf_counter() - begun
    return side_result(answers, seconds, loaded - started, llm.get_tokenizer())


def run_stabtest(job: dict[str, Any]) -> dict[str, Any]:
    from stabtest.core.plan import GenerationParams, GenerationRequest
    from stabtest.generation.cache import Cache
    from stabtest.generation.generator import Generator
    from stabtest.generation.vllm_backend import VLLMBackend

    started = time.perf_counter()
    backend = VLLMBackend(job["model_dir"], **job["engine"])
    backend.llm()
    loaded = time.perf_counter()
    params = GenerationParams(temperature=job["temperature"], max_new_tokens=job["max_new_tokens"])
    requests = [
        GenerationRequest(prompt, params, seed=0, sample=s)
        for prompt in job["prompts"]
        for s in range(job["samples"])
    ]
    backend.generate(requests[:WARMUP])
    with tempfile.TemporaryDirectory() as folder:
        generator = Generator(
            backend=backend, cache=Cache(Path(folder) / "c.sqlite"), batch_size=None
        )
        begun = time.perf_counter()
        answers = generator(requests)
        seconds = time.perf_counter() - begun
    return side_result(answers, seconds, loaded - started, backend.llm().get_tokenizer())


def side_result(answers: list[str], seconds: float, load: float, tokenizer: Any) -> dict[str, Any]:
    return {
        "answers": answers,
        "seconds": seconds,
        "load_seconds": load,
        "tokens": token_count(tokenizer, answers),
    }


# -- the comparison --------------------------------------------------------------------------


def run_side(side: str, job: dict[str, Any], work: Path) -> dict[str, Any]:
    """One side in a fresh Python process; its result read back from JSON."""
    job_path, out_path = work / f"{side}-job.json", work / f"{side}-out.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    command = [sys.executable, __file__, "--side", side, "--job", str(job_path)]
    done = subprocess.run([*command, "--out", str(out_path)], cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"the {side} side failed ({done.returncode})")
    result: dict[str, Any] = json.loads(out_path.read_text(encoding="utf-8"))
    return result


def report(raw: dict[str, Any], ours: dict[str, Any], greedy: bool) -> dict[str, Any]:
    def rates(side: dict[str, Any]) -> tuple[float, float]:
        return len(side["answers"]) / side["seconds"], side["tokens"] / side["seconds"]

    (raw_rps, raw_tps), (our_rps, our_tps) = rates(raw), rates(ours)
    print(f"{'side':<10}{'requests':>10}{'seconds':>10}{'req/s':>10}{'tok/s':>11}{'load s':>9}")
    rows = (("raw", raw, raw_rps, raw_tps), ("stabtest", ours, our_rps, our_tps))
    for name, side, rps, tps in rows:
        print(
            f"{name:<10}{len(side['answers']):>10}{side['seconds']:>10.2f}{rps:>10.1f}"
            f"{tps:>11.0f}{side['load_seconds']:>9.1f}"
        )
    summary = {"requests_ratio": our_rps / raw_rps, "tokens_ratio": our_tps / raw_tps}
    print(
        f"stabtest / raw: {summary['requests_ratio']:.3f}x requests/s, "
        f"{summary['tokens_ratio']:.3f}x tokens/s"
    )
    if greedy:
        same = sum(a == b for a, b in zip(raw["answers"], ours["answers"], strict=True))
        summary["identical_answers"] = same
        print(f"greedy answers identical on both sides: {same} of {len(raw['answers'])}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=512, help="questions to ask")
    parser.add_argument("--data", choices=("truthfulqa", "gsm8k"), default="truthfulqa")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    parser.add_argument("--samples", type=int, default=1, help="answers per question")
    parser.add_argument("--model", default=None, help="model dir (default: the bundled one)")
    parser.add_argument(
        "--engine-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="vllm.LLM option, both sides (e.g. gpu_memory_utilization=0.8)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--side", choices=("raw", "stabtest"), help=argparse.SUPPRESS)
    parser.add_argument("--job", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.temperature == 0 and args.samples > 1:  # stabtest would generate each once
        parser.error("greedy samples are one answer; --samples needs --temperature > 0")
    if args.side is not None:  # one side, in its own process
        job = json.loads(args.job.read_text(encoding="utf-8"))
        result = run_raw(job) if args.side == "raw" else run_stabtest(job)
        args.out.write_text(json.dumps(result), encoding="utf-8")
        return

    from stabtest.generation.vllm_backend import VLLMBackend

    model_dir = str(VLLMBackend(args.model).source.model_dir())  # a GGUF converts once, here
    job = {
        "prompts": read_prompts(args.data, args.prompts),
        "model_dir": model_dir,
        "engine": engine_options(args.engine_option),
        "max_new_tokens": args.max_new_tokens,
        "temperature": args.temperature,
        "samples": max(1, args.samples),
    }
    print(
        f"{len(job['prompts'])} {args.data} prompts x {job['samples']} sample(s), "
        f"max_new_tokens {args.max_new_tokens}, temperature {args.temperature}, {model_dir}"
    )
    with tempfile.TemporaryDirectory() as folder:
        raw = run_side("raw", job, Path(folder))
        ours = run_side("stabtest", job, Path(folder))
    summary = report(raw, ours, greedy=args.temperature == 0)
    if args.json is not None:
        args.json.write_text(
            json.dumps({"job": {**job, "prompts": len(job["prompts"])}, **summary})
        )


if __name__ == "__main__":
    main()
