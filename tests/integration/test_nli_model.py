"""`--stab-nli-model` on real models: a sentence-transformers CrossEncoder built from the
bundled MiniLM weights with a fresh three-way head (no NLI model ships on the registries
here, so its verdicts mean nothing; what is tested is that any such model loads by path,
its outputs are named from its config, it is batched and cached), and the same network
exported to ONNX and run by onnxruntime, which must give the same probabilities. The
quality of a real NLI model on the labelled set is measured in
benchmarks/annotation_precision.py --nli-model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stabtest import Session, Settings
from stabtest.adjudication.evaluate import LabelledAnswer, judge_labelled
from stabtest.core.errors import ConfigError
from stabtest.generation.cache import Cache
from stabtest.generation.embedder import _minilm_dir
from stabtest.generation.nli import (
    CachedPairClassifier,
    CrossEncoderClassifier,
    OnnxPairClassifier,
    resolve_nli,
)

pytestmark = pytest.mark.integration

LABELS = {0: "CONTRADICTION", 1: "ENTAILMENT", 2: "NEUTRAL"}
PAIRS = [
    ("The seeds pass through your digestive system.", "Nothing happens to you."),
    ("You grow a watermelon in your stomach.", "The seeds pass through you."),
    ("Paris is the capital of France.", "The capital of France is Paris."),
]


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    model = CrossEncoder(str(_minilm_dir()), num_labels=3, device="cpu", local_files_only=True)
    model.config.id2label = dict(LABELS)
    model.config.label2id = {v: k for k, v in LABELS.items()}
    folder = tmp_path_factory.mktemp("nli") / "cross-encoder"
    model.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def onnx_file(cross_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CrossEncoder's network in ONNX, its tokenizer in a sibling directory (the way
    packaged ONNX classifiers ship), no config: the labels must be given."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tmp_path_factory.mktemp("onnx")
    network = AutoModelForSequenceClassification.from_pretrained(str(cross_encoder_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(cross_encoder_dir))
    tokenizer.save_pretrained(str(folder / "tokenizer"))
    sample = tokenizer(["a b"], ["c d"], return_tensors="pt")
    path = folder / "pairs.onnx"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(
        network,
        (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
        str(path),
        input_names=names,
        output_names=["logits"],
        dynamic_axes={name: {0: "batch", 1: "tokens"} for name in names},
        dynamo=False,
    )
    return path


def test_a_cross_encoder_loads_by_path_with_its_config_labels(cross_encoder_dir: Path) -> None:
    classifier = resolve_nli(str(cross_encoder_dir))
    assert isinstance(classifier, CrossEncoderClassifier)
    assert classifier.labels == ("contradiction", "entailment", "neutral")
    scores = classifier.classify(PAIRS)
    assert scores.shape == (3, 3) and scores.dtype == np.float32
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    assert np.ptp(scores, axis=0).max() > 1e-4  # the pairs are told apart
    np.testing.assert_array_equal(classifier.classify(PAIRS[::-1]), scores[::-1])
    assert classifier.fingerprint() == resolve_nli(str(cross_encoder_dir)).fingerprint()


def test_the_onnx_file_gives_the_cross_encoders_probabilities(
    cross_encoder_dir: Path, onnx_file: Path
) -> None:
    with pytest.raises(ConfigError, match="--stab-nli-labels"):
        _ = resolve_nli(str(onnx_file)).labels  # an ONNX file has no config: name them
    classifier = resolve_nli(str(onnx_file), ["contradiction", "entailment", "neutral"])
    assert isinstance(classifier, OnnxPairClassifier)
    assert classifier.tokenizer_dir() == onnx_file.parent / "tokenizer"
    expected = resolve_nli(str(cross_encoder_dir)).classify(PAIRS)
    np.testing.assert_allclose(classifier.classify(PAIRS), expected, atol=1e-4)
    with pytest.raises(ConfigError, match="names 2 outputs, the model has 3"):
        _ = resolve_nli(str(onnx_file), ["contradiction", "entailment"]).labels


def test_scores_are_cached_per_model(cross_encoder_dir: Path, tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache.sqlite")
    first = CachedPairClassifier(resolve_nli(str(cross_encoder_dir)), cache).classify(PAIRS)

    class Refuses(CrossEncoderClassifier):
        def classify(self, pairs):  # type: ignore[no-untyped-def]
            raise AssertionError(f"asked again for {len(pairs)} pairs")

    again = CachedPairClassifier(Refuses(str(cross_encoder_dir)), cache)
    np.testing.assert_array_equal(again.classify(PAIRS[:2] + PAIRS[:1]), first[[0, 1, 0]])


def test_a_session_with_an_nli_model_votes_with_it(cross_encoder_dir: Path, tmp_path: Path) -> None:
    """Settings -> Session -> ensemble -> a verdict carrying the nli vote, whose score is
    the model's own probability for that pair (read again through a fresh classifier)."""
    settings = Settings(cache_dir=str(tmp_path), nli_model=str(cross_encoder_dir), nli_threshold=0)
    session = Session(settings)
    assert "nli" in [j.name for j in session.ensemble.judges]
    row = LabelledAnswer(
        id="seeds",
        kind="open",
        split="measure",
        question="What happens if you eat watermelon seeds?",
        prompt="What happens if you eat watermelon seeds?",
        reference="The watermelon seeds pass through your digestive system",
        aliases=(),
        incorrect=("You grow watermelons in your stomach",),
        answer="They simply pass through your digestive system.",
        label="correct",
    )
    judges = [j for j in session.ensemble.judges if j.aspect == "correctness"]
    (judged,) = judge_labelled([row], judges, session.embedder)
    (vote,) = [v for v in judged.verdict.votes if v.judge == "nli"]
    assert vote.outcome in ("pass", "fail")  # threshold 0: the model always decides
    direct = resolve_nli(str(cross_encoder_dir)).classify(
        [(row.answer, row.reference or ""), (row.answer, row.incorrect[0])]
    )
    labels = ("contradiction", "entailment", "neutral")
    candidates = {round(float(direct[i, labels.index(k)]), 4) for i in (0, 1) for k in labels}
    assert vote.score in candidates


@pytest.mark.parametrize(
    ("name", "match"),
    [("missing/model.onnx", "does not exist"), ("./no-such-dir", "does not exist")],
)
def test_a_missing_model_names_the_setting(name: str, match: str) -> None:
    with pytest.raises(ConfigError, match=f"--stab-nli-model.*{match}"):
        resolve_nli(name)
