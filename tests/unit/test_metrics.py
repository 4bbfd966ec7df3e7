"""Metric formulas on hand-computed examples."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stabtest.core.metrics import (
    annotation_precision,
    case_metrics,
    cluster,
    factual_correctness,
    response_diversity_ratio,
    si_split,
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


@pytest.mark.parametrize(
    ("clusters", "wordings", "within", "between"),
    [
        # each wording answered the same way every time, the two wordings differently
        ([0, 0, 1, 1], ["a", "a", "b", "b"], 0.0, 1.0),
        # samples of each wording disagree, the wordings share both answers
        ([0, 1, 0, 1], ["a", "a", "b", "b"], 1.0, 0.5),
        # one sample per wording: no within pairs, so all of SI is between wordings
        ([0, 0, 1], ["a", "b", "c"], None, 2 / 3),
        # one wording: all of SI is sampling noise
        ([0, 0, 1], ["a", "a", "a"], 2 / 3, None),
        ([0], ["a"], None, None),
    ],
)
def test_si_splits_into_within_and_between_wording_disagreement(
    clusters, wordings, within, between
):
    got = si_split(clusters, wordings)
    assert got == (pytest.approx(within), pytest.approx(between))


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=2, max_size=40),
)
def test_si_is_the_pair_weighted_mean_of_its_two_parts(answers):
    wordings = [w for w, _ in answers]
    clusters = [c for _, c in answers]
    within, between = si_split(clusters, wordings)
    pairs_within = sum(n * (n - 1) // 2 for n in Counter(wordings).values())
    pairs_between = len(answers) * (len(answers) - 1) // 2 - pairs_within
    weighted = pairs_within * (within or 0.0) + pairs_between * (between or 0.0)
    assert stability_index(clusters) == pytest.approx(weighted / (pairs_within + pairs_between))
    m = case_metrics(clusters, [None] * len(clusters), wordings)
    assert (m.si_within, m.si_between) == (within, between)


def test_si_split_needs_one_wording_per_answer():
    with pytest.raises(ValueError, match="2 wordings for 3 answers"):
        si_split([0, 0, 1], ["a", "b"])


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
