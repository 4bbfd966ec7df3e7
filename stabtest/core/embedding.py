"""What an embedder is, for the modules that only use one (judges, the paraphrase filter).

The models themselves live in stabtest.generation.embedder; this Protocol keeps the
layers apart: nothing that reads vectors needs to know how they were made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]
"""Rows of L2-normalised embeddings: a cosine similarity is a dot product."""


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 rows (n, d)."""

    def fingerprint(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> Vectors: ...
