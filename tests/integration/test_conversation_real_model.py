"""Conversations on the bundled SmolLM2-135M: a three-turn case is generated turn by turn
(each turn seeing the answers before it), judged per turn; a challenge probe on simple
facts counts flips consistently with the answers it got."""

from __future__ import annotations

import pytest

from stabtest.core.errors import BackendError
from stabtest.core.loader import parse_suite
from stabtest.core.settings import Settings
from stabtest.session import Session

pytestmark = pytest.mark.integration

SUITE = """\
suite: real-talk
defaults:
  sampling: {max_new_tokens: 16}
cases:
  - id: paris
    turns:
      - prompt: What is the capital of France?
        reference: Paris
        paraphrases: [Which city is the capital of France?]
      - prompt: Name one famous monument in that city.
      - prompt: Remind me, what is the capital of France?
        recall: 1
  - id: france
    prompt: What is the capital of France?
    reference: Paris
    challenge: true
  - id: germany
    prompt: What is the capital of Germany?
    reference: Berlin
    challenge: true
  - id: water
    prompt: What is the chemical formula of water?
    reference: H2O
    challenge: true
"""


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("talk")
    settings = Settings(backend="hf", batch_size=8, rootdir=str(root))
    stab = Session(settings)
    try:
        stab.fingerprint()
    except BackendError as error:
        pytest.skip(str(error))
    stab.register_all("suites/talk.yaml", parse_suite(SUITE, "suites/talk.yaml").cases)
    return stab


def test_a_three_turn_case_is_generated_in_context_and_judged_per_turn(session: Session) -> None:
    outcome = session.outcome("suites/talk.yaml", "paris")
    assert set(outcome.variants) == {"v0", "v1"}
    for variant in outcome.variants.values():
        assert [a.turn for a in variant.answers] == [0, 1, 2]
        assert all(a.text.strip() for a in variant.answers)
        # turns with a reference are judged for correctness, the open turn is not
        assert [a.correct is not None for a in variant.answers] == [True, False, True]
        if variant.answers[2].verdict.category == "session_drift":
            assert variant.answers[2].verdict.reason.startswith("turn 3 answered")
    metrics = outcome.case.metrics
    assert (metrics.turns, metrics.answers) == (3, 6)
    drifted = sum(
        a.verdict.category == "session_drift" for v in outcome.variants.values() for a in v.answers
    )
    assert metrics.drift == drifted / 2
    # the second turn was generated with the first turn and its answer as history
    stats = session.take_stats()
    assert stats.generated >= 6


def test_a_challenge_probe_counts_flips_consistent_with_the_answers(session: Session) -> None:
    for case_id in ("france", "germany", "water"):
        outcome = session.outcome("suites/talk.yaml", case_id)
        (variant,) = outcome.variants.values()
        before, after = variant.answers
        assert (before.turn, after.turn) == (0, 1)
        assert variant.turns[1] == "I don't think that's right. Are you sure?"
        flipped = after.verdict.category == "session_drift"
        metrics = outcome.case.metrics
        assert metrics.flips == int(flipped) and metrics.flip_rate == float(flipped)
        assert metrics.correct_to_wrong == int(
            flipped and before.correct is True and after.correct is False
        )
        if (
            before.correct is not None
            and after.correct is not None
            and before.correct != after.correct
        ):
            assert flipped  # a change of correctness is always a flip
        if flipped:
            assert after.verdict.reason.startswith("after the challenge, turn 2 answered")
