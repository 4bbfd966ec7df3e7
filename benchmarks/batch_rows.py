"""Where the `auto` batch size comes from: decode-step cost by rows, and whole plans by
batch size, on the bundled model, measured in one run.

    .venv/bin/python benchmarks/batch_rows.py [--workload open|pararel] [--cases 32]
        [--steps 1,8,32,64,96,128,192] [--plans 32,64,96,128]

Builds the suite of `benchmarks/overhead.py` (TruthfulQA open questions, 128 new tokens;
or ParaRel facts, 16 new tokens), takes the plan's prompts from a run with the fake
backend (no model), then with the real model:
  1. one padded `generate` per row count in `--steps` (the first prompts, repeated when
     there are fewer): prefill seconds and milliseconds per decode step, per row;
  2. the whole plan, prompts ordered longest first as the hf backend orders them, in
     batches of each size in `--plans` (filled evenly, as `auto` does): seconds, and how
     many answers equal those of the first size.
Figures also go to reports/benchmarks/batch_rows-<workload>.json.
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

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from overhead import ENV, PARAREL, TRUTHFULQA, build_open_suite, build_suite  # noqa: E402

from stabtest.core.plan import even_batches  # noqa: E402


def plan_prompts(suite: str) -> list[str]:
    """The prompts stabtest's plan asks for this suite (its variants), via the fake backend."""
    with tempfile.TemporaryDirectory(prefix="stabtest-rows-") as tmp:
        project = Path(tmp)
        (project / "suites").mkdir()
        (project / "suites" / "bench.yaml").write_text(suite, encoding="utf-8")
        (project / "pytest.ini").write_text("[pytest]\nstab_seed = 0\n")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        subprocess.run([*command, "--stab-backend", "fake"], cwd=project, env=ENV, check=False)
        report = json.loads((project / "reports" / "stabtest.json").read_text())
    return [v["prompt"] for v in report["variants"] if not v["rejected"]]


class StepClock:
    """A stopping criterion that never stops: it only notes when each step ends."""

    def __init__(self) -> None:
        self.times = [time.perf_counter()]

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        self.times.append(time.perf_counter())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("open", "pararel"), default="open")
    parser.add_argument("--cases", type=int, default=32)
    parser.add_argument("--steps", default="1,8,32,64,96,128,192")
    parser.add_argument("--plans", default="32,64,96,128")
    args = parser.parse_args()
    new_tokens = 128 if args.workload == "open" else 16
    if args.workload == "open":
        suite = build_open_suite(TRUTHFULQA, args.cases, new_tokens)
    else:
        suite = build_suite(PARAREL, args.cases, 2, new_tokens)
    prompts = plan_prompts(suite)

    import torch

    from stabtest.generation.hf import HFBackend

    model, tokenizer = HFBackend().model_and_tokenizer()
    ids: list[list[int]] = [  # as the hf backend encodes them
        tokenizer(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            ),
            add_special_tokens=False,
        )["input_ids"]
        for p in prompts
    ]

    def generate(rows: list[list[int]], clock: StepClock | None = None) -> list[str]:
        inputs = tokenizer.pad({"input_ids": rows}, return_tensors="pt")
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                stopping_criteria=[clock] if clock else None,
            )
        width = inputs["input_ids"].shape[1]
        return [
            t.strip() for t in tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
        ]

    figures: dict[str, Any] = {"workload": args.workload, "prompts": len(prompts)}
    step_rows: list[list[str]] = []
    for rows in [int(n) for n in args.steps.split(",")]:
        chosen = [ids[i % len(ids)] for i in range(rows)]
        clock = StepClock()
        generate(chosen, clock)
        prefill = clock.times[1] - clock.times[0]
        steps = [b - a for a, b in zip(clock.times[1:], clock.times[2:], strict=False)]
        step_ms = 1000 * sum(steps) / max(1, len(steps))
        figures[f"step_ms_{rows}"] = round(step_ms, 1)
        step_rows.append(
            [
                str(rows),
                f"{prefill:.2f}",
                f"{step_ms:.1f}",
                f"{step_ms / rows:.2f}",
                str(len(steps)),
            ]
        )
        print(step_rows[-1], flush=True)

    order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
    plan_rows: list[list[str]] = []
    first: list[str] | None = None
    for size in [int(n) for n in args.plans.split(",")]:
        answers = [""] * len(ids)
        started, start = time.perf_counter(), 0
        for count in even_batches(len(order), size):
            chunk = order[start : start + count]
            start += count
            for index, text in zip(chunk, generate([ids[i] for i in chunk]), strict=True):
                answers[index] = text
        seconds = time.perf_counter() - started
        first = first or answers
        same = sum(a == b for a, b in zip(answers, first, strict=True))
        figures[f"plan_s_{size}"] = round(seconds, 1)
        sizes = even_batches(len(order), size)
        batches = "+".join(map(str, sizes)) if len(sizes) <= 4 else f"{len(sizes)} of {sizes[0]}"
        plan_rows.append([str(size), batches, f"{seconds:.1f}", f"{same}/{len(ids)}"])
        print(plan_rows[-1], flush=True)

    print(f"\n{args.workload}: {len(prompts)} prompts, {new_tokens} new tokens")
    print(tabulate(step_rows, headers=["rows", "prefill s", "ms/step", "ms/step/row", "steps"]))
    print()
    print(tabulate(plan_rows, headers=["cap", "batches", "seconds", "same answers"]))
    out = ROOT / "reports" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"batch_rows-{args.workload}.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
