"""Build the answers of the annotation-precision set: real answers of the bundled model.

    .venv/bin/python benchmarks/annotation_set.py build     # writes answers.jsonl (unlabelled)

Sources: the bundled suites (short facts, arithmetic), and slices of ../shared/data:
TruthfulQA (open-ended), ParaRel (short facts), GSM8K (arithmetic). Each case is asked in
its original wording and one or two seeded rule variants, greedily, through stabtest's own
Session (so the answers are exactly those a run judges). Labels are added by a person
reading each answer (see benchmarks/data/annotation/README.md); this script never labels.
Re-running keeps the labels of answers whose text did not change.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SET_DIR = ROOT / "benchmarks" / "data" / "annotation"
ANSWERS = SET_DIR / "answers.jsonl"

# (name, importer, source, (first, last) case, rule variants, kind, max_new_tokens).
# `truthfulqa-more` grew the open-ended part (issue #18): the first 70 questions held too
# few right answers of the bundled model to measure how often the judges recognise one.
SOURCES: list[tuple[str, str, Path, tuple[int, int], int, str, int]] = [
    ("truthfulqa", "truthfulqa", SHARED / "TruthfulQA.csv", (0, 70), 1, "open", 64),
    ("pararel", "pararel", SHARED / "pararel", (0, 50), 1, "short", 24),
    ("gsm8k", "gsm8k", SHARED / "gsm8k_test.jsonl", (0, 30), 1, "numeric", 160),
    ("truthfulqa-more", "truthfulqa", SHARED / "TruthfulQA.csv", (70, 400), 2, "open", 64),
]
BUNDLED = {"capitals": "short", "science": "short", "arithmetic": "numeric"}


def split_of(uid: str) -> str:
    """Half the set tunes rules and thresholds, half only ever measures: by a hash of the
    answer's id, so the split never depends on order or on the answers' content."""
    return "measure" if hashlib.sha256(uid.encode()).digest()[0] % 2 else "tune"


def suites() -> list[tuple[str, str, str]]:
    """(scope, kind, suite YAML text) for every source."""
    from stabtest.importers import import_suite

    out = []
    for name, importer, source, (first, last), count, kind, tokens in SOURCES:
        data = yaml.safe_load(import_suite(importer, source, limit=last, seed=0))
        data["cases"] = data["cases"][first:]
        for case in data["cases"]:
            case.pop("paraphrases", None)  # one original + one rule variant per case
            case.pop("perturbations", None)
            case.pop("model_paraphrases", None)
            case.pop("sampling", None)
        defaults = data.setdefault("defaults", {})
        defaults["perturbations"] = {"count": count, "depth": 1}
        defaults["sampling"] = {"temperature": 0.0, "max_new_tokens": tokens}
        defaults.pop("model_paraphrases", None)
        out.append((f"annotation/{name}.yaml", kind, yaml.safe_dump(data, sort_keys=False)))
    for name, kind in BUNDLED.items():
        path = ROOT / "suites" / f"{name}.yaml"
        out.append((f"suites/{name}.yaml", kind, path.read_text(encoding="utf-8")))
    return out


def build(cache_dir: Path) -> list[dict[str, Any]]:
    from stabtest import Session, Settings
    from stabtest.core.loader import parse_suite
    from stabtest.variants.perturb import OPERATORS

    session = Session(Settings(cache_dir=str(cache_dir), embedder="minilm", rootdir=str(ROOT)))
    loaded = []
    for scope, kind, text in suites():
        suite = parse_suite(text, scope, OPERATORS)
        session.register_all(scope, suite.cases)
        loaded.append((scope, kind, suite))
    rows = []
    for scope, kind, suite in loaded:
        for case in suite.cases:
            outcome = session.outcome(scope, case.id)
            for variant in outcome.variants.values():
                for answer in variant.answers:
                    uid = f"{variant.uid}#s{answer.sample}"
                    rows.append(
                        {
                            "id": uid,
                            "kind": kind,
                            "split": split_of(uid),
                            "question": case.prompt,
                            "prompt": variant.prompt,
                            "reference": case.reference,
                            "aliases": list(case.aliases),
                            "incorrect": list(case.incorrect),
                            "answer": answer.text,
                            "label": None,
                            "note": "",
                        }
                    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--cache-dir", default=str(ROOT / ".stabtest"))
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        print(f"error: reference data not found at {SHARED}", file=sys.stderr)
        return 2
    old = {}
    if ANSWERS.is_file():
        for line in ANSWERS.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            old[(row["id"], row["answer"])] = row
    rows = build(Path(args.cache_dir))
    for row in rows:
        kept = old.get((row["id"], row["answer"]))
        if kept is not None:
            row["label"], row["note"] = kept["label"], kept.get("note", "")
    SET_DIR.mkdir(parents=True, exist_ok=True)
    with ANSWERS.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    kinds = {k: sum(r["kind"] == k for r in rows) for k in ("short", "open", "numeric")}
    print(f"wrote {ANSWERS.relative_to(ROOT)}: {len(rows)} answers {kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
