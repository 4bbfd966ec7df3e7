"""Read suite files and marker arguments into validated `Suite` / `Case` objects.

YAML is composed into nodes first so that every key keeps its line: a validation error is
reported as `suites/x.yaml:12 [cases[1].sampling.temperature]: ...`, which is the place
the user has to edit.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stabtest.core.errors import SuiteError
from stabtest.core.suite import Case, CaseDefaults, Suite

SUITE_KEYS = {"suite", "description", "defaults", "cases"}
Loc = tuple[str | int, ...]


def _to_python(node: yaml.Node, loc: Loc, lines: dict[Loc, int], loader: Any) -> Any:
    """Turn a composed YAML node into plain Python, recording the line of every path."""
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(loader.construct_object(key_node, deep=True))
            lines[(*loc, key)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, (*loc, key), lines, loader)
            lines[(*loc, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*loc, i), lines, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _yaml_error(path: str, error: yaml.YAMLError) -> SuiteError:
    """Point at where the broken construct starts (an unclosed bracket's line), and say
    where the parser gave up."""
    context = getattr(error, "context_mark", None)
    problem_mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    mark = context or problem_mark
    line = mark.line + 1 if mark is not None else None
    if context is not None and problem_mark is not None:
        what = getattr(error, "context", "") or ""
        problem = f"{what}: {problem} (parser stopped at line {problem_mark.line + 1})"
    return SuiteError(path, f"invalid YAML: {problem}", line=line)


def _line_for(loc: Loc, lines: Mapping[Loc, int]) -> int | None:
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _raise_validation(
    path: str, error: ValidationError, prefix: Loc, lines: Mapping[Loc, int]
) -> None:
    first = error.errors()[0]
    loc = (*prefix, *(part for part in first["loc"] if part != "__root__"))
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}"
    elif first["type"] == "value_error":
        message = str(first.get("ctx", {}).get("error", message))
    elif first["type"] == "missing":
        message = f"missing required key {loc[-1]!r}"
    raise SuiteError(path, message, line=_line_for(loc, lines), key=_dotted(loc)) from None


def build_case(
    raw: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
    *,
    path: str = "<marker>",
    prefix: Loc = (),
    lines: Mapping[Loc, int] | None = None,
    operators: Collection[str] | None = None,
) -> Case:
    """Validate one case, with suite defaults merged underneath its own keys. Operator
    names in `perturbations` are checked against `operators` when given (the caller
    passes the registry of stabtest.variants.perturb)."""
    lines = lines or {}
    data = _merge({k: v for k, v in (defaults or {}).items() if v is not None}, raw)
    data.setdefault("line", _line_for(prefix, lines))
    try:
        return Case.model_validate(data, context={"operators": operators})
    except ValidationError as error:
        _raise_validation(path, error, prefix, lines)
        raise AssertionError("unreachable") from None


def parse_suite(text: str, path: str, operators: Collection[str] | None = None) -> Suite:
    """Parse suite text; `path` is only used for names and error messages."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as error:
        raise _yaml_error(path, error) from None
    if root is None:
        raise SuiteError(path, "the suite is empty; it needs a 'cases' list", line=1)
    lines: dict[Loc, int] = {}
    try:
        data = _to_python(root, (), lines, loader)
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SuiteError(path, "a suite must be a mapping with a 'cases' list", line=1)
    for key in data:
        if key not in SUITE_KEYS:
            raise SuiteError(
                path,
                f"unknown key {key!r} (expected one of {sorted(SUITE_KEYS)})",
                line=lines.get((key,)),
                key=key,
            )
    cases_raw = data.get("cases")
    if not isinstance(cases_raw, list) or not cases_raw:
        raise SuiteError(
            path, "'cases' must be a non-empty list", line=lines.get(("cases",), 1), key="cases"
        )
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise SuiteError(path, "'defaults' must be a mapping", lines.get(("defaults",)), "defaults")
    try:
        CaseDefaults.model_validate(defaults, context={"operators": operators})
    except ValidationError as error:
        _raise_validation(path, error, ("defaults",), lines)
    cases: list[Case] = []
    seen: dict[str, int | None] = {}
    for index, raw in enumerate(cases_raw):
        prefix: Loc = ("cases", index)
        if not isinstance(raw, dict):
            raise SuiteError(
                path, "each case must be a mapping", lines.get(prefix), f"cases[{index}]"
            )
        case = build_case(raw, defaults, path=path, prefix=prefix, lines=lines, operators=operators)
        if case.id in seen:
            raise SuiteError(
                path,
                f"duplicate case id {case.id!r} (first defined on line {seen[case.id]})",
                line=lines.get((*prefix, "id")),
                key=f"cases[{index}].id",
            )
        seen[case.id] = case.line
        cases.append(case)
    name = str(data.get("suite") or Path(path).stem)
    return Suite(name=name, path=path, cases=tuple(cases))


def load_suite(
    path: Path | str, display_path: str | None = None, operators: Collection[str] | None = None
) -> Suite:
    """Read and validate a suite file; errors name `display_path` (default: `path`)."""
    shown = display_path or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SuiteError(shown, f"cannot read suite: {error.strerror}") from None
    return parse_suite(text, shown, operators)


def dump_suite(
    suite_name: str,
    cases: list[dict[str, Any]],
    defaults: dict[str, Any] | None = None,
    description: str | None = None,
) -> str:
    """Write plain case dicts as suite YAML (used by importers); validates on the way."""
    document: dict[str, Any] = {"suite": suite_name}
    if description:
        document["description"] = description
    if defaults:
        document["defaults"] = defaults
    document["cases"] = cases
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    parse_suite(text, f"<{suite_name}>")
    return text
