"""A dependency-free bag-of-words embedder (hashed unigrams and bigrams).

Far weaker than MiniLM, but instant and torch-free: for quick local runs, for machines
without the embedding package, and for the plugin's own tests.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence

import numpy as np

from stabtest.core.embedding import Vectors
from stabtest.core.text import normalize


class LexicalEmbedder:
    def __init__(self, dim: int = 512):
        self.dim = dim

    def fingerprint(self) -> str:
        return f"lexical-v1-{self.dim}"

    def _vector(self, text: str) -> Vectors:
        words = normalize(text).split()
        grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        vector = np.zeros(self.dim, dtype=np.float32)
        for gram in grams:
            digest = hashlib.blake2b(gram.encode(), digest_size=8).digest()
            vector[int.from_bytes(digest[:4], "big") % self.dim] += 1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])
