"""Cheap fingerprints of model files: part of every cache key, so they must change when the
weights do and cost next to nothing (a fully cached rerun computes them and nothing else)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_BLOCK = 64 * 1024
_HEAD = 1024 * 1024
_SAMPLES = 16


def file_digest(path: Path) -> str:
    """sha256 over the size, the first MiB and 16 evenly spaced 64 KiB blocks of a file.

    Reads at most 2 MiB whatever the size, yet changes when a fine-tune rewrites the
    weights in place with the same size (which a size or name check would miss), and it
    stays the same when the file is merely copied (which an mtime check would not).
    """
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(_HEAD))
        span = size - _HEAD - _BLOCK
        if span <= 0:
            digest.update(handle.read())
        else:  # the first sample starts right after the head, the last ends at the end
            for index in range(_SAMPLES):
                handle.seek(_HEAD + span * index // (_SAMPLES - 1))
                digest.update(handle.read(_BLOCK))
    return digest.hexdigest()


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
# Small files that change answers too: configs, tokenizers, chat templates.
TEXT_SUFFIXES = (".json", ".jinja", ".txt", ".model")
_SMALL = 8 * 1024 * 1024


def dir_digest(folder: Path) -> str:
    """Fingerprint of a model directory: the content of its configs, tokenizer files and
    chat template, and the `file_digest` of its weights (names relative to the folder)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for file in sorted(files):
            path = Path(root, file)
            rel = path.relative_to(folder).as_posix()
            if file.endswith(WEIGHT_SUFFIXES):
                part = file_digest(path)
            elif file.endswith(TEXT_SUFFIXES):
                size = path.stat().st_size
                part = (
                    file_digest(path)
                    if size > _SMALL
                    else hashlib.sha256(path.read_bytes()).hexdigest()
                )
            else:
                continue
            digest.update(f"{rel}\0{part}\0".encode())
    return digest.hexdigest()
