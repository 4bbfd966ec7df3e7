"""Semantic consistency: does each answer say what the other answers say?

Two answers agree when the case's answer equivalence says so (the ensemble sets it once
correctness is known: two right answers agree; otherwise same final number for numeric
cases, same normalised text, or embedding cosine at the semantic threshold). An answer
passes when it agrees with more than half of the other answers of its case; on an exact
tie, it passes when it agrees with the canonical answer (the original prompt's). The
confidence says how robust the vote is, not how large the majority (that is SI's job):
0.95 when the vote stands however the borderline pairs go (cosines within 0.1 of the
threshold that neither correctness, final number nor identical text settles), else 0.55,
which the default escalate_below sends to a person. all-MiniLM-L6-v2 scores "...is Paris." vs
"...is Lyon." at 0.75, so this judge misses single-entity contradictions: the
correctness judges cover those.

A failing answer is categorised by *where* it disagrees. Its siblings are the other
samples of the same variant (the identical prompt asked again: `samples` > 1); the rest
are the other variants' answers. It is `session_drift` when it has siblings and agrees
with no larger share of them than of the other variants' answers (or there are no other
variants): asking the same prompt again already gives something else, so the instability
is run-to-run, not caused by the rewording. It is `semantic_divergence` when it agrees
with its own siblings more than with the other variants (the wording moved the answer,
and moved it consistently), or when it has no siblings (one sample per variant). Greedy
samples are one answer, so greedy cases never drift.

Cost: the agreement counts are taken over groups of identical answers (see
`CaseEvidence.relation`), in bounded blocks: pairwise work in the case's distinct answers
(a few dozen in 20,100 sampled answers is common), memory bounded, and O(answers) Python.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from stabtest.annotators.base import Aspect, CaseEvidence, PairRelation
from stabtest.core.metrics import Index, row_blocks
from stabtest.core.results import Category, Vote
from stabtest.core.suite import Case

SURE = 0.95
UNSURE = 0.55


def _decides(share: float, tie_break: bool) -> bool:
    return tie_break if share == 0.5 else share > 0.5


def _robust(share: float, sure_agree: int, unsettled: int, others: int, tie_break: bool) -> bool:
    """Whether the vote stands however the borderline (unsettled) pairs would go: with
    every one of them disagreeing (`low`) and with every one agreeing (`high`)."""
    low, high = sure_agree / others, (sure_agree + unsettled) / others
    return _decides(low, tie_break) == _decides(high, tie_break) == _decides(share, tie_break)


@dataclass(frozen=True)
class _Tally:
    """Per group, over every answer of the case (its own members included): answers it
    agrees with, agrees with beyond doubt, and whose pair with it is unsettled; and the
    same three for a pair of its own members, to take one answer out of its own count."""

    agree: Index
    sure: Index
    unsettled: Index
    own_agree: Index
    own_sure: Index
    own_unsettled: Index

    @classmethod
    def of(cls, relation: PairRelation) -> _Tally:
        """Row blocks of group pairs; a symmetric relation computes each pair of distinct
        groups once and counts it for both."""
        count, size = relation.groups, relation.size
        groups = np.arange(count, dtype=np.intp)
        sums = np.zeros((3, count), dtype=np.int64)
        own = np.zeros((3, count), dtype=np.int64)
        for block in row_blocks(count, count):
            rows = groups[block]
            parts: list[tuple[Index, bool, Index | None]]
            if relation.symmetric:  # the block's own square one way, the groups after it both
                parts = [(rows, False, np.arange(len(rows))), (groups[block.stop :], True, None)]
            else:
                parts = [(groups, False, rows)]
            for cols, mirrored, diagonal in parts:
                if not len(cols):
                    continue
                agree, settled = relation.pairs(rows, cols)
                for k, mask in enumerate((agree, agree & settled, ~settled)):
                    sums[k, block] += mask @ size[cols]
                    if mirrored:
                        sums[k, cols] += size[rows] @ mask
                    if diagonal is not None:
                        own[k, block] = mask[np.arange(len(rows)), diagonal]
        return cls(*sums, *own)

    def others(self, g: int) -> tuple[int, int, int]:
        """(agreeing, surely agreeing, unsettled) among the other answers of a member of g."""
        return (
            int(self.agree[g] - self.own_agree[g]),
            int(self.sure[g] - self.own_sure[g]),
            int(self.unsettled[g] - self.own_unsettled[g]),
        )


class SemanticJudge:
    name = "semantic"
    aspect: Aspect = "consistency"

    def applies(self, case: Case) -> bool:
        return "semantic" in case.checks

    def votes(self, evidence: CaseEvidence) -> list[Vote]:
        n = len(evidence.answers)
        if n < 2:
            return [
                Vote(self.name, "abstain", 0.0, reason="a single answer has nothing to agree with")
            ]
        relation = evidence.relation()
        group = relation.group
        tally = _Tally.of(relation)
        canonical = evidence.canonical
        groups = np.arange(relation.groups, dtype=np.intp)
        with_canonical = relation.agreement(groups, group[[canonical]])[:, 0]
        vectors = evidence.vectors
        cosine = np.clip(vectors @ vectors[canonical], -1.0, 1.0)
        decided = []
        for i in range(n):
            g = int(group[i])
            agreeing, sure_agree, unsettled = tally.others(g)
            share = agreeing / (n - 1)
            tie_break = i == canonical or bool(with_canonical[g])
            robust = _robust(share, sure_agree, unsettled, n - 1, tie_break)
            decided.append((share, _decides(share, tie_break), robust))
        failing = [i for i, (_, passed, _) in enumerate(decided) if not passed]
        diagnoses = _diagnose(evidence, relation, tally, failing)
        votes = []
        for i, (share, passed, robust) in enumerate(decided):
            category, reason = diagnoses.get(i, (None, ""))
            to_canonical = 1.0 if i == canonical else float(cosine[i])
            votes.append(
                Vote(
                    self.name,
                    "pass" if passed else "fail",
                    SURE if robust else UNSURE,
                    score=round(share, 4),
                    reason=(
                        f"agrees with {share:.0%} of the other answers; cosine to the "
                        f"original answer {to_canonical:.2f}{reason}"
                    ),
                    category=category,
                )
            )
        return votes


def _diagnose(
    evidence: CaseEvidence, relation: PairRelation, tally: _Tally, failing: list[int]
) -> dict[int, tuple[Category, str]]:
    """`session_drift` or `semantic_divergence` for each failing answer (see the module
    docstring), and what its reason should add. Agreement with its own prompt's samples is
    counted per variant, over the groups of that variant's answers."""
    answers, group = evidence.answers, relation.group
    members: dict[int, list[int]] = defaultdict(list)
    for i, answer in enumerate(answers):
        members[answer.variant.index].append(i)
    failing_in: dict[int, list[int]] = defaultdict(list)
    for i in failing:
        failing_in[answers[i].variant.index].append(i)
    found: dict[int, tuple[Category, str]] = {}
    for index, fails in failing_in.items():
        siblings = len(members[index]) - 1
        if not siblings:
            found.update((i, ("semantic_divergence", "")) for i in fails)
            continue
        cols, counts = np.unique(group[members[index]], return_counts=True)
        rows = np.unique(group[fails])
        within_group = np.zeros(len(rows), dtype=np.int64)
        for block in row_blocks(len(rows), len(cols)):
            within_group[block] = relation.agreement(rows[block], cols) @ counts
        position = {int(g): k for k, g in enumerate(rows)}
        across = len(answers) - 1 - siblings
        for i in fails:
            g = int(group[i])
            agreeing = tally.others(g)[0]
            agree_within = int(within_group[position[g]] - tally.own_agree[g])
            within = agree_within / siblings
            if across and within > (agreeing - agree_within) / across:
                found[i] = (
                    "semantic_divergence",
                    f"; agrees with {within:.0%} of its own prompt's samples",
                )
            else:
                found[i] = (
                    "session_drift",
                    f"; drifts: agrees with {within:.0%} of its own prompt's samples",
                )
    return found
