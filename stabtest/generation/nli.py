"""NLI / cross-encoder models that tell whether an answer entails or contradicts a
reference, for the `nli` judge (`--stab-nli-model`). None ships with stabtest: none that
is well kept is on the package registries. A user names one:

- a sentence-transformers `CrossEncoder`: a local directory or a hub name (the hub is
  reached only if the name is not a directory, and never on an offline machine);
- a local `.onnx` file (needs `onnxruntime`: `pip install "stabtest[nli]"`), with its
  tokenizer in the same directory or in a sibling directory holding `tokenizer.json`.

Output names come from the model's config (`id2label`) or from `--stab-nli-labels`
(in output order: `contradiction,entailment,neutral`); an ONNX file without a config
needs the setting. Scores are cached like embeddings: by (model fingerprint, pair).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stabtest.core.errors import BackendError, ConfigError
from stabtest.core.nli import PairClassifier, Probabilities, nli_label
from stabtest.generation.fingerprint import dir_digest, file_digest

if TYPE_CHECKING:
    from stabtest.generation.cache import Cache

SETTING = "--stab-nli-model"
ONNX_FIX = 'pip install "stabtest[nli]" (onnxruntime)'


def _labels(
    given: Sequence[str] | None, config: dict[Any, Any] | None, width: int
) -> tuple[str, ...]:
    """Normalised output names: the setting first, else the config's id2label."""
    if given:
        names = [str(name) for name in given]
        source = "--stab-nli-labels"
    elif config:
        names = [str(config[key]) for key in sorted(config, key=int)]
        source = "the model's id2label"
    else:
        raise ConfigError(
            "--stab-nli-labels",
            "the NLI model names no outputs: list them in output order, e.g. "
            "contradiction,entailment,neutral",
        )
    if len(names) != width:
        raise ConfigError(
            "--stab-nli-labels", f"{source} names {len(names)} outputs, the model has {width}"
        )
    labels = tuple(nli_label(name) for name in names)
    if "entailment" not in labels and "contradiction" not in labels:
        raise ConfigError(
            "--stab-nli-labels",
            f"{source} ({', '.join(names)}) names neither entailment nor contradiction",
        )
    return labels


def _softmax(logits: Any) -> Probabilities:
    values = np.asarray(logits, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.shape[1] == 1:  # one logit: P(positive), the second class is its complement
        positive = 1.0 / (1.0 + np.exp(-values[:, 0]))
        return np.asarray(np.stack([1.0 - positive, positive], axis=1), dtype=np.float32)
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=np.float32)


class CrossEncoderClassifier:
    """A sentence-transformers CrossEncoder, loaded on first use, on the CPU unless
    `device` says otherwise."""

    def __init__(self, name: str, labels: Sequence[str] | None = None, device: str = "cpu"):
        self.name, self.given, self.device = name, labels, device
        self._model: Any = None
        self._labels: tuple[str, ...] | None = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import CrossEncoder
            except ImportError as error:  # pragma: no cover - a dependency of stabtest
                raise BackendError(f"{SETTING} needs sentence-transformers ({error})") from error
            local = Path(self.name).expanduser()
            try:
                self._model = CrossEncoder(
                    str(local) if local.is_dir() else self.name,
                    device=self.device,
                    local_files_only=local.is_dir(),
                )
            except (OSError, ValueError) as error:
                raise BackendError(
                    f"{SETTING} {self.name}: cannot load a CrossEncoder ({error}); give a local "
                    f"model directory or an .onnx file"
                ) from error
        return self._model

    @property
    def labels(self) -> tuple[str, ...]:
        if self._labels is None:
            model = self._load()
            config = getattr(model.config, "id2label", None)
            self._labels = _labels(self.given, config, int(model.num_labels))
        return self._labels

    def fingerprint(self) -> str:
        local = Path(self.name).expanduser()
        identity = dir_digest(local) if local.is_dir() else f"name:{self.name}"
        given = ",".join(self.given or ())
        digest = hashlib.sha256(f"ce-v1\0{identity}\0{given}".encode()).hexdigest()
        return "nli:" + digest[:24]

    def classify(self, pairs: Sequence[tuple[str, str]]) -> Probabilities:
        width = len(self.labels)
        if not pairs:
            return np.zeros((0, width), dtype=np.float32)
        logits = self._load().predict(
            [list(p) for p in pairs],
            batch_size=32,
            activation_fn=_identity,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _softmax(logits)


def _identity(values: Any) -> Any:
    """The CrossEncoder's raw logits: our softmax reads one or several outputs alike."""
    return values


class OnnxPairClassifier:
    """A local ONNX pair classifier run by onnxruntime, its tokenizer loaded with
    transformers from the file's directory or a sibling directory with `tokenizer.json`."""

    def __init__(self, path: Path, labels: Sequence[str] | None = None, max_length: int = 512):
        self.path, self.given, self.max_length = path, labels, max_length
        self._session: Any = None
        self._tokenizer: Any = None
        self._labels: tuple[str, ...] | None = None

    def tokenizer_dir(self) -> Path:
        folder = self.path.parent
        if (folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file():
            return folder
        for sibling in sorted(p for p in folder.iterdir() if p.is_dir()):
            if (sibling / "tokenizer.json").is_file():
                return sibling
        raise BackendError(
            f"{SETTING} {self.path}: no tokenizer beside it (tokenizer.json in {folder} or in "
            f"a directory next to the file)"
        )

    def _load(self) -> Any:
        if self._session is None:
            try:
                import onnxruntime
            except ImportError as error:
                raise BackendError(f"{SETTING} {self.path} is ONNX: {ONNX_FIX}") from error
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(
                str(self.tokenizer_dir()), local_files_only=True
            )
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            self._session = onnxruntime.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def _config(self) -> dict[Any, Any] | None:
        config = self.path.parent / "config.json"
        if not config.is_file():
            return None
        mapping = json.loads(config.read_text(encoding="utf-8")).get("id2label")
        return mapping if isinstance(mapping, dict) else None

    @property
    def labels(self) -> tuple[str, ...]:
        if self._labels is None:
            output = self._load().get_outputs()[0].shape
            width = output[-1] if isinstance(output[-1], int) else len(self.given or ())
            self._labels = _labels(self.given, self._config(), width)
        return self._labels

    def fingerprint(self) -> str:
        identity = f"{file_digest(self.path)}\0{dir_digest(self.tokenizer_dir())}"
        given = ",".join(self.given or ())
        digest = hashlib.sha256(f"onnx-v1\0{identity}\0{given}".encode()).hexdigest()
        return "nli:" + digest[:24]

    def classify(self, pairs: Sequence[tuple[str, str]], batch: int = 16) -> Probabilities:
        width = len(self.labels)
        session = self._load()
        inputs = session.get_inputs()
        wanted = {i.name for i in inputs}
        # An export with a fixed sequence length takes exactly that many tokens.
        fixed = inputs[0].shape[1] if len(inputs[0].shape) > 1 else None
        length = fixed if isinstance(fixed, int) else self.max_length
        rows = []
        for start in range(0, len(pairs), batch):
            chunk = pairs[start : start + batch]
            encoded = self._tokenizer(
                [p for p, _ in chunk],
                [h for _, h in chunk],
                padding="max_length" if isinstance(fixed, int) else True,
                truncation=True,
                max_length=length,
                return_tensors="np",
            )
            feed = {k: np.asarray(v, dtype=np.int64) for k, v in encoded.items() if k in wanted}
            rows.append(_softmax(session.run(None, feed)[0]))
        return np.concatenate(rows) if rows else np.zeros((0, width), dtype=np.float32)


class CachedPairClassifier:
    """Wraps a classifier: each distinct pair is scored once, ever, per fingerprint (in
    the cache's embeddings table: a row of probabilities is a small vector)."""

    def __init__(self, inner: PairClassifier, cache: Cache):
        self.inner, self.cache = inner, cache

    @property
    def labels(self) -> tuple[str, ...]:
        return self.inner.labels

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def classify(self, pairs: Sequence[tuple[str, str]]) -> Probabilities:
        keys = [f"{premise}\0{hypothesis}" for premise, hypothesis in pairs]
        if not keys:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        fingerprint = self.fingerprint()
        known = self.cache.get_embeddings(fingerprint, keys)
        todo = [key for key in dict.fromkeys(keys) if key not in known]
        if todo:
            index = {key: i for i, key in enumerate(keys)}
            fresh = self.inner.classify([pairs[index[key]] for key in todo])
            new = dict(zip(todo, fresh, strict=True))
            self.cache.put_embeddings(fingerprint, new)
            known.update(new)
        return np.stack([known[k] for k in keys]).astype(np.float32, copy=False)


def resolve_nli(name: str, labels: Sequence[str] | None = None) -> PairClassifier:
    """An `.onnx` file, or a CrossEncoder directory or name."""
    path = Path(name).expanduser()
    if path.suffix == ".onnx":
        if not path.is_file():
            raise ConfigError(SETTING, f"ONNX file {path} does not exist")
        return OnnxPairClassifier(path, labels)
    if not path.is_dir() and (path.is_absolute() or name.startswith(".")):
        raise ConfigError(SETTING, f"model directory {path} does not exist")
    return CrossEncoderClassifier(name, labels)
