"""Progress reporting: when a stage's progress is shown (pure, with a fake clock), how it
reads, and what the generator and the session report."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from stabtest.core.progress import Pace, describe, duration
from stabtest.core.settings import Settings
from stabtest.generation.cache import Cache
from stabtest.generation.fake import FakeBackend
from stabtest.generation.generator import Generator
from stabtest.generation.lexical import LexicalEmbedder
from stabtest.pytest_plugin.progress import display_mode
from stabtest.session import Session
from tests.unit.test_session import FRANCE

Calls = list[tuple[str, int, int]]


def shown(pace: Pace, updates: list[tuple[int, int, float]]) -> list[int]:
    """The `done` values of the updates that were due."""
    pace.start(0.0)
    return [done for done, total, now in updates if pace.due(done, total, now)]


def test_a_log_shows_each_tenth_once_however_many_batches() -> None:
    updates = [(done, 955, 0.0) for done in range(956)]  # one batch per answer, instantly
    assert shown(Pace(delay=0, interval=60, steps=10), updates) == [
        0,
        96,
        191,
        287,
        382,
        478,
        573,
        669,
        764,
        860,
        955,
    ]


def test_short_work_shows_nothing_and_long_work_waits_for_its_next_tenth() -> None:
    quick = [(done, 10, done * 0.1) for done in range(11)]  # all of it within the delay
    assert shown(Pace(delay=2, interval=60, steps=10), quick) == []
    # Fifths of 10 units, 0.75 s each: past the delay at done=3, in the fifth that done=2
    # began, so the first line waits for the next fifth.
    slow = [(done, 10, done * 0.75) for done in range(11)]
    assert shown(Pace(delay=2, interval=60, steps=5), slow) == [4, 6, 8, 10]


def test_a_slow_tenth_gets_a_heartbeat_and_the_end_follows_what_was_shown() -> None:
    # 1000 units, one per second: a tenth takes 100 s, so the heartbeat (60 s) shows too.
    updates = [(done, 1000, float(done)) for done in range(0, 1001, 20)]
    due = shown(Pace(delay=2, interval=60, steps=10), updates)
    assert due[:4] == [60, 100, 160, 200]  # 60 s after the start, a tenth, 60 s, a tenth
    assert due[-1] == 1000
    assert all(b - a <= 100 for a, b in itertools.pairwise(due))


def test_a_live_line_is_redrawn_at_its_rate_and_not_per_batch() -> None:
    updates = [(done, 1000, done * 0.01) for done in range(1001)]  # 10 s in all
    due = shown(Pace(delay=0.5, interval=0.2, steps=None), updates)
    assert due[0] == 50  # 0.5 s in
    assert 40 <= len(due) <= 50  # about five a second over 9.5 s, never one per batch


def test_the_status_line_says_what_how_far_how_long_and_how_long_still() -> None:
    assert describe("generating", 0, 955, 0.0) == "generating 0/955 answers (0%)"
    assert (
        describe("generating", 320, 955, 41.0)
        == "generating 320/955 answers (34%), 41 s, ~1 min 21 s left"
    )
    assert describe("embedding", 512, 512, 3.25) == "embedding 512/512 texts (100%), 3.2 s"
    assert describe("pushing", 1, 4, 12.0) == "pushing 1/4 (25%), 12 s, ~36 s left"
    assert [duration(s) for s in (0.04, 9.94, 59.6, 126, 3900)] == [
        "0.0 s",
        "9.9 s",
        "1 min 0 s",
        "2 min 6 s",
        "1 h 5 min",
    ]


@pytest.mark.parametrize(
    ("setting", "interactive", "verbosity", "mode"),
    [
        ("auto", True, 0, "live"),
        ("auto", True, -1, "live"),  # -q: the live line leaves nothing behind
        ("auto", False, 0, "log"),
        ("auto", False, 1, "log"),
        ("auto", False, -1, None),  # -q in a log: no lines
        ("always", False, -1, "log"),
        ("never", True, 0, None),
        ("never", False, 2, None),
    ],
)
def test_the_display_mode_follows_setting_terminal_and_verbosity(
    setting: str, interactive: bool, verbosity: int, mode: str | None
) -> None:
    assert display_mode(setting, interactive=interactive, verbosity=verbosity) == mode


def test_the_generator_reports_batches_of_what_it_generates_only(tmp_path: Path) -> None:
    from stabtest.core.plan import GenerationParams, GenerationRequest

    calls: Calls = []
    cache = Cache(tmp_path / "cache.sqlite")
    generate = Generator(
        FakeBackend(), cache=cache, batch_size=2, progress=lambda *call: calls.append(call)
    )
    params = GenerationParams(temperature=0.7)
    requests = [GenerationRequest(f"prompt {i}", params) for i in range(5)]
    generate(requests[:2], stage="paraphrasing")
    assert calls == [("paraphrasing", 0, 2), ("paraphrasing", 2, 2)]
    calls.clear()
    generate(requests)  # two cached, three to generate in two batches
    assert calls == [("generating", 0, 3), ("generating", 2, 3), ("generating", 3, 3)]
    calls.clear()
    generate(requests)  # all cached: nothing to report
    assert calls == []


def test_the_session_reports_generating_and_embedding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stabtest.session

    monkeypatch.setattr(stabtest.session, "EMBED_CHUNK", 1)
    calls: Calls = []

    def progress(stage: str, done: int, total: int) -> None:
        calls.append((stage, done, total))

    settings = Settings(backend="fake", embedder="lexical", rootdir=str(tmp_path))
    answers = {"france": "The capital of France is Paris."}
    generator = Generator(FakeBackend(answers=answers), batch_size=1, progress=progress)
    stab = Session(settings, generator=generator, embedder=LexicalEmbedder(), progress=progress)
    stab.register("suite.yaml", FRANCE)
    assert stab.outcome("suite.yaml", "fr").case.passed
    # two prompts, one answer text; embedded with the reference and the wrong answer
    assert calls == [
        ("generating", 0, 2),
        ("generating", 1, 2),
        ("generating", 2, 2),
        ("embedding", 0, 3),
        ("embedding", 1, 3),
        ("embedding", 2, 3),
        ("embedding", 3, 3),
    ]
