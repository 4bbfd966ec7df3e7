"""Metric formulas on hand-computed examples."""

from __future__ import annotations

import pytest

from stabtest.core.metrics import (
    annotation_precision,
    case_metrics,
    cluster,
    factual_correctness,
    response_diversity_ratio,
    stability_index,
)


def test_cluster_is_transitive_and_numbered_by_first_member():
    pairs = {(0, 2), (2, 4)}
    assert cluster(5, lambda i, j: (i, j) in pairs) == [0, 1, 0, 2, 0]


@pytest.mark.parametrize(
    ("clusters", "si"),
    [
        ([0], 0.0),
        ([0, 0, 0, 0], 0.0),
        ([0, 1, 2, 3], 1.0),
        ([0, 0, 0, 0, 1], 0.4),
        ([0, 0, 1, 1], 2 / 3),
    ],
)
def test_stability_index_is_probability_two_answers_disagree(clusters, si):
    assert stability_index(clusters) == pytest.approx(si)


def test_fc_rdr_and_case_metrics():
    assert factual_correctness([True, False, None, True]) == pytest.approx(2 / 3)
    assert factual_correctness([None]) is None
    assert response_diversity_ratio([0, 0, 1, 1]) == 0.5
    m = case_metrics([0, 0, 1], [True, True, False])
    assert (m.answers, m.clusters, m.rdr) == (3, 2, pytest.approx(2 / 3))


def test_annotation_precision_ignores_escalations_and_missing_labels():
    pairs = [
        ("pass", "pass"),
        ("fail", "pass"),
        ("fail", "fail"),
        ("escalate", "fail"),
        ("pass", None),
    ]
    assert annotation_precision(pairs) == pytest.approx(2 / 3)
    assert annotation_precision([]) is None
