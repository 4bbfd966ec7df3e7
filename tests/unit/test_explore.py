"""`stabtest explore`'s search on fake models: it finds the operator a model breaks on,
shrinks to it, keeps to its budget, stops when the original already fails, and replays
the last break from hypothesis's example database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stabtest.core.plan import GenerationRequest
from stabtest.core.settings import Settings
from stabtest.core.suite import Case
from stabtest.explore.search import Budget, Exploration, Explorer, edit_distance
from stabtest.generation.cache import Cache
from stabtest.generation.fake import FakeBackend
from stabtest.generation.generator import Generator
from stabtest.generation.lexical import LexicalEmbedder
from stabtest.session import Session
from stabtest.variants.perturb import _DISTRACTORS

FRANCE = Case(
    id="fr",
    prompt="What is the capital of France?",
    reference="Paris",
    incorrect=("Lyon",),
)
RIGHT = "The capital of France is Paris."


class Scripted(FakeBackend):
    """A fake model whose answer is a function of the prompt."""

    def __init__(self, rule: Callable[[str], str]):
        super().__init__()
        self.rule = rule

    def fingerprint(self) -> str:
        return "scripted"

    def answer(self, request: GenerationRequest) -> str:
        return self.rule(request.prompt)


def distracted(prompt: str) -> str:
    """Right unless an irrelevant sentence is in the prompt: only `distractor` breaks it."""
    return "It is Lyon." if any(s in prompt for s in _DISTRACTORS) else RIGHT


def session(tmp_path: Path, rule: Callable[[str], str], cache: Cache | None = None) -> Session:
    generator = Generator(Scripted(rule), cache=cache or Cache(":memory:"))
    settings = Settings(backend="fake", embedder="lexical", rootdir=str(tmp_path))
    return Session(settings, generator=generator, embedder=LexicalEmbedder())


def run(
    tmp_path: Path,
    rule: Callable[[str], str],
    case: Case = FRANCE,
    budget: Budget | None = None,
    **options: object,
) -> Exploration:
    options.setdefault("seed", 0)  # reproducible: no example database
    explorer = Explorer(
        session(tmp_path, rule),
        "suites/capitals.yaml",
        case,
        budget or Budget(max_generations=60),
        **options,  # type: ignore[arg-type]
    )
    return explorer.run()


def test_finds_the_breaking_operator_and_shrinks_to_it_alone(tmp_path: Path) -> None:
    result = run(tmp_path, distracted)
    assert result.status == "found" and result.finding is not None
    assert result.finding.operators == ("distractor",)
    assert result.finding.shrunk
    sentence = result.finding.text.replace(FRANCE.prompt, "").strip()
    assert sentence in _DISTRACTORS  # the question itself is untouched
    # Polished to the shortest sentence: every distractor breaks this model.
    assert len(sentence) == min(len(s) for s in _DISTRACTORS)
    assert result.finding.edit_distance == len(sentence) + 1
    assert result.finding.judged.answer == "It is Lyon."
    assert result.finding.judged.verdict.category == "hallucination"
    assert "Lyon" in result.finding.judged.why()
    assert result.original.answer == RIGHT and not result.original.breaks
    assert 1 <= result.usage.generations <= 60
    assert result.usage.candidates == result.usage.generations - 1  # + the original


def test_a_diverging_answer_breaks_a_case_without_reference(tmp_path: Path) -> None:
    open_case = Case(id="fr", prompt=FRANCE.prompt)

    def rule(prompt: str) -> str:
        return "I love gardening and long walks." if "friend" in prompt else RIGHT

    result = run(tmp_path, rule, open_case, operators=["distractor", "casing"])
    assert result.status == "found" and result.finding is not None
    assert result.finding.operators == ("distractor",)
    assert "friend" in result.finding.text
    assert result.finding.judged.verdict.category == "semantic_divergence"


def test_spent_generations_end_the_search_with_counts(tmp_path: Path) -> None:
    result = run(tmp_path, lambda prompt: RIGHT, budget=Budget(max_generations=5))
    assert result.status == "not_found" and result.finding is None
    usage = result.usage
    assert usage.exhausted == "generations"
    assert usage.generations == 5 and usage.candidates == 4  # the original took one
    assert usage.over_budget > 0 and usage.examples > usage.candidates


def test_spent_seconds_end_the_search(tmp_path: Path) -> None:
    ticks = iter(range(0, 10**6, 10))  # every look at the clock: 10 s later
    result = run(
        tmp_path,
        lambda prompt: RIGHT,
        budget=Budget(max_generations=50, max_seconds=35),
        clock=lambda: float(next(ticks)),
    )
    assert result.status == "not_found"
    assert result.usage.exhausted == "seconds"
    assert result.usage.generations < 50


def test_a_failing_original_is_not_explored(tmp_path: Path) -> None:
    result = run(tmp_path, lambda prompt: "It is Lyon.")
    assert result.status == "original_fails" and result.finding is None
    assert result.original.breaks and result.usage.examples == 0


def test_the_example_database_replays_the_last_break_first(tmp_path: Path) -> None:
    database = tmp_path / "explore"
    first = run(tmp_path, distracted, database_dir=database, seed=None)
    assert any(database.rglob("*")), "hypothesis saved the example"
    second = run(tmp_path, distracted, database_dir=database, seed=None)  # a fresh cache
    assert first.finding is not None and second.finding is not None
    assert second.finding.text == first.finding.text
    # The stored example first, then at most the polish's closer wording that broke.
    assert second.usage.candidates <= 2 and second.usage.generations <= 3
    assert second.usage.generations < first.usage.generations


def test_a_rerun_through_the_same_cache_and_database_generates_nothing(tmp_path: Path) -> None:
    cache, database = Cache(tmp_path / "cache.sqlite"), tmp_path / "explore"
    first = Explorer(session(tmp_path, distracted, cache), "s.yaml", FRANCE, database_dir=database)
    assert first.run().status == "found"
    again = Explorer(session(tmp_path, distracted, cache), "s.yaml", FRANCE, database_dir=database)
    result = again.run()
    assert result.status == "found"
    assert result.usage.generations == 0
    assert 1 <= result.usage.candidates == result.usage.cache_hits <= 2


def test_a_seeded_search_is_reproducible_and_stores_nothing(tmp_path: Path) -> None:
    database = tmp_path / "explore"
    runs = [run(tmp_path, distracted, database_dir=database, seed=7) for _ in range(2)]
    assert runs[0].finding is not None and runs[1].finding is not None
    assert runs[0].finding.text == runs[1].finding.text
    assert runs[0].usage.candidates == runs[1].usage.candidates
    assert not database.exists()


def test_bad_options_are_refused_before_any_generation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="typoo"):
        run(tmp_path, distracted, operators=["typoo"])
    with pytest.raises(ValueError, match="max generations"):
        Budget(max_generations=0)
    with pytest.raises(ValueError, match="max depth"):
        run(tmp_path, distracted, max_depth=0)


TALK = Case.model_validate(
    {
        "id": "talk",
        "turns": [
            {
                "prompt": "What is the capital of France?",
                "reference": "Paris",
                "incorrect": ["Lyon"],
            },
            {"prompt": "What river flows through it?"},
            {"prompt": "Remind me, what is the capital of France?", "recall": 1},
        ],
    }
)


class Threaded(FakeBackend):
    """Right at every turn, unless the thread opened with an irrelevant sentence: then
    the recall turn says Lyon (the opening answer itself stays right)."""

    def fingerprint(self) -> str:
        return "threaded"

    def answer(self, request: GenerationRequest) -> str:
        opening = request.history[0][0] if request.history else request.prompt
        if "river" in request.prompt:
            return "The Seine."
        if request.history and any(s in opening for s in _DISTRACTORS):
            return "It is Lyon."
        return RIGHT


def test_a_conversation_breaks_at_its_first_failing_turn(tmp_path: Path) -> None:
    generator = Generator(Threaded(), cache=Cache(":memory:"))
    settings = Settings(backend="fake", embedder="lexical", rootdir=str(tmp_path))
    stab = Session(settings, generator=generator, embedder=LexicalEmbedder())
    result = Explorer(stab, "s.yaml", TALK, Budget(max_generations=60), seed=0).run()
    assert result.status == "found" and result.finding is not None
    assert result.finding.operators == ("distractor",)
    judged = result.finding.judged
    assert (judged.turn, judged.answer) == (2, "It is Lyon.")  # the recall turn, 0-based
    assert judged.why().startswith("turn 3: ")
    assert result.original.turn == 0 and not result.original.breaks


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("", "", 0), ("abc", "abc", 0), ("abc", "abd", 1), ("abc", "ab", 1), ("kitten", "sitting", 3)],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == edit_distance(b, a) == distance


def test_a_candidate_the_backend_refuses_is_not_a_break(tmp_path: Path) -> None:
    backend = Scripted(distracted)
    backend.context = 6  # words: the original has 6, a distractor sentence adds more
    generator = Generator(backend, cache=Cache(":memory:"))
    settings = Settings(backend="fake", embedder="lexical", rootdir=str(tmp_path))
    searcher = Session(settings, generator=generator, embedder=LexicalEmbedder())
    explorer = Explorer(
        searcher, "s.yaml", FRANCE, Budget(max_generations=20), operators=["distractor", "casing"]
    )
    result = explorer.run()
    assert result.status == "not_found"
    assert explorer._refused and all(
        any(s in text for s in _DISTRACTORS) for text in explorer._refused
    )
