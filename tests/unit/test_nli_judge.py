"""The nli judge's rules on hand-set probabilities (pure logic: the models themselves are
tested in tests/integration/test_nli_model.py), and the label names it reads."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from stabtest.annotators.base import Answer, CaseEvidence
from stabtest.annotators.nli import NLIJudge
from stabtest.annotators.registry import build_judges
from stabtest.core.errors import ConfigError
from stabtest.core.nli import nli_label
from stabtest.core.suite import Case
from stabtest.core.variant import Variant

GUM = Case(
    id="gum",
    prompt="What happens if you swallow gum?",
    reference="It passes through your digestive system",
    aliases=("Nothing much happens to you",),
    incorrect=("It stays in your stomach for seven years",),
)


class Table:
    """Probabilities by (answer, hypothesis); every other pair is neutral."""

    def __init__(self, labels: tuple[str, ...], rows: dict[tuple[str, str], list[float]]):
        self._labels, self.rows, self.asked = labels, rows, 0

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def fingerprint(self) -> str:
        return "table"

    def classify(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        self.asked += len(pairs)
        neutral = [1.0 if label in ("neutral", "other") else 0.0 for label in self._labels]
        return np.array([self.rows.get(p, neutral) for p in pairs], dtype=np.float32)


def evidence(texts: list[str]) -> CaseEvidence:
    answers = [Answer(Variant("gum", i, f"p{i}", "paraphrase"), 0, t) for i, t in enumerate(texts)]
    return CaseEvidence(GUM, answers, np.zeros((len(texts), 2), dtype=np.float32))


NLI3 = ("contradiction", "entailment", "neutral")


def test_rules_in_order_and_one_request_per_distinct_answer() -> None:
    right, alias, wrong = GUM.reference or "", GUM.aliases[0], GUM.incorrect[0]
    table = Table(
        NLI3,
        {
            ("It just passes through.", right): [0.02, 0.9, 0.08],
            ("It sits there for seven years.", wrong): [0.0, 0.8, 0.2],
            ("It sits there for seven years.", right): [0.7, 0.0, 0.3],
            ("You will choke and die.", right): [0.6, 0.0, 0.4],
            ("Nothing much.", alias): [0.0, 0.55, 0.45],
            ("Both, really.", right): [0.0, 0.6, 0.4],
            ("Both, really.", wrong): [0.0, 0.7, 0.3],
        },
    )
    texts = [
        "It just passes through.",
        "It sits there for seven years.",
        "You will choke and die.",
        "Nothing much.",
        "Gum is made of polymers.",
        "Both, really.",
        "It just passes through.",
    ]
    votes = NLIJudge(table).votes(evidence(texts))
    assert [v.outcome for v in votes] == ["pass", "fail", "fail", "pass", "abstain", "fail", "pass"]
    assert "[entails_right]" in votes[0].reason and votes[0].confidence == 0.9
    assert "[entails_wrong]" in votes[1].reason  # a wrong claim outranks its contradiction
    assert "[contradicts]" in votes[2].reason and votes[2].category == "hallucination"
    assert votes[3].confidence == 0.55  # an alias counts as right
    assert votes[4].confidence == 0.0
    assert "[entails_wrong]" in votes[5].reason  # entails both: the wrong one is stronger
    assert table.asked == 6 * 3  # the repeated answer is scored once, against 3 hypotheses


def test_a_contradiction_only_model_fails_or_abstains() -> None:
    right = GUM.reference or ""
    table = Table(("other", "contradiction"), {("It stays forever.", right): [0.01, 0.99]})
    judge = NLIJudge(table, threshold=0.97)
    votes = judge.votes(evidence(["It stays forever.", "It passes through."]))
    assert [v.outcome for v in votes] == ["fail", "abstain"]
    assert votes[0].confidence == 0.95  # clipped: a score is evidence, not certainty


def test_statements_only_and_the_registry() -> None:
    assert NLIJudge(Table(NLI3, {})).applies(GUM)
    short = Case(id="fr", prompt="Capital of France?", reference="Paris")
    assert not NLIJudge(Table(NLI3, {})).applies(short)  # short references: the rules
    judges = build_judges(["reference"], nli=Table(NLI3, {}))
    assert [j.name for j in judges] == ["reference", "nli"]  # a named model adds the judge
    assert [j.name for j in build_judges(["nli", "reference"], nli=Table(NLI3, {}))] == [
        "nli",
        "reference",
    ]
    with pytest.raises(ConfigError, match="--stab-nli-model"):
        build_judges(["nli"])


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("ENTAILMENT", "entailment"),
        ("entails", "entailment"),
        ("Contradiction", "contradiction"),
        ("neutral", "neutral"),
        ("LABEL_0", "other"),
    ],
)
def test_output_names(name: str, label: str) -> None:
    assert nli_label(name) == label
