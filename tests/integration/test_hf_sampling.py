"""Sampled answers of the real model depend on their own request only: one request alone
and inside two different batches gives the same text, and a `--stab-no-cache` rerun
reproduces them; greedy answers are the same through continuous batching and padding."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationParams, GenerationRequest
from stabtest.generation.hf import HFBackend

pytestmark = pytest.mark.integration

HOT = GenerationParams(temperature=1.0, top_p=0.95, max_new_tokens=12)
PROMPTS = [
    "Tell me a word.",
    "What is the capital of France?",
    "Name an animal that lives in the sea.",
    "Write a short line about autumn.",
]


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> HFBackend:
    pytest.importorskip("transformers")
    shared = os.environ.get("STABTEST_CACHE_DIR")
    cache_dir = Path(shared) if shared else tmp_path_factory.mktemp("stabtest-cache")
    try:
        backend = HFBackend(cache_dir=cache_dir, threads=1)
    except BackendError as error:
        pytest.skip(str(error))
    backend.model_and_tokenizer()
    return backend


def sized(backend: HFBackend, size: int | None, requests: list[GenerationRequest]) -> list[str]:
    backend.batch_size = size
    try:
        return backend.generate(requests)
    finally:
        backend.batch_size = None


def test_a_sampled_answer_is_the_same_alone_and_in_two_different_batches(
    backend: HFBackend,
) -> None:
    requests = [GenerationRequest(p, HOT, seed=s, sample=0) for p in PROMPTS for s in (1, 2)]
    alone = [sized(backend, 1, [r])[0] for r in requests]
    together = sized(backend, 8, requests)
    shuffled = sized(backend, 3, requests[::-1])[::-1]  # other neighbours, other padding
    assert together == alone
    assert shuffled == alone
    assert len(set(alone)) > len(PROMPTS)  # seeds differ, so do the samples


def test_samples_of_one_prompt_differ_and_rerun_identically(backend: HFBackend) -> None:
    requests = [GenerationRequest("Tell me a word.", HOT, seed=5, sample=i) for i in range(3)]
    first = backend.generate(requests)
    assert backend.generate(requests) == first
    assert len(set(first)) > 1


def test_greedy_is_the_same_through_continuous_batching_and_padding(backend: HFBackend) -> None:
    greedy = GenerationParams(max_new_tokens=16)
    requests = [GenerationRequest(p, greedy) for p in PROMPTS]
    padded = backend.generate(requests)
    backend.continuous = True
    try:
        continuous = backend.generate(requests)
    finally:
        backend.continuous = False
    assert continuous == padded
    assert "Paris" in continuous[1]


def test_auto_sizes_batches_from_the_real_config_and_memory(backend: HFBackend) -> None:
    from stabtest.generation.batching import device_cap

    cap = device_cap(accelerator=backend._device.type != "cpu")
    assert backend.requests_per_call() == cap  # one full batch per call
    greedy = GenerationParams(max_new_tokens=16)
    short = backend.rows_per_batch(60, greedy)
    long = backend.rows_per_batch(8000, greedy)  # near SmolLM2's 8,192-token context
    assert 1 <= long < short <= cap  # 2.3 GB of prefill scores a row at 8k tokens
    backend.batch_size = 5
    try:
        assert backend.requests_per_call() == backend.rows_per_batch(60, greedy) == 5
    finally:
        backend.batch_size = None
