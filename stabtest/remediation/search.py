"""A small search over training configurations within a time budget, chosen on validation.

A user should not have to tune a fine-tune to get a round through its gate: candidates
are tried in order of prior (the default first, then gentler and stronger ones), each
trained once with its adapter saved at a few steps, every checkpoint scored on the
validation wordings (never the held-out ones), and the best admissible one kept: it must
keep at least `min_kept` of the right validation answers right and not lower validation
FC, then it wins on SI drop plus FC gain, fewer steps breaking ties. The held-out gate
then looks once, at the winner. The budget covers training and validation: a candidate
that would not fit (judged by the last one's cost) is not started, training stops at the
deadline, and the first candidate always yields one scored checkpoint. Ctrl-C keeps what
finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stabtest.remediation.evaluate import ValidationScore


@dataclass(frozen=True)
class Config:
    learning_rate: float
    retain_weight: float
    lora_r: int
    epochs: float

    def label(self) -> str:
        return (
            f"lr {self.learning_rate:g}, retain {self.retain_weight:g}, r {self.lora_r}, "
            f"{self.epochs:g} epoch(s)"
        )


def candidates(first: Config, search: bool = True) -> list[Config]:
    """`first` (the user's settings), then, when searching, variations in order of prior:
    more replay of the model's own answers, a gentler rate, a stronger one."""
    if not search:
        return [first]
    lr, retain = first.learning_rate, max(first.retain_weight, 0.5)
    ordered = [
        first,
        Config(lr, retain * 2, first.lora_r, first.epochs),
        Config(lr / 2, retain * 2, first.lora_r, first.epochs),
        Config(lr * 2, retain * 2, first.lora_r, first.epochs),
        Config(lr, retain * 2, max(4, first.lora_r // 2), first.epochs * 1.5),
    ]
    unique: list[Config] = []
    for config in ordered:
        if config not in unique:
            unique.append(config)
    return unique


@dataclass
class Trial:
    config: Config
    step: int
    score: ValidationScore
    admissible: bool
    model: Path
    """The merged model directory of this checkpoint (removed unless it is the best)."""


@dataclass
class SearchResult:
    trials: list[Trial] = field(default_factory=list)
    best: Trial | None = None
    configs_tried: int = 0
    stopped_by_budget: bool = False
    interrupted: bool = False
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


Train = Callable[[Config, float], Sequence[tuple[int, Path]]]
"""(config, deadline) -> (step, adapter) checkpoints, the last step last."""
Validate = Callable[[int, Path], tuple[ValidationScore, Path]]
"""(step, adapter) -> its score and the merged model directory it scored."""


def rank(trial: Trial) -> tuple[bool, float, int]:
    return (trial.admissible, round(trial.score.objective, 6), -trial.step)


def run_search(
    configs: Sequence[Config],
    train: Train,
    validate: Validate,
    discard: Callable[[Path], None],
    *,
    budget_seconds: float,
    min_kept: float = 0.95,
    max_fc_drop: float = 0.02,
    clock: Callable[[], float] = time.monotonic,
    progress: Callable[[str], None] = print,
) -> SearchResult:
    """Try `configs` within `budget_seconds`; see the module docstring."""
    started = clock()
    deadline = started + budget_seconds
    result = SearchResult()
    last_cost = 0.0
    try:
        for config in configs:
            now = clock()
            if result.best is not None and now + last_cost > deadline:
                result.stopped_by_budget = True
                progress(
                    f"remediation: search stops: {config.label()} would not fit the budget "
                    f"(the last candidate took {last_cost:.0f} s)"
                )
                break
            result.configs_tried += 1
            progress(f"remediation: candidate {result.configs_tried}: {config.label()}")
            try:
                checkpoints = list(train(config, deadline))
            except TimeoutError:  # the budget ran out before its first step
                if result.best is None:
                    raise
                result.stopped_by_budget = True
                break
            for index, (step, adapter) in enumerate(checkpoints):
                final = index == len(checkpoints) - 1
                if clock() > deadline and not (result.best is None and final):
                    result.stopped_by_budget = True
                    continue
                score, model = validate(step, adapter)
                trial = Trial(config, step, score, score.admissible(min_kept, max_fc_drop), model)
                result.trials.append(trial)
                progress(
                    f"remediation:   step {step}: validation objective {score.objective:+.3f}, "
                    f"kept {_f(score.kept)}, SI {_f(score.si_before)} -> {_f(score.si_after)}"
                    f"{'' if trial.admissible else ' (not admissible)'}"
                )
                if result.best is None or rank(trial) > rank(result.best):
                    if result.best is not None:
                        discard(result.best.model)
                    result.best = trial
                else:
                    discard(model)
            last_cost = clock() - now
    except KeyboardInterrupt:
        result.interrupted = True
    result.seconds = round(clock() - started, 2)
    return result


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
