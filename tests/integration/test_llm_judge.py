"""The LLM judge on the real default model (SmolLM2-135M-Instruct).

A 135M model is a poor and often off-format judge, so only robust properties are checked:
every vote is pass/fail/abstain with a confidence in [0, 1], nothing crashes, and a rerun
on the same cache asks the model nothing (the judge's requests are cached like answers).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stabtest.core.errors import BackendError
from stabtest.core.settings import Settings
from stabtest.core.suite import Case
from stabtest.session import Session

pytestmark = pytest.mark.integration

CASE = Case(
    id="capital-of-france",
    prompt="What is the capital of France?",
    reference="Paris",
    incorrect=("Lyon",),
    paraphrases=("Which city is the capital of France?",),
    sampling={"max_new_tokens": 24},
)


def session(root: Path) -> Session:
    settings = Settings(
        backend="hf",
        embedder="lexical",
        judges="semantic,reference,llm_judge",
        batch_size=8,
        rootdir=str(root),
        # one thread: on a busy 2-core box two threads were up to 5x slower (spin-waits)
        backend_options={"threads": 1},
    )
    return Session(settings)


def test_real_model_judges_without_crashing_and_reruns_from_the_cache(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    first = session(tmp_path)
    try:
        first.fingerprint()
    except BackendError as error:
        pytest.skip(str(error))
    first.register("suites/real.yaml", CASE)
    outcome = first.outcome("suites/real.yaml", CASE.id)

    answers = [a for variant in outcome.variants.values() for a in variant.answers]
    assert len(answers) == 2
    for answer in answers:
        votes = {v.judge: v for v in answer.verdict.votes}
        assert set(votes) == {"semantic", "reference", "llm_judge"}
        assert all(v.outcome in ("pass", "fail", "abstain") for v in votes.values())
        assert all(0.0 <= v.confidence <= 1.0 for v in votes.values())
        assert votes["llm_judge"].reason  # a verdict or the raw text it could not read
        assert answer.verdict.outcome in ("pass", "fail", "escalate")
    # two answers, then one judge request per distinct answer (identical ones share it)
    asked = 2 + len({a.text for a in answers})
    assert first.generator.stats.generated == asked

    again = session(tmp_path)
    again.register("suites/real.yaml", CASE)
    rerun = again.outcome("suites/real.yaml", CASE.id)
    assert again.generator.stats.generated == 0
    assert again.generator.stats.cached == asked
    backend = again.generator._backend
    assert backend is None or backend._model is None  # never loaded
    assert rerun.variants == outcome.variants
