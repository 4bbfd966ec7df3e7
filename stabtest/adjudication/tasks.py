"""Turn verdicts into Label Studio tasks, and task ids back into gold keys.

A task is one answer of one variant, identified by `external_id = "<uid>#<answer hash>"`:
the server does not deduplicate imports, so this id is what makes a second push of the
same run a no-op, and what lets a pulled label find its answer again on a later run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from typing import Any

from stabtest.adjudication import labeling_config as lc
from stabtest.core.plan import conversation, transcript_lines
from stabtest.core.results import AnswerResult, Outcome, VariantResult, Verdict, Vote

MODEL_VERSION = "stabtest-auto"
DEFAULT_INCLUDE: tuple[Outcome, ...] = ("fail", "escalate")
_HASH = re.compile(r"[0-9a-f]{16}")
_DIVERGENCE = ("semantic_divergence", "session_drift")
_FACTUAL = ("hallucination", "reasoning_breakdown")


def external_id(uid: str, answer_hash: str) -> str:
    return f"{uid}#{answer_hash}"


def parse_external_id(value: object) -> tuple[str, str] | None:
    """(uid, answer_hash), or None for an id we did not write (a task someone added by
    hand). The hash is last and fixed-format, so a '#' inside the uid is harmless."""
    if not isinstance(value, str):
        return None
    uid, sep, digest = value.rpartition("#")
    if not sep or not uid or not _HASH.fullmatch(digest):
        return None
    return uid, digest


def auto_leaning(verdict: Verdict) -> Outcome | None:
    """Pass or fail as the machine sees it, even for an escalated verdict (calibration
    needs to know what would have been said had the verdict not been escalated): the
    outcome itself, else `auto_outcome`, else the confidence-weighted majority of votes."""
    for outcome in (verdict.outcome, verdict.auto_outcome):
        if outcome in ("pass", "fail"):
            return outcome
    weight = {"pass": 0.0, "fail": 0.0}
    for vote in verdict.votes:
        if vote.outcome in weight:
            weight[vote.outcome] += vote.confidence
    if weight["pass"] == weight["fail"]:
        return None
    return "pass" if weight["pass"] > weight["fail"] else "fail"


def predicted_choices(answer: AnswerResult) -> tuple[bool | None, bool | None]:
    """(stable, correct) the machine would tick, None where it has no opinion."""
    verdict = answer.verdict
    leaning = auto_leaning(verdict)
    correct = answer.correct
    if correct is None and leaning == "pass":
        correct = True
    elif correct is None and leaning == "fail" and verdict.category in _FACTUAL:
        correct = False
    stable: bool | None = None
    if leaning == "pass":
        stable = True
    elif leaning == "fail" and (verdict.category in _DIVERGENCE or correct is not False):
        stable = False
    return stable, correct


def prediction_result(answer: AnswerResult) -> list[dict[str, Any]]:
    """The pre-filled choices of the automatic verdict, in Label Studio's result format."""
    return choice_results(*predicted_choices(answer))


def choice_results(stable: bool | None, correct: bool | None) -> list[dict[str, Any]]:
    """The stable/correct choices as Label Studio result items (None: left unticked)."""
    result = []
    for name, value, yes, no in (
        (lc.STABLE, stable, lc.STABLE_YES, lc.STABLE_NO),
        (lc.CORRECT, correct, lc.CORRECT_YES, lc.CORRECT_NO),
    ):
        if value is not None:
            result.append(
                {
                    "from_name": name,
                    "to_name": lc.TO_NAME,
                    "type": "choices",
                    "value": {"choices": [yes if value else no]},
                }
            )
    return result


def votes_json(votes: Sequence[Vote]) -> str:
    return json.dumps([asdict(v) for v in votes], sort_keys=True)


def votes_from_json(text: object) -> tuple[Vote, ...]:
    """Votes stored in task data; malformed data gives no votes rather than an error."""
    try:
        raw: Any = json.loads(text) if isinstance(text, str) else text
        return tuple(Vote(**v) for v in raw or ())
    except (TypeError, ValueError):
        return ()


def _votes_text(votes: Sequence[Vote]) -> str:
    lines = [
        f"{v.judge}: {v.outcome} ({v.confidence:.2f})" + (f" - {v.reason}" if v.reason else "")
        for v in votes
    ]
    return "\n".join(lines) or "(no votes)"


def asked(variant: VariantResult, answer: AnswerResult) -> str:
    """What the model was asked: the prompt, or a conversation's turns up to the answer
    being judged, with the same thread's earlier answers (`User:` / `Assistant:` lines)."""
    if not variant.turns:
        return variant.prompt
    return "\n".join(transcript_lines(conversation(variant.history(answer), variant.asked(answer))))


def task_for(
    variant: VariantResult, answer: AnswerResult, original_prompt: str, run_id: str
) -> dict[str, Any]:
    """One import payload: `data` for the labeling config plus the machine fields a pull
    needs to compute AP and calibration from the gold store alone, and the automatic
    verdict as an inline prediction (the import endpoint accepts it: one request, not
    one per task)."""
    verdict = answer.verdict
    digest = answer.hash
    data: dict[str, Any] = {
        # shown
        "prompt": original_prompt,
        "variant_prompt": asked(variant, answer),
        "answer": answer.text,
        "reference": variant.reference if variant.reference is not None else "(no reference)",
        "auto_outcome": verdict.outcome,
        "confidence_text": f"{verdict.confidence:.2f}",
        "category": verdict.category or "(none)",
        "votes_text": _votes_text(verdict.votes),
        # machine
        "external_id": external_id(variant.uid, digest),
        "uid": variant.uid,
        "answer_hash": digest,
        "suite": variant.suite,
        "case_id": variant.case_id,
        "variant_id": variant.variant_id,
        "family": variant.family,
        "sample": answer.sample,
        "run_id": run_id,
        "auto_leaning": auto_leaning(verdict),
        "confidence": verdict.confidence,
        "auto_category": verdict.category,
        "votes": votes_json(verdict.votes),
    }
    # meta repeats the id: a listing of id+meta is the cheap way to find what is there
    task: dict[str, Any] = {"data": data, "meta": {"external_id": data["external_id"]}}
    result = prediction_result(answer)
    if result:
        task["predictions"] = [
            {"model_version": MODEL_VERSION, "score": verdict.confidence, "result": result}
        ]
    return task


def selection(
    variants: Iterable[VariantResult], include: Iterable[str] = DEFAULT_INCLUDE
) -> Iterator[tuple[VariantResult, AnswerResult]]:
    """Answers worth a human's time: verdicts whose outcome is in `include`, not already
    decided by a human, of variants that were not rejected; each (uid, answer) once."""
    wanted = set(include)
    seen: set[str] = set()
    for variant in variants:
        if variant.rejected is not None:
            continue
        for answer in variant.answers:
            if answer.verdict.source == "human" or answer.verdict.outcome not in wanted:
                continue
            key = external_id(variant.uid, answer.hash)
            if key not in seen:
                seen.add(key)
                yield variant, answer


def original_prompts(variants: Iterable[VariantResult]) -> dict[tuple[str, str], str]:
    """(suite, case_id) -> the case's own prompt (the "original" family variant)."""
    found: dict[tuple[str, str], str] = {}
    for variant in variants:
        if variant.family == "original":
            found.setdefault((variant.suite, variant.case_id), variant.prompt)
    return found
