"""Versioned models: each remediation round is a new directory beside a manifest.

`<cache>/models/<base>-r<N>-<hash>/` holds the merged model (loadable with `--stab-model
DIR`) and `manifest.json`: base fingerprint, training-data hash, method and
hyperparameters, seed, steps, wall time, metrics before/after, accepted or not. A round is
built in a `.partial-*` directory and renamed into place only when its manifest is
written, so an interrupted round is never listed; the next round removes leftovers. The
base model is never written to.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stabtest.core.atomic import write_atomic

MANIFEST = "manifest.json"
PARTIAL = ".partial-"


@dataclass(frozen=True)
class ModelRound:
    path: Path
    manifest: dict[str, Any]

    @property
    def round(self) -> int:
        return int(self.manifest.get("round", 0))

    @property
    def accepted(self) -> bool | None:
        value = self.manifest.get("accepted")
        return None if value is None else bool(value)


def models_dir(cache_path: Path) -> Path:
    return cache_path / "models"


def data_hash(records: list[dict[str, Any]]) -> str:
    payload = json.dumps(records, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def rounds(cache_path: Path) -> list[ModelRound]:
    """Finished rounds (with a manifest), oldest first."""
    folder = models_dir(cache_path)
    found = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        manifest = path / MANIFEST
        if path.name.startswith(PARTIAL) or not manifest.is_file():
            continue
        try:
            found.append(ModelRound(path, json.loads(manifest.read_text(encoding="utf-8"))))
        except ValueError:
            continue
    return sorted(found, key=lambda r: (r.manifest.get("base", ""), r.round, r.path.name))


def next_round(cache_path: Path, base_label: str) -> int:
    done = [r.round for r in rounds(cache_path) if r.manifest.get("base") == base_label]
    return max(done, default=0) + 1


def clean_partials(cache_path: Path) -> int:
    """Remove what an interrupted round left behind."""
    folder = models_dir(cache_path)
    removed = 0
    for path in folder.glob(PARTIAL + "*") if folder.is_dir() else []:
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


def partial_dir(cache_path: Path) -> Path:
    folder = models_dir(cache_path)
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=PARTIAL, dir=folder)) / "model"


def finish(partial_model: Path, final: Path, manifest: dict[str, Any]) -> ModelRound:
    """Write the manifest and move the round into place, atomically."""
    write_manifest(partial_model, manifest)
    os.replace(partial_model, final)
    shutil.rmtree(partial_model.parent, ignore_errors=True)
    return ModelRound(final, manifest)


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    write_atomic(folder / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))


def update_manifest(model_round: ModelRound, **changes: Any) -> ModelRound:
    manifest = {**model_round.manifest, **changes}
    write_manifest(model_round.path, manifest)
    return ModelRound(model_round.path, manifest)


def describe(model_round: ModelRound) -> Iterator[str]:
    m = model_round.manifest
    verdict = {True: "accepted", False: "rejected", None: "not judged"}[model_round.accepted]
    yield f"{model_round.path.name}: round {m.get('round')} of {m.get('base')}, {verdict}"
