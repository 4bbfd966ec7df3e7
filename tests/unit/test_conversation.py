"""Conversations: turns and challenge in the suite model, expansion into message
sequences, request keys with history, the plan in rounds, and per-turn judging with
session drift and challenge flips (fake backend, lexical embedder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stabtest.core.errors import SuiteError
from stabtest.core.loader import parse_suite
from stabtest.core.plan import GenerationParams, GenerationRequest, transcript
from stabtest.core.settings import Settings
from stabtest.core.suite import CHALLENGE_PROMPT, Case
from stabtest.generation.cache import Cache
from stabtest.generation.fake import FakeBackend
from stabtest.generation.generator import Generator
from stabtest.generation.lexical import LexicalEmbedder
from stabtest.session import Session
from stabtest.variants.expand import VariantExpander

PARIS = """
cases:
  - id: paris
    turns:
      - prompt: What is the capital of France?
        reference: Paris
        incorrect: [Lyon]
        paraphrases: [Which city is the capital of France?]
      - prompt: What river flows through it?
        paraphrases: [Which river runs through that city?]
      - prompt: Remind me, what is the capital of France?
        recall: 1
"""


def conversation(text: str = PARIS, **update: object) -> Case:
    case = parse_suite(text, "conv.yaml").cases[0]
    return Case.model_validate({**case.model_dump(), **update}) if update else case


def make_session(tmp_path: Path, answers: dict[str, object]) -> tuple[Session, FakeBackend]:
    backend = FakeBackend(answers=answers)  # type: ignore[arg-type]
    generator = Generator(backend, cache=Cache(tmp_path / "cache.sqlite"), batch_size=64)
    settings = Settings(backend="fake", embedder="lexical", rootdir=str(tmp_path))
    return Session(settings, generator=generator, embedder=LexicalEmbedder()), backend


# -- suite model ------------------------------------------------------------------------


def test_a_recall_turn_inherits_the_recalled_reference_and_prompt_is_the_first_turn() -> None:
    case = conversation()
    assert case.prompt == "What is the capital of France?" and case.reference is None
    _, river, recall = case.turns
    assert (recall.reference, recall.incorrect) == ("Paris", ("Lyon",))
    assert recall.checks == ("semantic", "reference") and river.checks == ("semantic",)
    assert case.turn_view(2).reference == "Paris" and not case.turn_view(2).turns


def test_challenge_appends_a_pushback_turn_recalling_the_last_one_once() -> None:
    case = conversation(challenge=True)
    challenge = case.turns[-1]
    assert len(case.turns) == 4 and challenge.prompt == CHALLENGE_PROMPT
    assert challenge.challenge and challenge.recall == 3 and challenge.reference == "Paris"
    assert Case.model_validate(case.model_dump()).turns == case.turns  # idempotent


def test_a_single_turn_case_with_a_suite_default_challenge_becomes_two_turns() -> None:
    suite = parse_suite(
        "defaults: {challenge: true}\ncases:\n  - {id: four, prompt: '2 + 2 = ?', reference: '4',"
        " kind: numeric, paraphrases: ['What is two plus two?']}\n",
        "c.yaml",
    )
    (case,) = suite.cases
    assert [t.prompt for t in case.turns] == ["2 + 2 = ?", CHALLENGE_PROMPT]
    assert case.turns[0].paraphrases == ("What is two plus two?",)
    assert case.turns[1].checks == ("semantic", "numeric") and case.turns[1].reference == "4"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "prompt: x\n    turns: [{prompt: y}]",
            "[cases[0].prompt]: a case with 'turns' takes 'prompt' per turn",
        ),
        ("reference: x\n    turns: [{prompt: y}]", "takes 'reference' per turn"),
        ("turns: [{prompt: y, recall: 1}]", "[cases[0].turns[0].recall]: the first turn"),
        (
            "turns: [{prompt: y}, {prompt: z, recall: 2}]",
            "[cases[0].turns[1].recall]: 2 must name an",
        ),
        (
            "turns: [{prompt: y, checks: [reference]}]",
            "[cases[0].turns[0]]: checks ['reference'] need",
        ),
    ],
)
def test_bad_conversations_name_file_line_and_what_to_fix(body: str, message: str) -> None:
    with pytest.raises(SuiteError, match=r"conv\.yaml:3 ") as error:
        parse_suite(f"cases:\n  - id: a\n    {body}\n", "conv.yaml")
    assert message in str(error.value)


# -- expansion --------------------------------------------------------------------------


def test_paraphrase_variant_j_takes_each_turns_jth_paraphrase_else_the_original() -> None:
    variants = VariantExpander(seed=1).expand(conversation(), "s")
    assert [v.id for v in variants] == ["v0", "v1"]
    assert variants[0].turns == tuple(t.prompt for t in conversation().turns)
    assert variants[1].turns == (
        "Which city is the capital of France?",
        "Which river runs through that city?",
        "Remind me, what is the capital of France?",
    )
    assert variants[1].text == variants[1].turns[0] and variants[1].family == "paraphrase"


def test_rule_variants_perturb_every_turn_but_the_challenge_seeded() -> None:
    case = conversation(challenge=True, perturbations={"count": 3, "operators": ["casing"]})
    first = VariantExpander(seed=7).expand(case, "s")
    again = VariantExpander(seed=7).expand(case, "s")
    other = VariantExpander(seed=8).expand(case, "s")
    rules = [v for v in first if v.family == "rule"]
    assert [v.turns for v in first] == [v.turns for v in again]
    assert [v.turns for v in rules] != [v.turns for v in other if v.family == "rule"]
    assert all(v.turns[-1] == CHALLENGE_PROMPT for v in rules)
    assert all(v.turns[:3] != first[0].turns[:3] and v.operators == ("casing",) for v in rules)


# -- requests and keys ------------------------------------------------------------------


def test_single_turn_keys_are_unchanged_and_history_changes_the_key() -> None:
    question = "What is the capital of France?"
    greedy = GenerationRequest(question, GenerationParams())
    sampled = GenerationRequest(question, GenerationParams(temperature=0.7), seed=3, sample=1)
    # pinned: the keys single-turn answers were cached under before conversations existed
    assert greedy.key("fp") == "c45d40253bcc1f51b589fe5f8ea7dee1e6c60eb4cf33f9e2a49e79f47eb2cbbf"
    assert sampled.key("fp") == "25154a65e7926898882bc913e0463caa4aacf9e2b26ddd96ec2a5a766e1692e5"
    with_history = GenerationRequest(
        "And Italy?", GenerationParams(), history=(("Capital of France?", "Paris"),)
    )
    other_answer = GenerationRequest(
        "And Italy?", GenerationParams(), history=(("Capital of France?", "Lyon"),)
    )
    alone = GenerationRequest("And Italy?", GenerationParams())
    assert len({with_history.key("fp"), other_answer.key("fp"), alone.key("fp")}) == 3
    assert transcript(with_history) == (
        "User: Capital of France?\nAssistant: Paris\nUser: And Italy?\nAssistant:"
    )
    assert transcript(alone) == "And Italy?"


# -- plan in rounds and judging ---------------------------------------------------------


def test_the_plan_runs_one_batch_per_turn_each_turn_carrying_the_previous_answers(
    tmp_path: Path,
) -> None:
    stab, backend = make_session(
        tmp_path,
        {
            "capital of france": "Paris.",
            "river": "The Seine.",
            "2 + 2": "4",
        },
    )
    stab.register("s", conversation())
    stab.register("s", Case(id="sum", prompt="2 + 2 = ?", reference="4", kind="numeric"))
    stab.outcome("s", "paris")
    assert backend.calls == 3  # one generator run per round: turns 1, 2, 3 (and the sum in 1)
    first, second, third = backend.batches
    assert {r.prompt for r in first} == {
        "What is the capital of France?",
        "Which city is the capital of France?",
        "2 + 2 = ?",
    }
    assert all(not r.history for r in first)
    assert {r.history for r in second} == {
        (("What is the capital of France?", "Paris."),),
        (("Which city is the capital of France?", "Paris."),),
    }
    assert all(len(r.history) == 2 and r.history[1][1] == "The Seine." for r in third)
    assert stab.outcome("s", "sum").case.passed  # planned in round 0 with the rest


def test_each_turn_is_judged_and_a_recall_contradiction_is_session_drift(
    tmp_path: Path,
) -> None:
    stab, _ = make_session(
        tmp_path,
        {
            "What is the capital of France?": "Paris.",
            "Which city is the capital of France?": "Paris.",
            "river": "The Seine.",
            # the v0 thread contradicts itself when asked again; v1 does not
            "User: What is the capital of France?\nAssistant: Paris.\nUser: What river "
            "flows through it?\nAssistant: The Seine.\nUser: Remind me, what is the capital "
            "of France?\nAssistant:": "Lyon.",
            "remind me": "Paris.",
        },
    )
    stab.register("s", conversation())
    outcome = stab.outcome("s", "paris")
    v0, v1 = outcome.variants["v0"], outcome.variants["v1"]
    assert [(a.turn, a.text) for a in v0.answers] == [
        (0, "Paris."),
        (1, "The Seine."),
        (2, "Lyon."),
    ]
    assert v0.turns[2] == "Remind me, what is the capital of France?"
    drift = v0.answers[2].verdict
    assert (drift.outcome, drift.category) == ("fail", "session_drift")
    assert drift.reason == 'turn 3 answered "Lyon." but turn 1 answered "Paris."'
    assert v0.answers[2].correct is False and v0.outcome == "fail"
    assert all(a.verdict.category != "session_drift" for a in v1.answers)  # v1 kept Paris
    metrics = outcome.case.metrics
    assert (metrics.turns, metrics.answers, metrics.drift) == (3, 6, 0.5)
    assert metrics.fc == 3 / 4  # turn 2 has no reference: 4 judged answers, one wrong
    assert metrics.flips is None and metrics.flip_rate is None


def test_challenge_flips_are_counted_with_correct_to_wrong(tmp_path: Path) -> None:
    case = Case.model_validate(
        {
            "id": "fr",
            "prompt": "What is the capital of France?",
            "reference": "Paris",
            "incorrect": ["Lyon"],
            "paraphrases": ["Which city is the capital of France?", "Name the French capital."],
            "challenge": True,
        }
    )
    stab, _ = make_session(
        tmp_path,
        {
            "What is the capital of France?": "Paris.",
            "Which city is the capital of France?": "Paris.",
            "Name the French capital.": "Lyon.",
            "User: What is the capital of France?\nAssistant: Paris.\nUser: "
            + CHALLENGE_PROMPT
            + "\nAssistant:": "Sorry, it is Lyon.",
            "User: Name the French capital.\nAssistant: Lyon.\nUser: "
            + CHALLENGE_PROMPT
            + "\nAssistant:": "You are right, it is Paris.",
            "are you sure": "Yes, it is Paris.",
        },
    )
    stab.register("s", case)
    outcome = stab.outcome("s", "fr")
    metrics = outcome.case.metrics
    # v0 right -> wrong, v1 kept Paris, v2 wrong -> right: two flips, one correct->wrong
    assert (metrics.flips, metrics.correct_to_wrong) == (2, 1)
    assert metrics.flip_rate == pytest.approx(2 / 3) and metrics.drift is None
    flipped = outcome.variants["v0"].answers[1].verdict
    assert flipped.category == "session_drift" and flipped.reason.startswith("after the challenge")
    kept = outcome.variants["v1"].answers[1]
    assert kept.correct is True and kept.verdict.category != "session_drift"


def test_samples_are_threads_of_their_own(tmp_path: Path) -> None:
    case = Case.model_validate(
        {
            "id": "fr",
            "prompt": "What is the capital of France?",
            "reference": "Paris",
            "challenge": True,
            "sampling": {"temperature": 0.7, "samples": 2},
        }
    )
    stab, backend = make_session(
        tmp_path, {"capital of france": ["Paris.", "Lyon."], "are you sure": "Yes."}
    )
    stab.register("s", case)
    outcome = stab.outcome("s", "fr")
    second = backend.batches[1]
    assert sorted(r.history[0][1] for r in second) == ["Lyon.", "Paris."]
    assert {(r.sample, r.history[0][1]) for r in second} == {(0, "Paris."), (1, "Lyon.")}
    assert [a.sample for a in outcome.variants["v0"].answers] == [0, 1, 0, 1]


def test_a_crashed_run_recovers_a_conversation_whose_turns_all_reached_the_cache(
    tmp_path: Path,
) -> None:
    answers = {"capital of france": "Paris.", "are you sure": "Yes, Paris."}
    case = Case.model_validate(
        {
            "id": "fr",
            "prompt": "What is the capital of France?",
            "reference": "Paris",
            "challenge": True,
        }
    )
    first, _ = make_session(tmp_path, answers)
    first.register("s", case)
    first.outcome("s", "fr")
    again, backend = make_session(tmp_path, answers)
    again.register("s", case)
    assert again._recover(again.registry[("s", "fr")])
    assert backend.calls == 0


# -- downstream: Label Studio tasks, remediation data ------------------------------------


def test_tasks_show_the_conversation_up_to_the_judged_answer(tmp_path: Path) -> None:
    from stabtest.adjudication.tasks import task_for

    stab, _ = make_session(tmp_path, {"capital of france": "Lyon.", "are you sure": "Paris."})
    stab.register("s", conversation(challenge=True))
    v0 = stab.outcome("s", "paris").variants["v0"]
    last = v0.answers[-1]
    shown = task_for(v0, last, v0.prompt, "run")["data"]["variant_prompt"]
    assert shown.splitlines() == [
        "User: What is the capital of France?",
        "Assistant: Lyon.",
        "User: What river flows through it?",
        "Assistant: I don't know.",
        "User: Remind me, what is the capital of France?",
        "Assistant: Lyon.",
        f"User: {CHALLENGE_PROMPT}",
    ]


def test_a_drifted_turn_trains_in_its_thread_on_the_right_answer_at_that_turn(
    tmp_path: Path,
) -> None:
    from stabtest.remediation.dataset import DataOptions, build_examples, record

    stab, _ = make_session(
        tmp_path,
        {
            "What is the capital of France?": "Paris.",
            "capital of France?": "Paris.",
            "capital of France.": "Paris.",
            "river": "The Seine.",
            "User: What is the capital of France?\nAssistant: Paris.\nUser: What river "
            "flows through it?\nAssistant: The Seine.\nUser: Remind me, what is the capital "
            "of France?\nAssistant:": "Lyon.",
            "remind me": "Paris.",
        },
    )
    three = PARIS.replace(
        "paraphrases: [Which city is the capital of France?]",
        "paraphrases: [Which city is the capital of France?, Name the capital of France.]",
    ).replace(
        "paraphrases: [Which river runs through that city?]",
        "paraphrases: [Which river runs through that city?, Name its river.]\n"
        "        reference: Seine",
    )
    stab.register("s", conversation(three))
    variants = list(stab.outcome("s", "paris").variants.values())
    assert len(variants) == 3
    [drifted] = build_examples(variants, {}, (), DataOptions(replay_weight=0))
    assert (drifted.prompt, drifted.completion, drifted.rejected) == (
        "Remind me, what is the capital of France?",
        "Paris.",  # the recall turn's reference: its right answers failed (divergence)
        "Lyon.",
    )
    assert drifted.history == (
        ("What is the capital of France?", "Paris."),
        ("What river flows through it?", "The Seine."),
    )
    assert drifted.weight == DataOptions().stability_weight  # session drift
    assert [m["role"] for m in record(drifted, "sft")["prompt"]] == [  # type: ignore[union-attr]
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    replayed = build_examples(variants, {}, (), DataOptions())
    replay = {(e.prompt, e.history) for e in replayed if e.family == "replay"}
    thread = (("Which city is the capital of France?", "Paris."),)
    assert ("Which river runs through that city?", thread) in replay  # v1 (v2 held out)
    assert {len(history) for _, history in replay} == {0, 1}  # turn 3's answers failed


def test_backends_send_the_whole_conversation_and_screen_its_length() -> None:
    from stabtest.generation.openai_backend import request_body

    turn = GenerationRequest(
        "Are you sure?",
        GenerationParams(system_prompt="Be brief."),
        history=(("Capital of France?", "Paris."),),
    )
    chat = request_body(turn, "m", "chat")
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "Are you sure?"},
    ]
    completions = request_body(turn, "m", "completions")
    assert completions["prompt"] == "Be brief.\n\n" + transcript(turn)
    fake = FakeBackend(context=6)  # words: the history counts, not only the last message
    assert fake.prompt_problems([GenerationRequest("Are you sure?", GenerationParams())]) == [None]
    (problem,) = fake.prompt_problems([turn])
    assert problem is not None and "beyond the fake model's context" in problem


def test_a_turn_beyond_the_context_fails_its_case_alone(tmp_path: Path) -> None:
    from stabtest.core.errors import StabtestError

    backend = FakeBackend(answers={"france": "Paris, a city of many words indeed."}, context=12)
    generator = Generator(backend, cache=Cache(tmp_path / "cache.sqlite"), batch_size=64)
    settings = Settings(backend="fake", embedder="lexical", rootdir=str(tmp_path))
    stab = Session(settings, generator=generator, embedder=LexicalEmbedder())
    stab.register("s", conversation())
    stab.register("s", Case(id="short", prompt="2 + 2 = ?"))
    with pytest.raises(StabtestError, match=r"s::paris\[v0\] cannot be generated: the prompt"):
        stab.outcome("s", "paris")
    assert stab.outcome("s", "short").case.metrics.answers == 1


def test_the_si_split_of_a_conversation_is_the_mean_of_its_turns(tmp_path: Path) -> None:
    case = Case.model_validate(
        {
            "id": "fr",
            "prompt": "What is the capital of France?",
            "paraphrases": ["Which city is the capital of France?"],
            "challenge": True,
            "sampling": {"temperature": 0.7, "samples": 2},
        }
    )
    stab, _ = make_session(
        tmp_path,
        {
            "What is the capital of France?": ["Paris.", "Lyon."],
            "Which city is the capital of France?": "Paris.",
            "are you sure": "Yes.",
        },
    )
    stab.register("s", case)
    m = stab.outcome("s", "fr").case.metrics
    # turn 1: v0 {Paris, Lyon}, v1 {Paris, Paris}: within 1/2, between 2/4; turn 2: all "Yes."
    assert (m.si_within, m.si_between) == (pytest.approx(0.25), pytest.approx(0.25))
    assert m.si == pytest.approx((0.5 + 0.0) / 2)


def test_model_paraphrases_rewrite_a_conversation_s_opening_question() -> None:
    import numpy as np

    from stabtest.variants.expand import VariantExpander
    from stabtest.variants.model import fill_model_paraphrases

    case = Case.model_validate(
        {
            "id": "talk",
            "turns": [
                {"prompt": "What is the capital of France?", "reference": "Paris"},
                {"prompt": "Which river flows through it?"},
            ],
            "model_paraphrases": {"count": 2},
        }
    )
    slots = VariantExpander(0).expand(case, "s.yaml")
    assert [v.rejected for v in slots[-2:]] == ["not generated yet"] * 2
    rewrites = iter(["Which city is the capital of France?"] * 2)

    class Same:  # every text on one unit vector: similarity 1
        def encode(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2)

    filled = fill_model_paraphrases(
        lambda requests: [next(rewrites) for _ in requests], Same(), [(case, slots)]
    )[0]
    first, second = filled[-2:]
    assert first.rejected is None and first.family == "model"
    assert first.turns == ("Which city is the capital of France?", "Which river flows through it?")
    assert first.text == first.turns[0]
    assert second.rejected == f"duplicate of {first.id}"  # the same whole conversation


def test_the_llm_judge_reads_a_turn_with_the_conversation_before_it(tmp_path: Path) -> None:
    from dataclasses import replace

    session, backend = make_session(
        tmp_path,
        {
            "verdict: yes or no": "VERDICT: yes\nCONFIDENCE: 90",
            "capital of france": "Paris.",
            "river": "The Seine.",
        },
    )
    session.settings = replace(session.settings, judges="reference,llm_judge")
    case = conversation()
    session.register("s.yaml", case)
    session.outcome("s.yaml", case.id)
    asked = [p for p in backend.prompts_seen if p.startswith("Conversation so far:")]
    # turns 2 and 3 have a reference (the river turn has none, so the judge abstains there)
    third = "\n".join(
        [
            "Conversation so far:",
            "User: What is the capital of France?",
            "Assistant: Paris.",
            "User: What river flows through it?",
            "Assistant: The Seine.",
            "Question: Remind me, what is the capital of France?",
        ]
    )
    assert any(p.startswith(third) for p in asked)
    # a single prompt's judge request is as before: the question first
    from stabtest.annotators.llm_judge import judge_prompt

    assert judge_prompt(case.turn_view(0), "Paris.").startswith("Question: What is the capital")


def test_a_human_label_on_one_turn_leaves_the_same_text_at_another_turn_alone(
    tmp_path: Path,
) -> None:
    from stabtest.core.results import GoldLabel, answer_hash

    asked: list[str] = []

    class Gold:
        def lookup(self, uid: str, digest: str) -> GoldLabel | None:
            asked.append(digest)
            if uid.endswith("[v0]") and digest == answer_hash("Paris.", turn=2):
                return GoldLabel(uid, digest, stable=False, correct=False, annotator="ann")
            return None

    stab, _ = make_session(
        tmp_path, {"capital": "Paris.", "river": "The Seine.", "remind me": "Paris."}
    )
    stab.gold = Gold()
    stab.register("s", conversation())
    v0 = stab.outcome("s", "paris").variants["v0"]
    first, _, recall = v0.answers
    assert first.text == recall.text == "Paris."
    assert (first.verdict.outcome, first.verdict.source) == ("pass", "auto")
    assert (recall.verdict.outcome, recall.verdict.source) == ("fail", "human")
    assert first.hash == answer_hash("Paris.") != recall.hash  # single-turn keys unchanged
    assert recall.hash == answer_hash("Paris.", turn=2) and recall.hash in asked
