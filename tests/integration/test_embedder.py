"""The MiniLM embedder on real text, and the cache in front of it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from stabtest.core.errors import BackendError
from stabtest.generation.cache import Cache
from stabtest.generation.embedder import CachedEmbedder, Embedder, MiniLMEmbedder

pytestmark = pytest.mark.integration


class Counting(MiniLMEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded.append(list(texts))
        return super().encode(texts)


@pytest.fixture(scope="module")
def embedder() -> Counting:
    pytest.importorskip("sentence_transformers")
    try:
        MiniLMEmbedder().folder()
    except BackendError as error:
        pytest.skip(str(error))
    return Counting()


def test_paraphrases_are_closer_than_unrelated_sentences(embedder: Counting) -> None:
    vectors = embedder.encode(
        [
            "The capital of France is Paris.",
            "Paris is France's capital city.",
            "Bananas are rich in potassium.",
        ]
    )
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    paraphrase, unrelated = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert paraphrase > unrelated + 0.3
    assert isinstance(embedder, Embedder)


def test_cached_embedder_encodes_each_text_once(embedder: Counting, tmp_path: Path) -> None:
    embedder.encoded.clear()
    cached = CachedEmbedder(embedder, Cache(tmp_path / "c.sqlite"))
    texts = ["Paris.", "Lyon.", "Paris."]
    first = cached.encode(texts)
    assert embedder.encoded == [["Paris.", "Lyon."]]
    second = cached.encode(["Lyon.", "Paris."])
    assert embedder.encoded == [["Paris.", "Lyon."]]  # nothing new to encode
    np.testing.assert_allclose(second, first[[1, 0]], rtol=1e-6)
    cached.encode(["Paris.", "Marseille."])
    assert embedder.encoded[-1] == ["Marseille."]
    # a later session (new wrapper, same cache file) reads them back, encodes nothing
    again = CachedEmbedder(embedder, Cache(tmp_path / "c.sqlite")).encode(["Marseille.", "Lyon."])
    assert embedder.encoded[-1] == ["Marseille."] and len(embedder.encoded) == 2
    np.testing.assert_allclose(again[1], first[1], rtol=1e-6)


def test_fingerprint_is_stable_and_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from stabtest.generation.embedder import MiniLMEmbedder\n"
        "print(MiniLMEmbedder().fingerprint())\n"
        "heavy = [m for m in ('torch', 'sentence_transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == MiniLMEmbedder().fingerprint()


def test_missing_model_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="does not exist"):
        MiniLMEmbedder(str(tmp_path / "missing")).fingerprint()
