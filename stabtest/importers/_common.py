"""Helpers shared by the importers: ids, file reading, option parsing.

Kept apart from `__init__` so that importer modules never import the package that
registers them (no import cycle), and so every importer reports errors the same way.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stabtest.core.errors import ConfigError, SuiteError

_NON_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class ImportedSuite:
    """What an importer produces; `import_suite` turns it into YAML via `dump_suite`."""

    name: str
    cases: list[dict[str, Any]]
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str | None = None


def slugify(text: str, max_len: int = 40) -> str:
    """ASCII, lower-case, dash-separated: case ids must match `CASE_ID` and read well."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _NON_SLUG.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > max_len:
        cut = slug[: max_len + 1]
        # End on a whole word when that keeps at least half the room.
        slug = cut[: cut.rindex("-")] if cut.rfind("-") >= max_len // 2 else slug[:max_len]
    return slug.strip("-") or "item"


class UniqueIds:
    """Hands out ids, suffixing `-2`, `-3`, ... on collision, so re-imports stay stable."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def take(self, base: str) -> str:
        candidate, n = base, 1
        while candidate in self._taken:
            n += 1
            candidate = f"{base}-{n}"
        self._taken.add(candidate)
        return candidate


def require_file(path: Path) -> None:
    """Fail early with the path the user typed, rather than a bare OSError later."""
    if not path.exists():
        raise SuiteError(str(path), "file not found")
    if not path.is_file():
        raise SuiteError(str(path), "expected a file, found a directory")


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; bad lines name their line."""
    require_file(path)
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise SuiteError(str(path), f"invalid JSON: {error.msg}", line=number) from None
            if not isinstance(record, dict):
                raise SuiteError(str(path), "each line must be a JSON object", line=number)
            yield number, record


def text_field(record: dict[str, Any], key: str, path: Path, line: int) -> str:
    """A required non-empty string field; the error says which key and where."""
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SuiteError(str(path), f"missing or empty string field {key!r}", line=line, key=key)
    return value.strip()


def split_answers(text: str) -> list[str]:
    """Split a `;`-separated answer list, dropping blanks and duplicates (order kept)."""
    return dedupe(part.strip() for part in text.split(";"))


def dedupe(items: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    """Drop empty strings, repeats, and `exclude`, comparing case-insensitively."""
    seen = {item.casefold() for item in exclude}
    out: list[str] = []
    for item in items:
        key = item.casefold()
        if item and key not in seen:
            seen.add(key)
            out.append(item)
    return out


def names_option(setting: str, value: Any) -> list[str]:
    """Accept `"a,b"` (from the command line) or a list (from Python) as a list of names."""
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
    elif isinstance(value, Iterable):
        names = [str(part).strip() for part in value]
    else:
        raise ConfigError(setting, f"expected a name or a list of names, got {value!r}")
    names = [name for name in names if name]
    if not names:
        raise ConfigError(setting, "the list is empty")
    return names


def positive_int(setting: str, value: Any) -> int:
    """Accept ints or digit strings (command-line options arrive as text)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(setting, f"expected a positive integer, got {value!r}") from None
    if isinstance(value, bool) or number < 1 or (isinstance(value, float) and number != value):
        raise ConfigError(setting, f"expected a positive integer, got {value!r}")
    return number
