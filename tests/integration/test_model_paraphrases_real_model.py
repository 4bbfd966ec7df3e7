"""Model paraphrases on the bundled SmolLM2-135M and MiniLM: every slot is either a kept
rewrite within the similarity bound or rejected for a stated reason, a conversation's slots
rewrite only its opening question, and a second session replays the same variants from
the cache (same ids, same texts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stabtest.core.errors import BackendError
from stabtest.core.loader import parse_suite
from stabtest.core.settings import Settings
from stabtest.session import Session

pytestmark = pytest.mark.integration

SUITE = """\
suite: rewritten
defaults:
  model_paraphrases: {count: 3, min_similarity: 0.75}
cases:
  - id: largest-planet
    prompt: What is the largest planet in our solar system?
    reference: Jupiter
  - id: talk
    turns:
      - prompt: Who wrote the play Romeo and Juliet?
        reference: William Shakespeare
      - prompt: In which country was he born?
"""
REASONS = ("the model gave no usable paraphrase", "duplicate of v", "similarity to the prompt")


def register(root: str) -> Session:
    session = Session(Settings(backend="hf", batch_size=8, rootdir=root))
    try:
        session.fingerprint()
    except BackendError as error:
        pytest.skip(str(error))
    session.register_all("suites/rewritten.yaml", parse_suite(SUITE, "rewritten.yaml").cases)
    return session


def test_model_paraphrase_slots_are_kept_within_the_bound_or_rejected_and_replay(
    tmp_path: Path,
) -> None:
    pytest.importorskip("transformers")
    first = register(str(tmp_path))
    assert first.generator.take_stats().generated > 0  # the rewrites were written now
    registered = {reg.case.id: reg for reg in first.registry}
    for reg in registered.values():
        slots = [v for v in reg.variants if v.family == "model"]
        assert len(slots) == 3
        for slot in slots:
            if slot.rejected is not None:
                assert slot.rejected.startswith(REASONS), slot
                continue
            assert slot.text and slot.text != reg.case.prompt
            a, b = first.embedder.encode([reg.case.prompt, slot.text])
            assert float(a @ b) >= 0.75 - 1e-4, slot
    talk = registered["talk"]
    for slot in (v for v in talk.variants if v.family == "model"):
        assert slot.turns[1:] == ("In which country was he born?",)
        assert slot.turns[0] == slot.text
    again = register(str(tmp_path))
    assert [reg.variants for reg in again.registry] == [reg.variants for reg in first.registry]
    assert again.generator.take_stats().generated == 0  # the rewrites came from the cache
