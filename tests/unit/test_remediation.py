"""Remediation's pure parts: training data, the held-out split, the gate, model rounds."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from stabtest.core.ids import case_of
from stabtest.core.results import (
    AnswerResult,
    GoldLabel,
    TrainingExample,
    VariantResult,
    Verdict,
)
from stabtest.remediation import models
from stabtest.remediation.dataset import (
    DataOptions,
    NoTrainingData,
    build_examples,
    record,
    require_examples,
)
from stabtest.remediation.partition import Roles, partition
from stabtest.remediation.split import held_out_operators, held_out_paraphrase, trainable


def variant(
    vid: str,
    text: str,
    outcome: str,
    *,
    family: str = "original",
    correct: bool | None = None,
    category: str | None = None,
    confidence: float = 0.95,
    prompt: str = "Largest planet?",
    operators: tuple[str, ...] = (),
) -> VariantResult:
    verdict = Verdict(outcome, confidence, (), category)  # type: ignore[arg-type]
    return VariantResult(
        uid=f"s.yaml::planet[{vid}]",
        suite="s.yaml",
        case_id="planet",
        variant_id=vid,
        family=family,  # type: ignore[arg-type]
        prompt=prompt,
        operators=operators,
        reference="Jupiter",
        answers=(AnswerResult(0, text, 0, verdict, correct),),
    )


NO_REPLAY = DataOptions(replay_weight=0.0)
RIGHT = variant("v0", "Jupiter is the largest.", "pass", correct=True)
WRONG = variant(
    "v1",
    "Neptune.",
    "fail",
    correct=False,
    prompt="Biggest planet?",
    family="rule",
    category="semantic_divergence",
)


def test_failures_train_towards_the_cases_own_right_answer_with_stability_weight() -> None:
    [example] = build_examples([RIGHT, WRONG], {}, (), NO_REPLAY)
    assert (example.prompt, example.completion) == ("Biggest planet?", "Jupiter is the largest.")
    assert example.rejected == "Neptune." and example.weight == 2.0  # semantic divergence
    plain = variant("v1", "Neptune.", "fail", correct=False, prompt="Biggest planet?")
    assert build_examples([RIGHT, plain], {}, (), NO_REPLAY)[0].weight == 1.0


def test_a_human_correction_wins_and_a_human_pass_is_not_trained() -> None:
    fixed = GoldLabel(WRONG.uid, WRONG.answers[0].hash, False, False, corrected_answer="Jupiter.")
    [example] = build_examples(
        [RIGHT, WRONG], {(WRONG.uid, WRONG.answers[0].hash): fixed}, (), NO_REPLAY
    )
    assert example.completion == "Jupiter."
    fine = GoldLabel(WRONG.uid, WRONG.answers[0].hash, True, True)
    assert (
        build_examples([RIGHT, WRONG], {(WRONG.uid, WRONG.answers[0].hash): fine}, (), NO_REPLAY)
        == []
    )


def test_without_a_right_answer_the_reference_is_written_as_one() -> None:
    [example] = build_examples([WRONG], {}, (), NO_REPLAY)
    assert example.completion == "Jupiter."


def test_weak_supervision_can_be_switched_off_and_unsure_failures_are_skipped() -> None:
    assert build_examples([RIGHT, WRONG], {}, (), DataOptions(weak=False, replay_weight=0)) == []
    unsure = variant("v1", "Neptune.", "fail", correct=False, confidence=0.7, prompt="Big?")
    assert build_examples([RIGHT, unsure], {}, (), NO_REPLAY) == []
    with pytest.raises(NoTrainingData, match=r"no training data.*nothing was trained"):
        require_examples([], DataOptions())


def test_held_out_variants_are_never_trained_on() -> None:
    held = held_out_operators(["casing", "typo", "punctuation", "synonym", "filler"])
    assert 0 < len(held) < 5
    by_op = variant("v2", "Neptune.", "fail", family="rule", operators=(held[0],), prompt="p?")
    assert not trainable(by_op, held)
    texts = [f"Which planet is biggest, version {i}?" for i in range(20)]
    assert {held_out_paraphrase(t) for t in texts} == {True, False}
    para = [variant("v3", "N.", "fail", family="paraphrase", prompt=t) for t in texts]
    assert all(trainable(p, held) != held_out_paraphrase(p.prompt) for p in para)


def test_export_records_are_what_trl_reads() -> None:
    [example] = build_examples([RIGHT, WRONG], {}, (), NO_REPLAY)
    sft, dpo = record(example, "sft"), record(example, "dpo")
    assert sft["completion"] == [{"role": "assistant", "content": "Jupiter is the largest."}]
    assert set(dpo) == {"prompt", "chosen", "rejected", "weight"}
    assert dpo["rejected"] == [{"role": "assistant", "content": "Neptune."}]


def test_an_interrupted_round_is_never_listed_and_is_cleaned(tmp_path: Path) -> None:
    partial = models.partial_dir(tmp_path)
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    assert models.rounds(tmp_path) == []  # no manifest, and a .partial- name
    final = models.models_dir(tmp_path) / "base-r1-abc"
    done = models.finish(partial, final, {"round": 1, "base": "base", "accepted": None})
    assert [r.path for r in models.rounds(tmp_path)] == [final]
    assert models.next_round(tmp_path, "base") == 2
    models.update_manifest(done, accepted=True)
    assert json.loads((final / "manifest.json").read_text())["accepted"] is True
    leftover = models.partial_dir(tmp_path)
    leftover.mkdir()
    assert models.clean_partials(tmp_path) == 1
    assert [p.name for p in models.models_dir(tmp_path).iterdir()] == ["base-r1-abc"]


def test_weights_change_the_loss() -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from stabtest.remediation.train import weighted_loss

    config = transformers.LlamaConfig(
        vocab_size=32,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    ids = torch.tensor([[1, 5, 6, 7, 8], [1, 9, 10, 11, 12]])
    labels = ids.clone()
    labels[:, :2] = -100  # the prompt is not trained on
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    with torch.no_grad():
        even, _ = weighted_loss(model, inputs, torch.tensor([1.0, 1.0]))
        first, _ = weighted_loss(model, inputs, torch.tensor([3.0, 1.0]))
        only_first, _ = weighted_loss(model, inputs, torch.tensor([1.0, 0.0]))
        only_second, _ = weighted_loss(model, inputs, torch.tensor([0.0, 1.0]))
    assert float(even) == pytest.approx((float(only_first) + float(only_second)) / 2, rel=1e-5)
    assert float(first) == pytest.approx((3 * float(only_first) + float(only_second)) / 4, rel=1e-5)
    assert float(first) != pytest.approx(float(even))


def test_replay_trains_on_the_models_own_right_answers_when_asked() -> None:
    plain = build_examples([RIGHT, WRONG], {}, (), NO_REPLAY)
    assert all(e.family != "replay" for e in plain)  # off by default
    examples = build_examples([RIGHT, WRONG], {}, (), DataOptions(replay_weight=0.5))
    replay = [e for e in examples if e.family == "replay"]
    assert [(e.prompt, e.completion, e.weight, e.rejected) for e in replay] == [
        ("Largest planet?", "Jupiter is the largest.", 0.5, None)
    ]
    untouched = variant("v0", "Jupiter.", "pass", correct=True)
    untouched = replace(untouched, uid="s.yaml::other[v0]", case_id="other")
    variants = [RIGHT, WRONG, untouched]
    mixed = build_examples(variants, {}, (), DataOptions(replay_weight=0.5))
    no_split = Roles(control_fraction=0, validation_fraction=0, retain_weight=0)
    kept = partition(mixed, variants, (), no_split)
    assert {case_of(e.uid) for e in kept.train} == {"s.yaml::planet"}  # "other": control
    assert kept.control == {"s.yaml::other"} and kept.treated == {"s.yaml::planet"}
    dpo = partition(mixed, variants, (), no_split, method="dpo")
    assert dpo.train and all(e.rejected is not None for e in dpo.train)
    with pytest.raises(NoTrainingData):  # replay alone is not a reason to train
        require_examples(replay, DataOptions())


def test_a_conversations_earlier_questions_count_as_trained() -> None:
    from stabtest.remediation.evaluate import trained_texts

    examples = [
        TrainingExample("What is  the capital?", "Paris."),
        TrainingExample(
            "Remind me?", "Paris.", history=(("Which city\nis the capital?", "Paris."),)
        ),
    ]
    assert trained_texts(examples) == {
        "What is the capital?",
        "Remind me?",
        "Which city is the capital?",  # read in training as the thread's first turn
    }
