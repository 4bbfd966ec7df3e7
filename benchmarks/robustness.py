"""Issue-sized evidence in one command: the challenge probe, the adversarial families and
`explore` on slices of ../shared/data with the bundled model.

    .venv/bin/python benchmarks/robustness.py [--quick]

Runs benchmarks/challenge.py (flip rate, correct->wrong flips, FC before/after the
challenge), benchmarks/adversarial.py (FC clean, FC attacked and PDR per family) and
benchmarks/explore.py (success rate, mean shrunk size, generations used) one after the
other, each in its own process (one model in memory at a time), and prints their reports.
`--quick` halves the slices. Answers are cached under .stabtest/, so a rerun is fast.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = {
    "challenge": (
        ["--pararel", "20", "--truthfulqa", "20"],
        ["--pararel", "10", "--truthfulqa", "10"],
    ),
    "adversarial": (["--facts", "20", "--tqa", "20"], ["--facts", "10", "--tqa", "10"]),
    "explore": (["--pararel", "9", "--tqa", "4"], ["--pararel", "5", "--tqa", "2"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="half-size slices")
    args = parser.parse_args()
    failed = []
    for name, (full, quick) in STEPS.items():
        command = [sys.executable, str(HERE / f"{name}.py"), *(quick if args.quick else full)]
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        done = subprocess.run(command, check=False)
        print(f"=== {name}: exit {done.returncode} in {time.perf_counter() - started:.0f} s")
        if done.returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
