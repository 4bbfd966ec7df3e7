"""Read a Label Studio task (with its annotations) back into a GoldLabel (pure).

Annotators skip boxes and people add tasks by hand, so nothing here trusts the shape of
what comes back: a missing choice becomes None with a warning, a task whose external id we
did not write is reported as unknown, and only a malformed *task* is skipped, never a run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stabtest.adjudication import labeling_config as lc
from stabtest.adjudication.tasks import parse_external_id, votes_from_json
from stabtest.core.results import GoldLabel

_CHOICES = {
    lc.STABLE: {lc.STABLE_YES: True, lc.STABLE_NO: False},
    lc.CORRECT: {lc.CORRECT_YES: True, lc.CORRECT_NO: False},
}


@dataclass
class ParsedTask:
    """`label` is None when the task cannot be mapped to an answer (`problem` says why)."""

    task_id: Any
    label: GoldLabel | None
    context: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    problem: str | None = None


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """Field of an SDK model or of a plain dict (tests and raw JSON)."""
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def latest_annotation(annotations: Sequence[Any] | None) -> Any | None:
    """The most recently updated annotation that was not cancelled (skipped)."""
    live = [a for a in annotations or () if not _get(a, "was_cancelled", False)]
    if not live:
        return None
    return max(
        live,
        key=lambda a: (
            str(_get(a, "updated_at") or _get(a, "created_at") or ""),
            _get(a, "id") or 0,
        ),
    )


def parse_result(result: Sequence[Any] | None) -> tuple[dict[str, Any], list[str]]:
    """Choices and text boxes of one annotation result -> (fields, warnings). The two
    choices are expected; text boxes are optional and absent means None."""
    fields: dict[str, Any] = {
        lc.STABLE: None,
        lc.CORRECT: None,
        lc.CORRECTED_ANSWER: None,
        lc.RATIONALE: None,
    }
    warnings: list[str] = []
    for item in result or ():
        name = _get(item, "from_name")
        value = _get(item, "value")
        if name not in fields:
            continue
        if not isinstance(value, Mapping):
            warnings.append(f"{name}: result item without a value")
            continue
        if name in _CHOICES:
            chosen = value.get("choices") or []
            mapped = [_CHOICES[name].get(c) for c in chosen]
            if len(mapped) != 1 or mapped[0] is None:
                warnings.append(f"{name}: unreadable choice {chosen!r}")
                continue
            fields[name] = mapped[0]
        else:
            text = value.get("text")
            if isinstance(text, str):
                text = [text]
            joined = "\n".join(str(t) for t in text or ()).strip()
            fields[name] = joined or None
    for name in _CHOICES:
        if fields[name] is None and not any(w.startswith(f"{name}:") for w in warnings):
            warnings.append(f"{name}: no choice made (kept as unknown)")
    return fields, warnings


def _annotator(annotation: Any, users: Mapping[int, str]) -> str | None:
    """Email of who completed the annotation; the export gives a user id (or a dict), the
    task list a "created_username"."""
    who = _get(annotation, "completed_by")
    if isinstance(who, Mapping):
        who = who.get("email") or who.get("id")
    if isinstance(who, int) and who in users:
        return users[who]
    name = _get(annotation, "created_username")
    if isinstance(name, str) and name.strip(" ,"):
        return name.strip().split(",")[0].strip() or None
    return None if who is None else str(who)


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _outcome(value: Any) -> str | None:
    return value if value in ("pass", "fail", "escalate") else None


def parse_task(task: Any, users: Mapping[int, str] | None = None) -> ParsedTask | None:
    """None when the task has no live annotation yet; otherwise the label, or the reason
    the task cannot be one of ours. `users` maps user ids to emails."""
    task_id = _get(task, "id")
    annotation = latest_annotation(_get(task, "annotations"))
    if annotation is None:
        return None
    data = _get(task, "data") or {}
    key = parse_external_id(data.get("external_id") if isinstance(data, Mapping) else None)
    if key is None:
        shown = data.get("external_id") if isinstance(data, Mapping) else None
        return ParsedTask(task_id, None, problem=f"external id {shown!r} is not a stabtest id")
    fields, warnings = parse_result(_get(annotation, "result"))
    updated = _get(annotation, "updated_at") or _get(annotation, "created_at")
    label = GoldLabel(
        uid=key[0],
        answer_hash=key[1],
        stable=fields[lc.STABLE],
        correct=fields[lc.CORRECT],
        corrected_answer=fields[lc.CORRECTED_ANSWER],
        rationale=fields[lc.RATIONALE],
        annotator=_annotator(annotation, users or {}),
        updated_at=None if updated is None else str(updated),
    )
    context = {
        "auto_outcome": _outcome(data.get("auto_outcome")),
        "auto_leaning": _outcome(data.get("auto_leaning")),
        "confidence": _float(data.get("confidence")),
        "category": data.get("auto_category"),
        "votes": votes_from_json(data.get("votes")),
        "prompt": data.get("variant_prompt"),
        "original_prompt": data.get("prompt"),
        "answer": data.get("answer"),
        "suite": data.get("suite"),
        "case_id": data.get("case_id"),
    }
    return ParsedTask(task_id, label, context, warnings)
