"""The plan file: threads and grading work round-trip, duplicates go, a cut or bad file
is refused naming the file (and the line); blocks count a thread's turns; following a
conversation through the cache; answering what is left, turn by turn, in the session's
keys; the LLM judge's requests built from cached answers, as the judge builds them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from stabtest.core.plan import GenerationParams
from stabtest.core.plan_file import (
    PlanFileError,
    PlanHeader,
    Thread,
    blocks,
    iter_plan,
    read_counts,
    read_header,
    write_plan,
)
from stabtest.generation.fake import FakeBackend
from stabtest.generation.threads import Pending, answer_pending, resolve_cached

GREEDY = GenerationParams()
SAMPLED = GenerationParams(temperature=0.7)
HEADER = PlanHeader("fake:1", "fake", None, cache_dir="/tmp/x")


def test_a_plan_round_trips_threads_and_texts(tmp_path: Path) -> None:
    threads = [
        Thread(("Capital of France?",), GREEDY),
        Thread(("Capital of Italy?", "And its river?"), SAMPLED, seed=7, sample=2),
    ]
    path = tmp_path / "plan.jsonl"
    counts = write_plan(path, HEADER, threads, ["Paris", "Rome"])
    assert (counts.threads, counts.requests, counts.texts) == (2, 3, 2)
    assert read_header(path) == HEADER
    assert read_counts(path) == counts
    assert list(iter_plan(path)) == [*threads, "Paris", "Rome"]


def test_duplicates_go_and_a_greedy_thread_ignores_seed_and_sample(tmp_path: Path) -> None:
    path = tmp_path / "plan.jsonl"
    threads = [
        Thread(("Q?",), GREEDY, seed=1, sample=0),
        Thread(("Q?",), GREEDY, seed=2, sample=1),  # the same greedy answer
        Thread(("Q?",), SAMPLED, seed=1, sample=0),
        Thread(("Q?",), SAMPLED, seed=1, sample=1),  # another sample: another answer
        Thread(("Q?",), SAMPLED, seed=1, sample=1),
    ]
    counts = write_plan(path, HEADER, threads, ["a", "a", "b"])
    assert (counts.threads, counts.texts) == (3, 2)
    assert [item for item in iter_plan(path) if isinstance(item, Thread)] == [
        threads[0],
        threads[2],
        threads[3],
    ]


def test_a_plan_cut_short_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.jsonl"
    write_plan(path, HEADER, [Thread((f"Q{i}?",), GREEDY) for i in range(5)])
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    with pytest.raises(PlanFileError, match=rf"{path}.*incomplete"):
        read_counts(path)
    with pytest.raises(PlanFileError, match=rf"{path}:6: the plan is incomplete"):
        list(iter_plan(path))


def test_a_bad_line_is_named_by_its_number(tmp_path: Path) -> None:
    path = tmp_path / "plan.jsonl"
    write_plan(path, HEADER, [Thread(("Q1?",), GREEDY), Thread(("Q2?",), GREEDY)])
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = '{"m": [], "p": {}, "s": 0, "n": 0}\n'
    path.write_text("".join(lines))
    with pytest.raises(PlanFileError, match=rf"{path}:3: bad thread"):
        list(iter_plan(path))
    path.write_text('{"hello": 1}\n')
    with pytest.raises(PlanFileError, match=rf"{path}:1: not a stabtest plan"):
        read_header(path)
    with pytest.raises(PlanFileError, match="cannot read the plan"):
        read_header(tmp_path / "missing.jsonl")


def test_blocks_count_each_turn_and_stream() -> None:
    items: list[Thread | str] = [
        Thread(("a", "b", "c"), GREEDY),
        Thread(("d",), GREEDY),
        Thread(("e", "f"), GREEDY),
        "ref",
    ]
    sizes = [(len(threads), len(texts)) for threads, texts in blocks(items, 4)]
    assert sizes == [(2, 0), (1, 1)]


def lookup(stored: dict[str, str]) -> Callable[[Sequence[str]], dict[str, str]]:
    return lambda keys: {key: stored[key] for key in keys if key in stored}


CONVERSATION = Thread(("Capital of France?", "Its river?", "Capital again?"), GREEDY)
ANSWERS = {"capital": "Paris.", "river": "The Seine."}


def test_answering_a_conversation_turn_by_turn_then_finding_it_cached() -> None:
    backend = FakeBackend(ANSWERS)
    fingerprint = backend.fingerprint()
    block = answer_pending(backend, fingerprint, [Pending(CONVERSATION)], batch_size=8)
    assert block.error is None
    assert [text for *_, text in block.rows] == ["Paris.", "The Seine.", "Paris."]
    # the keys are the turns' requests with the earlier answers as history
    last = CONVERSATION.request(["Paris.", "The Seine."])
    assert block.rows[-1][0] == last.key(fingerprint)
    assert backend.calls == 3  # one round per turn

    stored = {key: text for key, _, text in block.rows}
    pending, found = resolve_cached([CONVERSATION], fingerprint, lookup(stored))
    assert pending == [] and len(found) == 3
    # two turns stored: the third is what is left, with the first two known
    partial = dict(list(stored.items())[:2])
    pending, found = resolve_cached([CONVERSATION], fingerprint, lookup(partial))
    assert pending == [Pending(CONVERSATION, ("Paris.", "The Seine."))]
    rest = answer_pending(backend, fingerprint, pending, batch_size=8)
    assert [key for key, *_ in rest.rows] == [last.key(fingerprint)]


def test_a_failing_backend_ends_the_block_with_what_was_answered() -> None:
    class Failing(FakeBackend):
        def generate(self, requests):  # type: ignore[no-untyped-def]
            if any(r.history for r in requests):
                raise RuntimeError("the GPU fell over")
            return super().generate(requests)

    backend = Failing(ANSWERS)
    block = answer_pending(backend, backend.fingerprint(), [Pending(CONVERSATION)], None)
    assert block.error == "RuntimeError: the GPU fell over"
    assert [text for *_, text in block.rows] == ["Paris."]


def test_the_params_dict_in_every_key_is_the_dataclass_dict() -> None:
    from dataclasses import asdict

    params = GenerationParams(
        temperature=0.3, top_p=0.9, max_new_tokens=7, system_prompt="Be brief."
    )
    assert params.as_dict() == asdict(params)  # the cache keys did not move


def test_grading_work_round_trips_after_the_threads_and_is_counted(tmp_path: Path) -> None:
    from stabtest.core.plan_file import Grading, GradingWork, iter_gradings

    thread = Thread(("Capital of Italy?", "And its river?"), SAMPLED, seed=7, sample=2)
    work = GradingWork(
        ((0, Grading("Capital of Italy?", "Rome", ("Roma",), ("Milan",))),), GREEDY, (thread,)
    )
    judged = PlanHeader("fake:1", "fake", None, judge={"fingerprint": "fake:2", "backend": "fake"})
    path = tmp_path / "plan.jsonl"
    counts = write_plan(path, judged, [thread], ["Rome"], [work, work])
    assert counts.gradings == 2
    assert list(iter_plan(path)) == [thread, "Rome"]  # the threads' pass skips gradings
    assert list(iter_gradings(path)) == [work, work]
    judge = read_header(path).judge_header()
    assert judge is not None and (judge.fingerprint, judge.backend) == ("fake:2", "fake")
    assert HEADER.judge_header() is None

    lines = path.read_text().splitlines(keepends=True)
    bad = lines[-2].replace('"turn": 0', '"turn": "x"')
    (tmp_path / "bad.jsonl").write_text("".join(lines[:-2]) + bad + lines[-1])
    with pytest.raises(PlanFileError, match=r"bad.jsonl:5: bad grading"):
        list(iter_gradings(tmp_path / "bad.jsonl"))


def test_the_grading_prompt_is_the_judges_own_prompt() -> None:
    from stabtest.annotators.llm_judge import grading_prompt, judge_prompt
    from stabtest.core.plan_file import Grading
    from stabtest.core.suite import Case

    case = Case(
        id="c",
        prompt="Capital  of Italy?",
        reference="Rome",
        aliases=("Roma",),
        incorrect=("Milan",),
    )
    history = (("Hi", "Hello."),)
    grading = Grading(case.prompt, "Rome", case.aliases, case.incorrect)
    assert grading_prompt(grading, "It is Rome.", history) == judge_prompt(
        case, "It is Rome.", history
    )


def test_grading_threads_ask_the_judge_about_each_cached_answer_once() -> None:
    from stabtest.annotators.llm_judge import JUDGE_PARAMS, grading_prompt
    from stabtest.core.plan_file import Grading, GradingWork
    from stabtest.scale.execute import grading_threads

    chat = Thread(("Capital of France?", "Remind me?"), GREEDY)
    other = Thread(("Which city is the capital of France?", "Remind me?"), GREEDY)
    unanswered = Thread(("Never asked?", "Remind me?"), GREEDY)
    answers = {
        chat.request([]).key("fp"): "Paris.",
        chat.request(["Paris."]).key("fp"): "Paris!",
        other.request([]).key("fp"): "Paris.",
        other.request(["Paris."]).key("fp"): "Paris!",
    }
    grading = Grading("Capital of France?", "Paris")
    first = GradingWork(((0, grading),), JUDGE_PARAMS, (chat, other, unanswered))
    second = GradingWork(((1, grading),), JUDGE_PARAMS, (chat, other, unanswered))
    lookup = lambda keys: {k: answers[k] for k in keys if k in answers}  # noqa: E731
    asks = grading_threads([first, second], "fp", lookup)
    both = GradingWork(((0, grading), (1, grading)), JUDGE_PARAMS, (chat, other, unanswered))
    assert grading_threads([both], "fp", lookup) == asks  # one line per case, same requests
    prompts = [t.messages[0] for t in asks]
    assert prompts == [
        grading_prompt(grading, "Paris."),  # both threads' turn 0 said it: asked once
        grading_prompt(grading, "Paris!", (("Capital of France?", "Paris."),)),
        grading_prompt(grading, "Paris!", (("Which city is the capital of France?", "Paris."),)),
    ]
    assert all(t.params == JUDGE_PARAMS for t in asks)
