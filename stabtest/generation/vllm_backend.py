"""In-process vLLM backend: the offline engine (`vllm.LLM`) on a GPU, one call per batch.

`--stab-backend vllm` answers a whole batch with one `LLM.chat` call and one
`SamplingParams` per request, and leaves the scheduling to vLLM (continuous batching,
paged KV cache). Options come as `--stab-backend-option KEY=VALUE`: `lora` (a PEFT
adapter directory), `max_lora_rank`, `requests_per_call`, `reproducible`, and every other
key goes to `vllm.LLM(...)` as it is (tensor_parallel_size, gpu_memory_utilization,
max_model_len, dtype, enable_prefix_caching, ...).

The weights come from the same place as the hf backend's (`--stab-model` directory, cached
hub id, or the bundled GGUF), and a GGUF is loaded as the plain checkpoint the hf backend
converts it to once: vLLM's own GGUF loader is experimental, wants a tokenizer from the
hub, and since vLLM 0.1x lives in a separate plugin.

Nothing is imported and no engine is built until the first generation: the fingerprint
reads files only (weights, adapter), so a fully cached rerun runs without vLLM or a GPU.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationRequest, transcript
from stabtest.generation.fingerprint import dir_digest
from stabtest.generation.hf import HFBackend
from stabtest.generation.sampling import row_seed

FINGERPRINT_VERSION = "vllm-v1"
"""Bump when the request mapping below changes answers (it is in every cache key)."""
REQUESTS_PER_CALL = 1024
"""Requests per `generate` call: vLLM schedules its own batches, so a call only bounds
what a kill loses (each call is cached before the next)."""
ANSWER_OPTIONS = (
    "dtype",
    "quantization",
    "kv_cache_dtype",
    "tokenizer",
    "tokenizer_revision",
    "revision",
    "chat_template",
    "hf_overrides",
)
"""Engine options that change what the model computes, so they are in the fingerprint;
the rest (memory, parallelism, caching) only change how fast."""
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
"""The `max_lora_rank` values vLLM accepts (0.6 to 0.34)."""
TOKEN_SLACK = 2
"""Tokens a prompt can have beyond its UTF-8 bytes (a BOS and a word-boundary marker): a
prompt this short cannot exceed the context, so it is not tokenized to screen it."""
INSTALL = (
    "on a machine with a CUDA GPU: pip install vllm (or pip install 'stabtest[vllm]'); "
    "elsewhere choose another backend than --stab-backend vllm (hf runs on a CPU)"
)


# -- pure mapping (unit-tested without vLLM) -------------------------------------------------


def conversation(request: GenerationRequest) -> list[dict[str, str]]:
    """The chat messages `LLM.chat` takes: system prompt, earlier exchanges, the prompt."""
    return request.chat()


def plain_prompt(request: GenerationRequest) -> str:
    """The text for a model without a chat template, as the hf backend writes it."""
    system = request.params.system_prompt
    return (f"{system}\n\n" if system else "") + transcript(request)


def request_seed(request: GenerationRequest) -> int | None:
    """The seed of a sampled request: the hf backend's per-row seed (its prompt, system
    prompt, seed, sample, history), so one request always draws from the same seed
    whatever shares its batch; greedy requests need none."""
    return None if request.params.greedy else row_seed(request)


def sampling_kwargs(request: GenerationRequest) -> dict[str, Any]:
    """`SamplingParams(**...)` for one request: one answer, max_new_tokens -> max_tokens,
    temperature 0 (greedy) or the request's temperature, top_p and seed."""
    params = request.params
    return {
        "n": 1,
        "max_tokens": params.max_new_tokens,
        "temperature": 0.0 if params.greedy else params.temperature,
        "top_p": 1.0 if params.greedy else params.top_p,
        "seed": request_seed(request),
    }


def lora_rank(rank: int) -> int:
    """The smallest `max_lora_rank` vLLM accepts that holds an adapter of `rank`."""
    return next((allowed for allowed in LORA_RANKS if allowed >= rank), rank)


def adapter_rank(adapter: Path) -> int | None:
    """The LoRA rank `r` in a PEFT adapter's config, or None when it names none."""
    try:
        config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rank = config.get("r") if isinstance(config, dict) else None
    return rank if isinstance(rank, int) and rank > 0 else None


def engine_kwargs(
    model_dir: str,
    options: Mapping[str, Any],
    adapter: Path | None = None,
    max_rank: int | None = None,
) -> dict[str, Any]:
    """`vllm.LLM(**...)`: the model directory and the user's engine options; an adapter
    turns LoRA on, with room for its rank unless `max_rank` says otherwise."""
    kwargs: dict[str, Any] = {"model": model_dir, **options}
    if adapter is not None:
        kwargs["enable_lora"] = True
        rank = max_rank or lora_rank(adapter_rank(adapter) or 16)
        kwargs["max_lora_rank"] = rank
    return kwargs


def length_problem(tokens: int, max_new_tokens: int, context: int) -> str | None:
    """Why a prompt of `tokens` cannot be answered in a context of `context` tokens (the
    hf backend's rule: prompt plus max_new_tokens must fit), or None."""
    if tokens + max_new_tokens <= context:
        return None
    return (
        f"the prompt has {tokens:,} tokens; with max_new_tokens {max_new_tokens} it "
        f"exceeds the model's context of {context:,} tokens (vLLM max_model_len)"
    )


def answer_texts(outputs: Sequence[Any], expected: int) -> list[str]:
    """Each `RequestOutput`'s one answer, stripped as the hf backend strips its answers."""
    if len(outputs) != expected:
        raise BackendError(f"vLLM answered {len(outputs)} of {expected} requests")
    return [str(output.outputs[0].text).strip() for output in outputs]


def has_chat_template(tokenizer: Any) -> bool:
    """Whether to send chat messages: a Hugging Face tokenizer without a chat template
    gets the plain transcript instead, as from the hf backend (not a template vLLM
    might guess); a tokenizer of another kind renders its own chats."""
    return bool(getattr(tokenizer, "chat_template", True))


def _import_vllm() -> Any:
    """The vllm module, or the error that says how to get it."""
    try:
        import vllm
    except (ImportError, OSError) as error:
        message = f"the vllm backend needs the vllm package ({error}); {INSTALL}"
        raise BackendError(message) from None
    return vllm


def _require_accelerator() -> None:
    """vLLM found a GPU (or another device it was built for): without one it would fail
    deep in engine start-up with a less helpful message."""
    from vllm.platforms import current_platform

    unspecified = getattr(current_platform, "is_unspecified", None)
    missing = (
        unspecified()
        if callable(unspecified)
        else type(current_platform).__name__ == "UnspecifiedPlatform"  # vLLM 0.6
    )
    if missing:
        raise BackendError(
            "vLLM needs a CUDA GPU and found none here (no accelerator detected); run on "
            "a GPU machine, or choose another backend than --stab-backend vllm "
            "(hf runs on a CPU)"
        )


# -- the backend -----------------------------------------------------------------------------


class VLLMBackend:
    """Batched chat generation with vLLM's offline engine, built on first use."""

    name = "vllm"

    def __init__(
        self,
        model: str | None = None,
        *,
        cache_dir: Path | str | None = None,
        lora: str | None = None,
        max_lora_rank: int | None = None,
        requests_per_call: int = REQUESTS_PER_CALL,
        reproducible: bool = False,
        **engine: Any,
    ):
        if not isinstance(requests_per_call, int) or requests_per_call < 1:
            raise BackendError("vllm backend: requests_per_call must be an integer >= 1")
        if "model" in engine or "enable_lora" in engine:
            raise BackendError("vllm backend: set the model with --stab-model, LoRA with lora=DIR")
        self.source = HFBackend(model, cache_dir=cache_dir)
        """Where the weights are and how they are identified (the hf backend's rules)."""
        self.adapter = _adapter_dir(lora) if lora is not None else None
        self.max_lora_rank = max_lora_rank
        self.engine = dict(engine)
        """Options handed to `vllm.LLM` as they are."""
        self.per_call = requests_per_call
        self.reproducible = bool(reproducible)
        """Whether a seeded sample replays exactly (the report says so). vLLM promises
        that only in batch-invariant mode (VLLM_BATCH_INVARIANT=1) on the same hardware
        and version; otherwise an answer can change with what shares its batch. Declare
        `reproducible=true` only then; cached answers replay exactly either way."""
        self._fingerprint: str | None = None
        self._llm: Any = None
        self._lora_request: Any = None
        self._templated = True

    def fingerprint(self) -> str:
        """The weights' identity + the adapter's digest + the engine options that change
        answers + this mapping's version; files only, no engine."""
        if self._fingerprint is None:
            payload = json.dumps(
                [
                    FINGERPRINT_VERSION,
                    self.source.weights_identity(),
                    None if self.adapter is None else dir_digest(self.adapter),
                    {key: self.engine[key] for key in ANSWER_OPTIONS if key in self.engine},
                ],
                sort_keys=True,
                default=str,
            )
            self._fingerprint = "vllm:" + hashlib.sha256(payload.encode()).hexdigest()
        return self._fingerprint

    def requests_per_call(self) -> int:
        return self.per_call

    # -- the engine ------------------------------------------------------------------------
    def llm(self) -> Any:
        """The `vllm.LLM`, built on first use (vLLM checked, GPU found, weights ready)."""
        if self._llm is None:
            self._load()
        return self._llm

    def _load(self) -> None:
        vllm = _import_vllm()
        _require_accelerator()
        kwargs = engine_kwargs(self._model_dir(), self.engine, self.adapter, self.max_lora_rank)
        try:
            llm = vllm.LLM(**kwargs)
        except Exception as error:  # vLLM raises many kinds; the run needs one line
            raise BackendError(f"vLLM could not start on {kwargs['model']}: {error}") from error
        if self.adapter is not None:
            from vllm.lora.request import LoRARequest

            self._lora_request = LoRARequest("stabtest-adapter", 1, str(self.adapter))
        self._templated = has_chat_template(llm.get_tokenizer()) or "chat_template" in self.engine
        self._llm = llm

    def _model_dir(self) -> str:
        """A local directory vLLM loads: the model directory, the cached hub snapshot, or
        the GGUF converted once into a plain checkpoint (shared with the hf backend)."""
        try:
            return str(self.source.model_dir())
        except ImportError as error:
            raise BackendError(
                f"preparing the model for vLLM needs transformers and gguf ({error}); "
                "pip install transformers gguf, or pass a model directory with --stab-model"
            ) from None
        except OSError as error:
            raise BackendError(
                f"the model is not available locally ({error}); stabtest never downloads: "
                "pass a local directory with --stab-model PATH"
            ) from None

    def context_length(self) -> int | None:
        """The engine's max_model_len (prompt plus answer), once it is built."""
        length = getattr(self.llm().llm_engine.model_config, "max_model_len", None)
        return length if isinstance(length, int) and length > 0 else None

    # -- generation ------------------------------------------------------------------------
    def _prompt(self, tokenizer: Any, request: GenerationRequest) -> str:
        """The text the model reads, as `LLM.chat` renders it (or the plain transcript)."""
        if not self._templated:
            return plain_prompt(request)
        rendered: str = tokenizer.apply_chat_template(
            conversation(request), tokenize=False, add_generation_prompt=True
        )
        return rendered

    def prompt_problems(self, requests: Sequence[GenerationRequest]) -> list[str | None]:
        """Prompts that do not fit max_model_len with their max_new_tokens: vLLM rejects
        the whole call over one, so each fails its own case instead. Only prompts long
        enough to possibly not fit are tokenized."""
        context = self.context_length()
        if context is None:
            return [None] * len(requests)
        tokenizer = self.llm().get_tokenizer()
        problems: list[str | None] = []
        for request in requests:
            text = self._prompt(tokenizer, request)
            budget = context - request.params.max_new_tokens
            if len(text.encode("utf-8")) + TOKEN_SLACK <= budget:
                problems.append(None)
                continue
            tokens = len(tokenizer.encode(text, add_special_tokens=not self._templated))
            problems.append(length_problem(tokens, request.params.max_new_tokens, context))
        return problems

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """Answers in request order, from one engine call with one SamplingParams each."""
        if not requests:
            return []
        llm = self.llm()
        from vllm import SamplingParams

        params = [SamplingParams(**sampling_kwargs(request)) for request in requests]
        options: dict[str, Any] = {"sampling_params": params, "use_tqdm": False}
        if self._lora_request is not None:
            options["lora_request"] = self._lora_request
        try:
            if self._templated:
                outputs = llm.chat([conversation(r) for r in requests], **options)
            else:
                outputs = llm.generate([plain_prompt(r) for r in requests], **options)
        except ValueError as error:  # a request vLLM refuses (validation) fails the call
            raise BackendError(f"vLLM refused the batch: {error}") from error
        return answer_texts(outputs, len(requests))


def _adapter_dir(lora: str) -> Path:
    """The PEFT adapter directory `lora=DIR` names, checked before anything loads."""
    path = Path(lora).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise BackendError(
            f"vllm backend: lora={lora!r} is not a PEFT adapter directory (no "
            "adapter_config.json); pass the directory a LoRA adapter was saved to"
        )
    return path.resolve()
