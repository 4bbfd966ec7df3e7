"""Regression: the ensemble's verdicts on the measurement half of the labelled set
(benchmarks/data/annotation: real answers of the bundled model, labelled by reading) must
not fall below the figures reported for it, per class, at the default escalate_below; and
the issue #18 targets are checked as targets: met for short answers, and, for open-ended
ones on the default judges, a known miss that turns this test red (strict xfail) the day
they are met, so the README's table gets updated."""

from __future__ import annotations

from pathlib import Path

import pytest

from stabtest.adjudication.evaluate import Precision, judge_labelled, precision, read_labelled
from stabtest.annotators.registry import build_judges
from stabtest.core.settings import Settings
from stabtest.generation.cache import Cache
from stabtest.generation.embedder import CachedEmbedder, MiniLMEmbedder

ANSWERS = Path(__file__).resolve().parents[2] / "benchmarks/data/annotation/answers.jsonl"
KINDS = {"short": ("short", "numeric"), "open": ("open",)}
# Measured on the measurement half (issue #18 note), a little below each figure:
# short 29/0/0/70 (every figure 1.000), open 4/1/21/336 at 30.0% escalation
# (AP 0.939, P correct 0.800, R correct 0.160, P incorrect 0.941, R incorrect 0.997).
FLOORS: dict[str, dict[str, float]] = {
    "short": {"ap": 0.98, "precision_correct": 0.95, "recall_correct": 0.95},
    "open": {
        "ap": 0.93,
        "precision_incorrect": 0.93,
        "recall_incorrect": 0.98,
        "recall_correct": 0.15,
    },
}
TARGETS = {"precision_correct": 0.95, "recall_correct": 0.80, "ap": 0.95}
MAX_ESCALATION = 0.30


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> list:
    rows = [r for r in read_labelled(ANSWERS) if r.split == "measure"]
    open_labels = [r.label for r in rows if r.kind == "open"]
    # issue #18: enough of both classes among open answers to measure recall
    assert open_labels.count("correct") >= 40 and open_labels.count("incorrect") >= 40
    cache = Cache(tmp_path_factory.mktemp("ap") / "cache.sqlite")
    judges = [j for j in build_judges(Settings().judge_names) if j.aspect == "correctness"]
    return judge_labelled(rows, judges, CachedEmbedder(MiniLMEmbedder(), cache))


def _result(judged: list, group: str) -> Precision:
    items = [j for j in judged if j.row.kind in KINDS[group]]
    return precision(items, Settings().escalate_below)


@pytest.mark.parametrize("group", sorted(FLOORS))
def test_figures_on_the_measurement_half_hold(judged: list, group: str) -> None:
    result = _result(judged, group)
    figures = {name: result.agreement.figure(name) for name in FLOORS[group]}
    low = {n: v for n, v in figures.items() if v is None or v < FLOORS[group][n]}
    assert not low, (low, result.agreement)
    assert result.escalation_rate <= MAX_ESCALATION


def _meets_targets(result: Precision) -> bool:
    a = result.agreement
    reached = all((a.figure(n) or 0.0) >= t for n, t in TARGETS.items())
    return reached and result.escalation_rate <= MAX_ESCALATION


def test_short_answers_meet_the_targets(judged: list) -> None:
    result = _result(judged, "short")
    assert _meets_targets(result), result.agreement


@pytest.mark.xfail(
    strict=True,
    reason="issue #18: rules and embeddings cannot tell a right open-ended claim from a "
    "near miss (README, Annotation Precision); an NLI model or the LLM judge is needed",
)
def test_open_answers_meet_the_targets_on_the_default_judges(judged: list) -> None:
    assert _meets_targets(_result(judged, "open"))
