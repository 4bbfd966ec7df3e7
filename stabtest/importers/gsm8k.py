"""GSM8K (Cobbe et al. 2021) JSONL -> numeric cases.

Only the final number after `#### ` is the reference: the worked solution is one of many
valid ways there, and a stability test should not reward copying its wording.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from stabtest.core.errors import SuiteError
from stabtest.importers._common import (
    ImportedSuite,
    UniqueIds,
    positive_int,
    read_jsonl,
    text_field,
)

_FINAL = re.compile(r"####\s*(.*?)\s*$", re.DOTALL)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

# Worked math answers run long; the suite-wide default of 48 tokens cuts most of them off.
DEFAULT_MAX_NEW_TOKENS = 256


def final_answer(answer: str) -> str | None:
    """The number after the last `#### `, commas removed; None when absent or not a number."""
    marker = answer.rfind("####")
    if marker < 0:
        return None
    match = _FINAL.match(answer, marker)
    value = match.group(1).replace(",", "").strip() if match else ""
    return value if _NUMBER.fullmatch(value) else None


def _case(path: Path, record: dict[str, Any], line: int, ids: UniqueIds) -> dict[str, Any]:
    question = text_field(record, "question", path, line)
    answer = text_field(record, "answer", path, line)
    reference = final_answer(answer)
    if reference is None:
        raise SuiteError(
            str(path), "'answer' has no '#### <number>' final answer", line=line, key="answer"
        )
    return {"id": ids.take(f"gsm8k-{line}"), "prompt": question, "reference": reference}


def import_gsm8k(
    source: Path,
    *,
    limit: int | None = None,
    seed: int = 0,
    max_new_tokens: int | str = DEFAULT_MAX_NEW_TOKENS,
) -> ImportedSuite:
    """Problems in file order (seed unused); ids carry the line number so they stay stable."""
    tokens = positive_int("gsm8k.max_new_tokens", max_new_tokens)
    ids = UniqueIds()
    cases: list[dict[str, Any]] = []
    for line, record in read_jsonl(source):
        if limit is not None and len(cases) >= limit:
            break
        cases.append(_case(source, record, line, ids))
    if not cases:
        raise SuiteError(str(source), "no problems to import (the file is empty)")
    return ImportedSuite(
        name="gsm8k",
        cases=cases,
        defaults={
            "kind": "numeric",
            "checks": ["numeric", "semantic"],
            "sampling": {"max_new_tokens": tokens},
        },
        description=f"GSM8K problems from {source.name} ({len(cases)} cases).",
    )
