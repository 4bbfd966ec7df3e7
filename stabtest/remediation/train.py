"""Fine-tune with TRL on remediation examples: LoRA SFT (default) or DPO.

SFT trains on the completion only (TRL's default for prompt/completion data) and weighs
each example's loss: TRL has no per-example weight, so the `weight` column is kept
(`remove_unused_columns=False`), carried through the collator, and applied in a
`compute_loss` override (mean token loss per example, weighted mean over the batch).
DPO with a LoRA adapter uses the adapter-disabled model as its reference: no second
copy in memory. On CPU: `use_cpu`, no bf16, no gradient checkpointing; on a GPU,
accelerate places the model. The adapter is merged before saving, so the result loads
like any model directory (`--stab-model DIR`).
"""

from __future__ import annotations

import resource
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from stabtest.core.errors import StabtestError
from stabtest.core.results import TrainingExample

Method = Literal["sft", "dpo"]


class TrainingError(StabtestError):
    """Training could not run: a missing dependency, a model that cannot be trained."""


class BudgetTooSmall(TrainingError, TimeoutError):
    """The time budget ran out before one training step (a TimeoutError, so the search
    can tell it from a broken run: later candidates just stop)."""


@dataclass(frozen=True)
class Hyperparameters:
    method: Method = "sft"
    learning_rate: float = 2e-4  # LoRA wants about 10x the full fine-tuning rate
    epochs: float = 2.0
    max_steps: int = -1
    batch_size: int = 4
    lora_r: int = 16
    lora_alpha: int = 32
    beta: float = 0.1  # DPO
    max_length: int = 256
    seed: int = 0


@dataclass
class TrainResult:
    steps: int
    seconds: float
    peak_rss_mb: float
    losses: list[float] = field(default_factory=list)
    adapters: dict[int, Path] = field(default_factory=dict)
    """The LoRA adapter saved at each checkpoint step (the last step always)."""
    stopped_at_deadline: bool = False

    @property
    def loss_fell(self) -> bool:
        return len(self.losses) >= 2 and self.losses[-1] < self.losses[0]


def _dataset(examples: Sequence[TrainingExample], method: Method) -> Any:
    from datasets import Dataset

    from stabtest.remediation.dataset import record

    return Dataset.from_list([record(example, method) for example in examples])


def weighted_loss(model: Any, inputs: dict[str, Any], weights: Any) -> tuple[Any, Any]:
    """Mean token loss of each example's completion (labels -100 elsewhere), then the
    weighted mean over the batch: a weight-2 example counts twice."""
    from torch.nn import functional

    labels = inputs["labels"]
    forward = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
    outputs = model(**forward, use_cache=False)
    logits, targets = outputs.logits[:, :-1, :], labels[:, 1:]
    per_token = functional.cross_entropy(
        logits.transpose(1, 2).float(), targets, ignore_index=-100, reduction="none"
    )
    mask = (targets != -100).float()
    per_example = (per_token * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    weights = weights.to(per_example.device)
    return (per_example * weights).sum() / weights.sum(), outputs


def _weighted_sft_classes() -> tuple[Any, Any]:
    """A collator that keeps the weight column and an SFTTrainer whose loss uses it."""
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling, SFTTrainer

    class WeightCollator(DataCollatorForLanguageModeling):
        def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
            batch: dict[str, Any] = super().torch_call(examples)
            batch["weight"] = torch.tensor([float(e["weight"]) for e in examples])
            return batch

    class WeightedSFTTrainer(SFTTrainer):
        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            weights = inputs.pop("weight")
            loss, outputs = weighted_loss(model, inputs, weights)
            return (loss, outputs) if return_outputs else loss

    return WeightCollator, WeightedSFTTrainer


def _checkpoint_callback(
    folder: Path, steps: Sequence[int], deadline: float | None, saved: dict[int, Path]
) -> Any:
    """Saves the adapter at `steps` (and at the last step) and stops at `deadline`
    (time.monotonic()), before a step it could not finish in time."""
    from transformers import TrainerCallback

    class Checkpoints(TrainerCallback):
        stopped = False

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if deadline is not None and time.monotonic() >= deadline:
                raise BudgetTooSmall(  # the trainer runs one step whatever a callback says
                    "--budget-minutes: the budget ran out before one training step "
                    "(loading the model and data took it all); give it more"
                )

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if deadline is not None and time.monotonic() >= deadline:
                control.should_training_stop = True
                self.stopped = True

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            step = int(state.global_step)
            last = step >= state.max_steps
            if deadline is not None and time.monotonic() >= deadline and not last:
                control.should_training_stop = True
                self.stopped = True
            if step in steps or last or control.should_training_stop:
                path = folder / f"step-{step}"
                kw["model"].save_pretrained(path)
                saved[step] = path

    return Checkpoints()


def train(
    base: Path,
    examples: Sequence[TrainingExample],
    output: Path,
    hp: Hyperparameters = Hyperparameters(),
    progress: bool = True,
    checkpoints: Sequence[int] = (),
    deadline: float | None = None,
) -> TrainResult:
    """Fine-tune the model directory `base` on `examples`, saving the LoRA adapter under
    `output` (which must not exist) at each of `checkpoints` and at the last step; stop
    at `deadline` (monotonic clock). `merge` turns an adapter into a model directory."""
    try:
        import torch
        from peft import LoraConfig
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl.trainer.dpo_config import DPOConfig
        from trl.trainer.dpo_trainer import DPOTrainer
        from trl.trainer.sft_config import SFTConfig
    except ImportError as error:
        raise TrainingError(
            f"remediation needs trl, peft and transformers ({error}); install stabtest's "
            "dependencies (scripts/install.sh)"
        ) from None
    if not (base / "config.json").is_file():
        raise TrainingError(
            f"{base} is not a trainable model directory (no config.json): remediation "
            "trains a local transformers model (--stab-backend hf), not an HTTP endpoint"
        )
    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    lora = LoraConfig(
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    common: dict[str, Any] = {
        "output_dir": str(output.parent / (output.name + ".trainer")),
        "learning_rate": hp.learning_rate,
        "num_train_epochs": hp.epochs,
        "max_steps": hp.max_steps,
        "per_device_train_batch_size": hp.batch_size,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "seed": hp.seed,
        "use_cpu": not cuda,
        "bf16": cuda and torch.cuda.is_bf16_supported(),
        "activation_checkpointing": False,
        "max_length": hp.max_length,
        "disable_tqdm": not (progress and sys.stderr.isatty()),
        "remove_unused_columns": False,
    }
    dataset = _dataset(examples, hp.method)
    saved: dict[int, Path] = {}
    callback = _checkpoint_callback(output, checkpoints, deadline, saved)
    if hp.method == "sft":
        collator_cls, trainer_cls = _weighted_sft_classes()
        trainer = trainer_cls(
            model=model,
            args=SFTConfig(**common),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora,
            data_collator=collator_cls(pad_token_id=tokenizer.pad_token_id),
            callbacks=[callback],
        )
    else:
        trainer = DPOTrainer(
            model=model,
            args=DPOConfig(**{**common, "beta": hp.beta, "remove_unused_columns": True}),
            train_dataset=dataset.remove_columns(["weight"]),
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=[callback],
        )
    output.mkdir(parents=True)
    try:
        trainer.train()
    except (torch.OutOfMemoryError, MemoryError):
        raise TrainingError(
            f"out of memory training with batch size {hp.batch_size} and max length "
            f"{hp.max_length}: lower --batch-size; nothing was saved"
        ) from None
    finally:
        shutil.rmtree(common["output_dir"], ignore_errors=True)
    steps = int(trainer.state.global_step)
    if steps == 0:
        raise BudgetTooSmall(
            "--budget-minutes: the budget ran out before one training step "
            f"(loading the model took {time.perf_counter() - started:.1f} s); give it more"
        )
    losses = [float(e["loss"]) for e in trainer.state.log_history if "loss" in e]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return TrainResult(
        steps=steps,
        seconds=round(time.perf_counter() - started, 2),
        peak_rss_mb=round(peak, 1),
        losses=losses,
        adapters=dict(sorted(saved.items())),
        stopped_at_deadline=bool(callback.stopped),
    )


def merge(base: Path, adapter: Path, output: Path) -> Path:
    """The base model with `adapter` merged in, saved (bf16, with the tokenizer) as a
    model directory `output` that loads like any other (`--stab-model DIR`)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    merged.to(torch.bfloat16)  # half the disk; the hf backend computes in its own dtype
    output.mkdir(parents=True)
    merged.save_pretrained(output)
    AutoTokenizer.from_pretrained(base).save_pretrained(output)
    return output
