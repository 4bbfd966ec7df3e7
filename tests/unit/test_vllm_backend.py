"""The vllm backend's pure mapping (requests -> chat messages, SamplingParams arguments,
seeds, engine arguments) and what it does without vLLM: nothing here imports vllm; the
real engine runs in tests/integration/test_vllm_backend.py on a GPU machine."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationParams, GenerationRequest
from stabtest.generation.backend import resolve_backend
from stabtest.generation.hf import HFBackend
from stabtest.generation.sampling import row_seed
from stabtest.generation.vllm_backend import (
    REQUESTS_PER_CALL,
    VLLMBackend,
    conversation,
    engine_kwargs,
    length_problem,
    lora_rank,
    plain_prompt,
    request_seed,
    sampling_kwargs,
)

GREEDY = GenerationParams(max_new_tokens=24)
SAMPLED = GenerationParams(temperature=0.7, top_p=0.9, max_new_tokens=32)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "model.safetensors").write_bytes(b"weights" * 100)
    return folder


def adapter(folder: Path, rank: int = 16, weights: bytes = b"lora") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "peft_type": "LORA"}))
    (folder / "adapter_model.safetensors").write_bytes(weights * 100)
    return folder


# -- requests -> messages, prompts, sampling -------------------------------------------------


def test_conversation_is_system_then_history_then_the_prompt() -> None:
    params = GenerationParams(system_prompt="Answer briefly.")
    request = GenerationRequest("And Spain?", params, history=(("France?", "Paris."),))
    assert conversation(request) == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And Spain?"},
    ]
    assert conversation(GenerationRequest("Hi", GREEDY)) == [{"role": "user", "content": "Hi"}]


def test_plain_prompt_matches_the_hf_backend_without_a_chat_template() -> None:
    params = GenerationParams(system_prompt="Be brief.")
    assert plain_prompt(GenerationRequest("Capital of France?", params)) == (
        "Be brief.\n\nCapital of France?"
    )
    turn = GenerationRequest("And Spain?", GREEDY, history=(("France?", "Paris."),))
    assert plain_prompt(turn) == "User: France?\nAssistant: Paris.\nUser: And Spain?\nAssistant:"


def test_greedy_requests_are_temperature_zero_without_a_seed() -> None:
    request = GenerationRequest("Capital of France?", GREEDY, seed=5, sample=3)
    assert sampling_kwargs(request) == {
        "n": 1,
        "max_tokens": 24,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": None,
    }


def test_sampled_requests_carry_their_params_and_the_hf_row_seed() -> None:
    request = GenerationRequest("Capital of France?", SAMPLED, seed=5, sample=3)
    kwargs = sampling_kwargs(request)
    assert kwargs == {
        "n": 1,
        "max_tokens": 32,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": row_seed(request),
    }
    assert 0 <= kwargs["seed"] < 2**63  # a torch generator takes it


def test_a_request_always_gets_the_same_seed_and_another_sample_another() -> None:
    first = GenerationRequest("Q", SAMPLED, seed=1, sample=0)
    assert request_seed(first) == request_seed(GenerationRequest("Q", SAMPLED, seed=1, sample=0))
    others = {
        request_seed(GenerationRequest("Q", SAMPLED, seed=1, sample=1)),
        request_seed(GenerationRequest("Q", SAMPLED, seed=2, sample=0)),
        request_seed(GenerationRequest("Q2", SAMPLED, seed=1, sample=0)),
        request_seed(GenerationRequest("Q", SAMPLED, seed=1, history=(("a", "b"),))),
    }
    assert request_seed(first) not in others and len(others) == 4
    assert request_seed(GenerationRequest("Q", GREEDY, seed=1, sample=1)) is None


# -- engine arguments, ranks, lengths --------------------------------------------------------


def test_engine_kwargs_pass_options_and_turn_lora_on_with_room_for_its_rank(
    tmp_path: Path,
) -> None:
    options = {"gpu_memory_utilization": 0.5, "max_model_len": 2048}
    assert engine_kwargs("/m", options) == {"model": "/m", **options}
    lora = adapter(tmp_path / "a", rank=24)
    assert engine_kwargs("/m", {}, lora) == {
        "model": "/m",
        "enable_lora": True,
        "max_lora_rank": 32,
    }
    assert engine_kwargs("/m", {}, lora, max_rank=64)["max_lora_rank"] == 64


def test_lora_rank_is_the_smallest_vllm_accepts() -> None:
    assert [lora_rank(r) for r in (1, 8, 9, 16, 17, 300, 512)] == [8, 8, 16, 16, 32, 320, 512]
    assert lora_rank(1000) == 1000  # beyond the list: vLLM says what it accepts


def test_length_problem_uses_the_hf_rule_prompt_plus_answer() -> None:
    assert length_problem(2000, 48, 2048) is None
    problem = length_problem(2001, 48, 2048)
    assert problem is not None
    assert "2,001 tokens" in problem and "max_new_tokens 48" in problem and "2,048" in problem


# -- the backend without vLLM ----------------------------------------------------------------


def test_registered_and_built_by_name_without_importing_vllm(model_dir: Path) -> None:
    backend = resolve_backend(
        "vllm", model=str(model_dir), gpu_memory_utilization=0.5, tensor_parallel_size=1
    )
    assert isinstance(backend, VLLMBackend)
    assert backend.engine == {"gpu_memory_utilization": 0.5, "tensor_parallel_size": 1}
    assert backend.requests_per_call() == REQUESTS_PER_CALL
    assert backend.reproducible is False
    assert backend.fingerprint().startswith("vllm:")
    assert "vllm" not in sys.modules


def test_importing_the_backend_imports_no_heavy_library() -> None:
    probe = (
        "import json, sys; import stabtest.generation.vllm_backend, stabtest.generation.backend;"
        " print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'vllm', 'torch', 'transformers'})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_fingerprint_follows_weights_adapter_and_answer_options_only(
    model_dir: Path, tmp_path: Path
) -> None:
    base = VLLMBackend(str(model_dir)).fingerprint()
    assert base == VLLMBackend(str(model_dir)).fingerprint()
    assert base != HFBackend(str(model_dir)).fingerprint()  # another engine, another key
    # memory and parallelism change speed, not answers
    assert VLLMBackend(str(model_dir), gpu_memory_utilization=0.3).fingerprint() == base
    assert VLLMBackend(str(model_dir), dtype="float16").fingerprint() != base
    one = VLLMBackend(str(model_dir), lora=str(adapter(tmp_path / "a1"))).fingerprint()
    lora = str(adapter(tmp_path / "a2", weights=b"LORA"))
    two = VLLMBackend(str(model_dir), lora=lora).fingerprint()
    assert len({base, one, two}) == 3
    (model_dir / "model.safetensors").write_bytes(b"retrained" * 100)
    assert VLLMBackend(str(model_dir)).fingerprint() != base


def test_the_default_model_shares_the_hf_backends_weights_identity() -> None:
    try:
        hf = HFBackend()
    except BackendError as error:
        pytest.skip(str(error))
    backend = VLLMBackend()
    assert backend.source.weights_identity() == hf.weights_identity()
    assert backend.fingerprint().startswith("vllm:")


def test_options_and_adapters_are_checked_before_anything_loads(
    model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(BackendError, match="not a PEFT adapter directory"):
        VLLMBackend(str(model_dir), lora=str(tmp_path))
    with pytest.raises(BackendError, match="requests_per_call"):
        VLLMBackend(str(model_dir), requests_per_call=0)
    with pytest.raises(BackendError, match="lora=DIR"):
        VLLMBackend(str(model_dir), enable_lora=True)
    with pytest.raises(BackendError, match="does not exist"):
        VLLMBackend("./no/such/model")
    assert VLLMBackend(str(model_dir), requests_per_call=64).requests_per_call() == 64


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_without_vllm_generating_says_how_to_install_it(model_dir: Path) -> None:
    backend = VLLMBackend(str(model_dir))
    assert backend.generate([]) == []
    with pytest.raises(BackendError) as raised:
        backend.generate([GenerationRequest("Capital of France?", GREEDY)])
    message = str(raised.value)
    assert "pip install vllm" in message and "--stab-backend vllm" in message
    assert "CUDA GPU" in message
