"""Annotation Precision measured on a labelled set: how often the automatic correctness
verdict equals a person's label, at what escalation rate, and how honest the confidences
are (a reliability table: stated confidence against observed precision). Per class too:
AP alone hides judges that fail right answers on a set that is mostly wrong.

A labelled answer is a `LabelledAnswer`: the case fields it was asked under, the answer,
and the label `correct`, `incorrect` or `unclear` (unclear answers are left out of AP).
The ensemble here holds correctness judges only: the labels say whether an answer is
right, not whether it agrees with its siblings.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from stabtest.annotators.base import Answer, CaseEvidence, Judge
from stabtest.annotators.ensemble import Ensemble
from stabtest.core.embedding import Embedder
from stabtest.core.metrics import agreement
from stabtest.core.results import Agreement, Verdict
from stabtest.core.suite import Case
from stabtest.core.variant import Variant

Label = Literal["correct", "incorrect", "unclear"]
BINS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


@dataclass(frozen=True)
class LabelledAnswer:
    id: str
    kind: str
    split: str
    question: str
    prompt: str
    reference: str | None
    aliases: tuple[str, ...]
    incorrect: tuple[str, ...]
    answer: str
    label: Label

    def case(self) -> Case:
        numeric = self.kind == "numeric"
        return Case(
            id="labelled",
            prompt=self.question,
            reference=self.reference,
            aliases=self.aliases,
            incorrect=self.incorrect,
            kind="numeric" if numeric else "fact",
            checks=("numeric", "reference") if numeric else ("reference",),
        )


def read_labelled(path: Path) -> list[LabelledAnswer]:
    """The labelled answers of a JSON-lines file (unlabelled rows are skipped)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        if raw.get("label") not in ("correct", "incorrect", "unclear"):
            continue
        rows.append(
            LabelledAnswer(
                id=raw["id"],
                kind=raw["kind"],
                split=raw["split"],
                question=raw["question"],
                prompt=raw["prompt"],
                reference=raw.get("reference"),
                aliases=tuple(raw.get("aliases") or ()),
                incorrect=tuple(raw.get("incorrect") or ()),
                answer=raw["answer"],
                label=raw["label"],
            )
        )
    return rows


@dataclass(frozen=True)
class Judged:
    """One labelled answer with the ensemble's verdict on its correctness."""

    row: LabelledAnswer
    verdict: Verdict


def judge_labelled(
    rows: Sequence[LabelledAnswer], judges: Sequence[Judge], embedder: Embedder
) -> list[Judged]:
    """The ensemble's verdict (no escalation: every verdict with its confidence) on each
    labelled answer, judged alone against its case's reference."""
    ensemble = Ensemble(judges, escalate_below=0.0)
    texts = sorted(
        {r.answer for r in rows}
        | {t for r in rows for t in (r.reference, *r.aliases, *r.incorrect) if t}
    )
    vectors = dict(zip(texts, embedder.encode(texts), strict=True))
    judged = []
    for row in rows:
        case = row.case()
        refs = [t for t in (row.reference, *row.aliases, *row.incorrect) if t]
        evidence = CaseEvidence(
            case,
            [Answer(Variant(case.id, 0, row.prompt, "original"), 0, row.answer)],
            vectors[row.answer][None, :],
            {t: vectors[t] for t in refs},
        )
        verdicts, _ = ensemble.judge(evidence)
        judged.append(Judged(row, verdicts[0]))
    return judged


HUMAN = {"correct": "pass", "incorrect": "fail"}


@dataclass
class Precision:
    """The verdicts issued at one `escalate_below` against the labels, per class (AP and
    the precision and recall of "correct" and "incorrect"), with what was left out."""

    answers: int = 0
    unclear: int = 0
    escalated: int = 0
    pairs: list[tuple[str, str]] = field(default_factory=list)
    """(automatic outcome, human outcome) of every verdict issued: pass or fail each."""

    @property
    def agreement(self) -> Agreement:
        return agreement(self.pairs)

    @property
    def issued(self) -> int:
        return len(self.pairs)

    @property
    def ap(self) -> float | None:
        return self.agreement.ap

    @property
    def escalation_rate(self) -> float:
        decidable = self.answers - self.unclear
        return self.escalated / decidable if decidable else 0.0


def precision(judged: Iterable[Judged], escalate_below: float) -> Precision:
    result = Precision()
    for item in judged:
        result.answers += 1
        if item.row.label == "unclear":
            result.unclear += 1
            continue
        verdict = item.verdict
        if verdict.outcome == "escalate" or verdict.confidence < escalate_below:
            result.escalated += 1
            continue
        result.pairs.append((verdict.outcome, HUMAN[item.row.label]))
    return result


def judge_precision(judged: Iterable[Judged]) -> dict[str, Precision]:
    """Per judge: its pass/fail votes against the labels (abstentions not counted)."""
    out: dict[str, Precision] = {}
    for item in judged:
        if item.row.label == "unclear":
            continue
        for vote in item.verdict.votes:
            counts = out.setdefault(vote.judge, Precision())
            counts.answers += 1
            if vote.outcome == "abstain":
                counts.escalated += 1
                continue
            counts.pairs.append((vote.outcome, HUMAN[item.row.label]))
    return out


def reliability(judged: Iterable[Judged]) -> list[tuple[str, int, float | None, float | None]]:
    """(confidence bin, verdicts, mean stated confidence, observed precision) per bin."""
    bins: dict[int, list[tuple[float, bool]]] = {}
    for item in judged:
        verdict = item.verdict
        if item.row.label == "unclear" or verdict.outcome not in ("pass", "fail"):
            continue
        right = (verdict.outcome == "pass") == (item.row.label == "correct")
        index = next(i for i, edge in enumerate(BINS[1:]) if verdict.confidence < edge)
        bins.setdefault(index, []).append((verdict.confidence, right))
    table = []
    for i, (low, high) in enumerate(itertools.pairwise(BINS)):
        items = bins.get(i, [])
        stated = sum(c for c, _ in items) / len(items) if items else None
        observed = sum(r for _, r in items) / len(items) if items else None
        table.append((f"[{low:.1f}, {min(high, 1.0):.1f})", len(items), stated, observed))
    return table


def rule_precision(judged: Iterable[Judged], judge: str) -> Mapping[str, tuple[int, int]]:
    """Per rule tag (`... [rule]` at the end of a vote's reason): (right, issued)."""
    out: dict[str, tuple[int, int]] = {}
    for item in judged:
        if item.row.label == "unclear":
            continue
        for vote in item.verdict.votes:
            if vote.judge != judge or vote.outcome == "abstain" or not vote.reason.endswith("]"):
                continue
            rule = vote.reason.rsplit("[", 1)[1].rstrip("]")
            right = (vote.outcome == "pass") == (item.row.label == "correct")
            hits, total = out.get(rule, (0, 0))
            out[rule] = (hits + right, total + 1)
    return out
