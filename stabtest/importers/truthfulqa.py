"""TruthfulQA (Lin et al. 2021) CSV -> fact cases.

TruthfulQA lists known wrong answers next to the right ones, which is what our `incorrect`
field is for: a variant that drifts to a popular misconception is caught by name, not
only by low similarity to the reference.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stabtest.core.errors import SuiteError
from stabtest.importers._common import (
    ImportedSuite,
    UniqueIds,
    dedupe,
    names_option,
    require_file,
    slugify,
    split_answers,
)

REQUIRED_COLUMNS = ("Category", "Question", "Best Answer", "Correct Answers", "Incorrect Answers")

Row = dict[str, str]


def _rows(path: Path) -> Iterator[tuple[int, int, Row]]:
    """Yield (row number, first line, row); row 1 is the first question after the header.

    Lines and rows differ when a quoted field spans lines, so errors give the line (what an
    editor shows) and ids use the row (what stays stable for a given question).
    """
    require_file(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
        except csv.Error as error:
            raise SuiteError(str(path), f"malformed CSV: {error}", line=1) from None
        missing = [column for column in REQUIRED_COLUMNS if column not in header]
        if missing:
            raise SuiteError(str(path), f"missing CSV columns {missing}; found {header}", line=1)
        row_number = 0
        while True:
            first_line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise SuiteError(str(path), f"malformed CSV: {error}", line=first_line) from None
            row_number += 1
            _check_shape(path, row, row_number, first_line, len(header))
            yield row_number, first_line, row


def _check_shape(path: Path, row: dict[Any, Any], number: int, line: int, width: int) -> None:
    """DictReader pads short rows with None and stores extras under None; both are errors."""
    if None in row or any(row.get(column) is None for column in REQUIRED_COLUMNS):
        extra = len(row.get(None) or ())
        found = sum(value is not None for key, value in row.items() if key is not None) + extra
        raise SuiteError(
            str(path), f"row {number} has {found} fields, the header has {width}", line=line
        )


def _field(path: Path, row: Row, column: str, number: int, line: int) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise SuiteError(str(path), f"row {number}: empty {column!r}", line=line, key=column)
    return value


def _case(path: Path, row: Row, number: int, line: int, ids: UniqueIds) -> dict[str, Any]:
    question = _field(path, row, "Question", number, line)
    best = _field(path, row, "Best Answer", number, line)
    category = _field(path, row, "Category", number, line)
    aliases = dedupe(split_answers(row["Correct Answers"]), exclude=[best])
    incorrect = dedupe(split_answers(row["Incorrect Answers"]), exclude=[best, *aliases])
    case: dict[str, Any] = {
        "id": ids.take(f"tqa-{number}-{slugify(question)}"),
        "prompt": question,
        "reference": best,
    }
    if aliases:
        case["aliases"] = aliases
    if incorrect:
        case["incorrect"] = incorrect
    case["tags"] = [category]
    return case


def _wanted(category: str | list[str] | None) -> set[str] | None:
    if category is None:
        return None
    return {name.casefold() for name in names_option("truthfulqa.category", category)}


def _nothing_imported(category: str | list[str] | None, seen: set[str]) -> str:
    if category is None:
        return "no question rows after the header"
    known = ", ".join(sorted(seen))
    return f"no rows match category {category!r} (categories: {known})"


def import_truthfulqa(
    source: Path,
    *,
    limit: int | None = None,
    seed: int = 0,
    category: str | list[str] | None = None,
) -> ImportedSuite:
    """Rows in file order (seed unused: the file order is already a stable choice).

    `category` keeps only rows whose Category matches one of the names (case-insensitive).
    """
    wanted = _wanted(category)
    ids = UniqueIds()
    cases: list[dict[str, Any]] = []
    seen_categories: set[str] = set()
    for number, line, row in _rows(source):
        if limit is not None and len(cases) >= limit:
            break
        seen_categories.add(row["Category"].strip())
        if wanted is not None and row["Category"].strip().casefold() not in wanted:
            continue
        cases.append(_case(source, row, number, line, ids))
    if not cases:
        raise SuiteError(str(source), _nothing_imported(category, seen_categories))
    what = f"category {category}" if category is not None else "all categories"
    return ImportedSuite(
        name="truthfulqa",
        cases=cases,
        defaults={"kind": "fact"},
        description=f"TruthfulQA questions from {source.name} ({what}, {len(cases)} cases).",
    )
