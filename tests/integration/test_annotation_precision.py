"""Regression: the ensemble's Annotation Precision on the measurement half of the labelled
set (benchmarks/data/annotation: real answers of the bundled model, labelled by reading)
must not fall below the figures reported for it, at the default escalate_below."""

from __future__ import annotations

from pathlib import Path

import pytest

from stabtest.adjudication.evaluate import judge_labelled, precision, read_labelled
from stabtest.annotators.registry import build_judges
from stabtest.core.settings import Settings
from stabtest.generation.cache import Cache
from stabtest.generation.embedder import CachedEmbedder, MiniLMEmbedder

ANSWERS = Path(__file__).resolve().parents[2] / "benchmarks/data/annotation/answers.jsonl"
# Reported on the measurement half (issue #8 note): short 0.980 at 0.0% escalation,
# open-ended 0.934 at 10.3%.
FLOORS = {"short": (("short", "numeric"), 0.98), "open": (("open",), 0.93)}


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> list:
    rows = [r for r in read_labelled(ANSWERS) if r.split == "measure"]
    assert len(rows) >= 150
    cache = Cache(tmp_path_factory.mktemp("ap") / "cache.sqlite")
    judges = [j for j in build_judges(Settings().judge_names) if j.aspect == "correctness"]
    return judge_labelled(rows, judges, CachedEmbedder(MiniLMEmbedder(), cache))


@pytest.mark.parametrize("group", sorted(FLOORS))
def test_ap_on_the_measurement_half_holds(judged: list, group: str) -> None:
    kinds, floor = FLOORS[group]
    result = precision([j for j in judged if j.row.kind in kinds], Settings().escalate_below)
    assert result.ap is not None and result.ap >= floor, result.confusion
    assert result.escalation_rate <= 0.30
