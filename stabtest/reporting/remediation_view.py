"""remediation.json read back: the terminal's account of a remediation run.

The file is written by stabtest.remediation.loop (a layer above this one), so it is read
here as JSON, checked for its schema version, and rendered: the verdict, one line per
gate criterion with its 95% interval, what to do about each missed one, the search, and
before/after tables per side and per suite. `stabtest remediate` prints it when a run
ends and `stabtest report` prints it again from the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tabulate import tabulate

from stabtest.core.errors import StabtestError

SCHEMA_VERSION = 2
"""2: criteria with intervals, advice, search trials, roles, per suite, rounds, status.
1 (no `schema_version` key): a single round's manifest with `missed`."""


def read_remediation(path: Path) -> dict[str, Any]:
    """The file as a mapping; a clear error for a file that is not one, or is newer."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StabtestError(f"{path}: cannot read remediation results ({error})") from None
    if not isinstance(data, dict):
        raise StabtestError(f"{path}: expected a JSON object of remediation results")
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise StabtestError(
            f"{path}: schema_version {version!r} is newer than this stabtest reads "
            f"({SCHEMA_VERSION}); upgrade stabtest"
        )
    return data


def _m(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _f(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _seconds(value: Any) -> str:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return f"{value:.0f} s" if number else "-"


def _side_rows(data: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for key, title in (("treated", "held-out (treated cases)"), ("control", "control")):
        side = _m(data.get(key))
        before, after = _m(side.get("before")), _m(side.get("after"))
        if not before:
            continue
        rows.append(
            [
                title,
                f"{before.get('cases', '-')} / {before.get('answers', '-')}",
                *(
                    f"{_f(before.get(m))} -> {_f(after.get(m))}"
                    for m in ("si", "fc", "rdr", "pass_rate")
                ),
            ]
        )
    return rows


def _suite_rows(data: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for row in data.get("per_suite") or ():
        row = _m(row)
        before, after = _m(row.get("before")), _m(row.get("after"))
        rows.append(
            [
                str(row.get("suite", "?")),
                str(row.get("role", "?")),
                str(before.get("cases", "-")),
                *(f"{_f(before.get(m))} -> {_f(after.get(m))}" for m in ("si", "fc")),
            ]
        )
    return rows


def remediation_lines(data: Mapping[str, Any]) -> Iterator[str]:
    """The account of a remediation run, line by line."""
    search = _m(data.get("search"))
    roles = _m(data.get("roles"))
    if roles:
        yield (
            f"round {data.get('round', '?')}: {data.get('examples', '?')} example(s) "
            f"{dict(_m(data.get('example_families')))}; cases: {roles.get('treated', 0)} treated, "
            f"{roles.get('retain', 0)} retain, {roles.get('control', 0)} control; "
            f"{roles.get('validation_prompts', 0)} validation wording(s)"
        )
    if search:
        chosen = next((t for t in search.get("trials") or () if _m(t).get("chosen")), None)
        yield (
            f"search: {search.get('configs_tried', '?')} configuration(s), "
            f"{len(search.get('trials') or ())} checkpoint(s) in {_seconds(search.get('seconds'))} "
            f"(budget {search.get('budget_minutes', '?')} min"
            + (", stopped by it" if search.get("stopped_by_budget") else "")
            + (", interrupted" if search.get("interrupted") else "")
            + ")"
        )
        if chosen is not None:
            c = _m(chosen)
            yield (
                f"chosen on validation: lr {c.get('learning_rate')}, retain "
                f"{c.get('retain_weight')}, r {c.get('lora_r')}, step {c.get('step')} of "
                f"{data.get('steps', '?')} (objective {_f(c.get('objective'))}, kept "
                f"{_f(c.get('kept'))})"
            )
    rows = _side_rows(data)
    if rows:
        yield tabulate(
            rows,
            headers=["cases", "cases / answers", "SI", "FC", "RDR", "pass rate"],
            disable_numparse=True,
        )
    suites = _suite_rows(data)
    if len(suites) > 1:
        yield tabulate(
            suites, headers=["suite", "role", "cases", "SI", "FC"], disable_numparse=True
        )
    criteria = [_m(c) for c in data.get("criteria") or ()]
    for criterion in criteria:
        yield f"  {'pass' if criterion.get('passed') else 'MISS'}: {criterion.get('line', '')}"
    if not criteria:
        yield from (f"  missed: {line}" for line in data.get("missed") or ())
    for advice in data.get("advice") or ():
        yield f"  to do: {advice}"
    status = str(data.get("status") or ("accepted" if data.get("accepted") else "rejected"))
    rounds = data.get("rounds") or ()
    if len(rounds) > 1:
        yield "rounds: " + ", ".join(
            f"{_m(r).get('round')}: {'accepted' if _m(r).get('accepted') else 'rejected'}"
            for r in rounds
        )
    yield f"model {data.get('model', '?')}: {status.upper()}"
    if data.get("accepted_model") and data.get("accepted_model") != data.get("model"):
        yield f"model to ship: {data.get('accepted_model')}"
