"""What a pair classifier is, for the judge that reads one (an NLI or cross-encoder model
telling whether an answer entails or contradicts a reference).

The models live in stabtest.generation.nli; this Protocol keeps the layers apart, as
stabtest.core.embedding does for embedders. Output names are normalised once, on load:
`entailment`, `neutral`, `contradiction`, or `other` for an output that names none of
them (a two-way "contradiction or not" model has `other` and `contradiction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

Probabilities = NDArray[np.float32]
"""Rows of class probabilities, one row per (premise, hypothesis) pair, summing to 1."""

NLI_LABELS = ("entailment", "neutral", "contradiction", "other")


def nli_label(name: str) -> str:
    """A model's output name as one of NLI_LABELS: `ENTAILMENT`, `entails` and
    `contradiction` are read by their stem, anything else is `other`."""
    folded = name.strip().casefold()
    for label, stem in (("entailment", "entail"), ("contradiction", "contradict")):
        if folded.startswith(stem):
            return label
    return "neutral" if folded.startswith("neutral") else "other"


@runtime_checkable
class PairClassifier(Protocol):
    """Maps (premise, hypothesis) pairs to class probabilities over `labels`."""

    @property
    def labels(self) -> tuple[str, ...]: ...

    def fingerprint(self) -> str: ...

    def classify(self, pairs: Sequence[tuple[str, str]]) -> Probabilities: ...
