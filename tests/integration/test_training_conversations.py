"""Real TRL steps on conversation examples: a turn's example carries its thread's earlier
exchanges as chat messages, and both LoRA SFT and DPO train on them (CI-sized)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from stabtest.core.results import TrainingExample
from stabtest.generation.hf import HFBackend
from stabtest.remediation.train import Hyperparameters, merge, train

pytestmark = pytest.mark.integration

THREAD = (
    ("What is the capital of France?", "Paris."),
    ("What river flows through it?", "The Seine."),
)
EXAMPLES = [
    TrainingExample(
        prompt="Remind me, what is the capital of France?",
        completion="Paris.",
        rejected="Lyon.",
        weight=2.0,
        history=THREAD,
    ),
    TrainingExample(
        prompt="What river flows through it?",
        completion="The Seine.",
        rejected="The Thames.",
        history=THREAD[:1],
    ),
    TrainingExample(prompt="What is the largest planet?", completion="Jupiter.", rejected="Mars."),
]


@pytest.fixture(scope="module")
def base() -> Path:
    pytest.importorskip("trl")
    return HFBackend().model_dir()


@pytest.mark.parametrize(("method", "steps"), [("sft", 8), ("dpo", 3)])
def test_conversation_examples_train_with_sft_and_dpo(
    base: Path, tmp_path: Path, method: str, steps: int
) -> None:
    hp = Hyperparameters(method=method, max_steps=steps, batch_size=3)  # type: ignore[arg-type]
    result = train(base, EXAMPLES, tmp_path / "adapters", hp, progress=False, checkpoints=[2])
    assert result.steps == steps and len(result.losses) == steps
    assert all(math.isfinite(loss) for loss in result.losses)
    if method == "sft":  # the same three examples each step: the loss must fall
        assert result.loss_fell
    assert sorted(result.adapters) == [2, steps]  # the checkpoint asked for, and the last
    merge(base, result.adapters[steps], tmp_path / "model")
    assert (tmp_path / "model" / "config.json").is_file()
    reloaded = HFBackend(str(tmp_path / "model"))
    assert reloaded.fingerprint() != HFBackend().fingerprint()
