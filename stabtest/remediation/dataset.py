"""Training data for remediation, from the gold store first, then (switchable) from
confident automatic verdicts: the paper's "high-confidence annotations proceed
automatically".

For every failed answer of a trainable variant (see split.py):
- SFT: the variant prompt with the human's corrected answer; else the case's consistent
  answer: the model's own most common right answer for that case, else one written from
  the reference. Consistency training: the same right answer for every wording.
- DPO: chosen = that answer, rejected = the failed answer actually given. Human labels
  also give pairs directly: a passing and a failing answer of the same case.
Stability failures (semantic divergence, session drift) weigh `stability_weight` times a
plain failure. In a conversation each turn is its own example, its prompt carrying the
thread's earlier exchanges as the model saw them (TRL's conversational format), and its
target is the most common right answer at that turn, else that turn's reference.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from stabtest.core.errors import StabtestError
from stabtest.core.ids import answer_uid
from stabtest.core.results import AnswerResult, GoldLabel, TrainingExample, VariantResult
from stabtest.remediation.split import trainable

STABILITY_CATEGORIES = ("semantic_divergence", "session_drift")


class NoTrainingData(StabtestError):
    """Nothing to train on: say why, never train on nothing."""


@dataclass(frozen=True)
class DataOptions:
    weak: bool = True
    """Also train on confident automatic failures (not only human-labelled ones)."""
    min_confidence: float = 0.8
    stability_weight: float = 2.0
    rewrite: bool = True
    """Restate bare reference targets in the base model's own words (rewrite.py)."""
    replay_weight: float = 0.5
    """Also train, at this weight, on the model's own right answers of trainable variants
    (replay: anchors what it already does right while the failures are corrected);
    0 turns replay off."""


def consistent_answer(answers: Iterable[AnswerResult], reference: str | None) -> str | None:
    """The most common of `answers` judged right (by a human or the judges) that passed,
    else one written from the reference. (Counting right answers that failed only for
    divergence too was tried: on `benchmarks/remediation.py` held-out SI then fell 8%
    instead of 36%.)"""
    right = Counter(
        " ".join(a.text.split()) for a in answers if a.correct and a.verdict.outcome != "fail"
    )
    if right:
        return right.most_common(1)[0][0]
    return from_reference(reference) if reference else None


def from_reference(reference: str) -> str:
    """The bare target written from a reference: `Paris` -> `Paris.`."""
    text = reference.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _weight(answer: AnswerResult, options: DataOptions) -> float:
    return options.stability_weight if answer.verdict.category in STABILITY_CATEGORIES else 1.0


def build_examples(
    variants: Iterable[VariantResult],
    gold: Mapping[tuple[str, str], GoldLabel],
    held_ops: Iterable[str],
    options: DataOptions = DataOptions(),
) -> list[TrainingExample]:
    """SFT examples with their rejected answer (DPO uses both; replay examples have none
    and are SFT only); see the module docstring."""
    held = tuple(held_ops)
    by_case: dict[str, list[VariantResult]] = {}
    for variant in variants:
        by_case.setdefault(variant.case_uid, []).append(variant)
    examples: list[TrainingExample] = []
    for case_variants in by_case.values():
        turns = {a.turn for v in case_variants for a in v.answers}
        targets = {
            turn: consistent_answer(
                (a for v in case_variants for a in v.answers if a.turn == turn),
                case_variants[0].reference_at(turn),
            )
            for turn in turns
        }
        for variant in case_variants:
            if not trainable(variant, held):
                continue
            for answer in variant.answers:
                target = targets[answer.turn]
                label = gold.get((variant.uid, answer.hash))
                human = label.outcome if label is not None else None
                if human == "pass" or (human is None and answer.verdict.outcome == "pass"):
                    if options.replay_weight > 0 and (answer.correct or human == "pass"):
                        examples.append(
                            TrainingExample(
                                prompt=variant.asked(answer),
                                completion=answer.text.strip(),
                                weight=options.replay_weight,
                                uid=answer_uid(variant.uid, answer.hash),
                                family="replay",
                                history=variant.history(answer),
                            )
                        )
                    continue
                confident = (
                    options.weak
                    and answer.verdict.outcome == "fail"
                    and answer.verdict.confidence >= options.min_confidence
                )
                if human != "fail" and not confident:
                    continue
                corrected = label.corrected_answer if label is not None else None
                completion = (corrected or "").strip() or target
                if not completion or completion == " ".join(answer.text.split()):
                    continue
                examples.append(
                    TrainingExample(
                        prompt=variant.asked(answer),
                        completion=completion,
                        weight=_weight(answer, options),
                        uid=answer_uid(variant.uid, answer.hash),
                        family=variant.family,
                        rejected=answer.text,
                        history=variant.history(answer),
                    )
                )
    return examples


def require_examples(examples: list[TrainingExample], options: DataOptions) -> None:
    """At least one correction: the model's own answers alone (replay, retain) are no
    reason to train."""
    if any(e.family not in ("replay", "retain") for e in examples):
        return
    weak = (
        f" and no automatic failure with confidence >= {options.min_confidence:g}"
        if options.weak
        else " (automatic verdicts are off: --weak)"
    )
    raise NoTrainingData(
        "no training data: the gold store holds no failed or corrected answer of a "
        f"trainable variant{weak}. Run the suites, push and label failures (stabtest "
        "push / pull), or allow confident automatic verdicts; nothing was trained."
    )


def write_jsonl(path: Path, examples: Iterable[TrainingExample], kind: str) -> int:
    """`sft`: prompt/completion (chat messages) + weight; `dpo`: prompt/chosen/rejected
    + weight: the formats TRL and most trainers read."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for example in examples:
            out.write(json.dumps(record(example, kind), ensure_ascii=False) + "\n")
            count += 1
    return count


def record(example: TrainingExample, kind: str) -> dict[str, object]:
    prompt = example.messages()
    if kind == "sft":
        completion = [{"role": "assistant", "content": example.completion}]
        return {"prompt": prompt, "completion": completion, "weight": example.weight}
    if kind == "dpo":
        return {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": example.completion}],
            "rejected": [{"role": "assistant", "content": example.rejected or ""}],
            "weight": example.weight,
        }
    raise ValueError(f"unknown export kind {kind!r}; use sft or dpo")


def describe(examples: Iterable[TrainingExample]) -> dict[str, object]:
    rows = [asdict(e) for e in examples]
    return {"examples": len(rows), "weight": sum(float(r["weight"]) for r in rows)}
