"""Read suite files and marker arguments into validated `Suite` / `Case` objects.

YAML is composed into nodes first so that every key keeps its line: a validation error is
reported as `suites/x.yaml:12 [cases[1].sampling.temperature]: ...`, which is the place
the user has to edit. Whatever the file holds (bytes that are not UTF-8, tags, recursive
aliases, an alias bomb, merge keys), the one error that comes out is that `SuiteError`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from stabtest.core.errors import SuiteError
from stabtest.core.ids import CollectMode, case_uid, collect_mode
from stabtest.core.suite import Case, CaseDefaults, Suite

SUITE_KEYS = {"suite", "description", "defaults", "cases", "collect"}
MAX_NODES = 100_000
"""How many YAML nodes a suite may expand to once aliases are followed, at least: far
below an alias bomb ("billion laughs"), which would otherwise exhaust memory and take the
other suites down with it. A thousand cases are about 20,000."""
MAX_EXPANSION = 10
"""...or this many times the nodes the file itself writes: a suite of 50,000 cases, with
no alias at all, is large, not a bomb (its memory is its file's)."""
MAX_DEPTH = 100
"""How deeply values may nest; a suite needs five levels."""
Loc = tuple[str | int, ...]

_YAML = "tag:yaml.org,2002:"
_MERGE, _VALUE = f"{_YAML}merge", f"{_YAML}value"
_COLLECTION_TAGS: dict[type[yaml.Node], str] = {
    yaml.MappingNode: f"{_YAML}map",
    yaml.SequenceNode: f"{_YAML}seq",
}
_CONSTRUCTOR_ERRORS = (
    yaml.YAMLError,
    ValueError,
    ArithmeticError,
    LookupError,
    AttributeError,
    TypeError,
)
"""What PyYAML's scalar constructors raise on odd text (`!!int abc`, `!!float ''`,
`!!bool maybe`, `!!timestamp 2020-13-45`, ...)."""
# Characters YAML forbids in a stream (the YAML 1.1 printable set, as PyYAML's reader).
_NOT_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_KEY_PARTS = 12  # a key path longer than this (deep nesting) is cut short in messages
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _line_of(text: str, index: int) -> int:
    """The 1-based line of `text[index]`, counting line breaks as YAML does."""
    return len(_LINE_BREAK.findall(text, 0, index)) + 1


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _tag(node: yaml.Node) -> str:
    """`!!int` rather than `tag:yaml.org,2002:int`: as the user wrote it."""
    return str(node.tag).replace(_YAML, "!!")


def _one_line(text: str) -> str:
    """Messages quote the user's text; a newline in it must not break the one-line error."""
    return " ".join(text.split())


class _Reader:
    """Turns a composed YAML document into plain Python, recording the line of every path.

    The composed nodes form a graph (an alias is the anchored node itself), so the whole
    graph is measured before anything is built: a cycle (`a: &x [*x]`), nesting deeper
    than MAX_DEPTH or an expansion beyond MAX_NODES is refused at the line to edit,
    without expanding it. Merge keys (`<<: *defaults`) are expanded as YAML 1.1 says;
    any scalar PyYAML cannot construct is a SuiteError at its key.
    """

    def __init__(self, path: str, loader: Any):
        self.path = path
        self.loader = loader
        self.lines: dict[Loc, int] = {}
        self._pairs_of: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = {}
        self._merging: set[int] = set()
        self._measured: dict[int, tuple[int, int]] = {}  # id -> (nodes, height), capped
        self._open: set[int] = set()
        self.limit = MAX_NODES

    def fail(self, node: yaml.Node, loc: Loc, message: str) -> SuiteError:
        return SuiteError(self.path, message, line=_line(node), key=_dotted(loc) or None)

    def read(self, root: yaml.Node) -> Any:
        self.limit = max(MAX_NODES, MAX_EXPANSION * _written(root))
        if self._measure(root, (), 0)[0] > self.limit:
            node, loc = self._bomb(root, ())
            raise self.fail(
                node,
                loc,
                f"aliases expand to more than {self.limit:,} YAML nodes from here "
                f"(an alias bomb?); a suite may expand to {MAX_NODES:,} nodes, or to "
                f"{MAX_EXPANSION} times the nodes it writes",
            )
        return self._build(root, ())

    # -- structure: merge keys, cycles, depth, size -----------------------------------

    def _key(self, node: yaml.Node, loc: Loc) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, loc, "a mapping key must be a plain word, not a list or mapping")
        return str(node.value)

    def _pairs(self, node: yaml.MappingNode, loc: Loc) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """The mapping's keys with merge keys expanded: its own keys win over merged ones,
        and an earlier merged mapping over a later one. Computed once per node."""
        known = self._pairs_of.get(id(node))
        if known is not None:
            return known
        if id(node) in self._merging:
            raise self.fail(node, loc, "recursive merge: this mapping merges itself ('<<')")
        if len(self._merging) >= MAX_DEPTH:
            raise self.fail(node, loc, f"merge keys ('<<') nest deeper than {MAX_DEPTH} levels")
        self._merging.add(id(node))
        own: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        merged: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            is_merge = key_node.tag == _MERGE
            key = "<<" if is_merge else self._key(key_node, loc)
            if key in seen:
                raise self.fail(
                    key_node,
                    (*loc, key),
                    f"duplicate key {key!r} (first on line {_line(seen[key])})",
                )
            seen[key] = key_node
            if not is_merge:
                own[key] = (key_node, value_node)
                continue
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise self.fail(
                        source,
                        (*loc, key),
                        "a merge key '<<' takes a mapping or a list of mappings",
                    )
                for name, pair in self._pairs(source, (*loc, key)).items():
                    merged.setdefault(name, pair)
        self._merging.discard(id(node))
        pairs = {**merged, **own}
        self._pairs_of[id(node)] = pairs
        return pairs

    def _children(self, node: yaml.Node, loc: Loc) -> list[tuple[str | int, yaml.Node]]:
        if isinstance(node, yaml.MappingNode):
            return [(key, value) for key, (_, value) in self._pairs(node, loc).items()]
        if isinstance(node, yaml.SequenceNode):
            return list(enumerate(node.value))
        return []

    def _measure(self, node: yaml.Node, loc: Loc, depth: int) -> tuple[int, int]:
        """(nodes, height) of `node` once expanded, both capped just above their limits.
        Every node is measured once, however many aliases point at it."""
        known = self._measured.get(id(node))
        if known is None:
            if id(node) in self._open:
                raise self.fail(
                    node,
                    loc,
                    f"recursive alias: the node anchored on line {_line(node)} contains itself",
                )
            if depth >= MAX_DEPTH:
                raise self.fail(node, loc, f"values nest deeper than {MAX_DEPTH} levels")
            expected = _COLLECTION_TAGS.get(type(node))
            if expected is not None and node.tag != expected:
                raise self.fail(
                    node, loc, f"unsupported tag {_tag(node)!r} (a suite is plain YAML)"
                )
            self._open.add(id(node))
            nodes, height = 1, 0
            for part, child in self._children(node, loc):
                child_nodes, child_height = self._measure(child, (*loc, part), depth + 1)
                key = 1 if isinstance(part, str) else 0
                nodes = min(nodes + key + child_nodes, self.limit + 1)
                height = max(height, child_height + 1)
            self._open.discard(id(node))
            known = (nodes, height)
            self._measured[id(node)] = known
        if depth + known[1] >= MAX_DEPTH:
            raise self.fail(node, loc, f"values nest deeper than {MAX_DEPTH} levels")
        return known

    def _bomb(self, node: yaml.Node, loc: Loc) -> tuple[yaml.Node, Loc]:
        """The innermost node that alone expands beyond the limit: where the blow-up is."""
        for part, child in self._children(node, loc):
            if self._measured[id(child)][0] > self.limit:
                return self._bomb(child, (*loc, part))
        return node, loc

    # -- values ----------------------------------------------------------------------

    def _build(self, node: yaml.Node, loc: Loc) -> Any:
        self.lines[loc] = _line(node)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key, (key_node, value_node) in self._pairs(node, loc).items():
                out[key] = self._build(value_node, (*loc, key))
                self.lines[(*loc, key)] = _line(key_node)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._build(item, (*loc, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)  # the composer makes no other kind
        return self._scalar(node, loc)

    def _scalar(self, node: yaml.ScalarNode, loc: Loc) -> Any:
        if node.tag in (_VALUE, _MERGE):  # a plain `=` or `<<` as a value is just text
            return str(node.value)
        try:
            return self.loader.construct_object(node, deep=True)
        except _CONSTRUCTOR_ERRORS as error:
            tag = _tag(node)
            if isinstance(error, yaml.YAMLError) and "determine a constructor" in str(error):
                unsupported = f"unsupported tag {tag!r} (a suite is plain YAML)"
                raise self.fail(node, loc, unsupported) from None
            # ValueError texts say what is wrong ("month must be in 1..12"); the others
            # are PyYAML internals ("'NoneType' object has no attribute 'groupdict'").
            reason = getattr(error, "problem", None) or str(error)
            if not isinstance(error, yaml.YAMLError | ValueError):
                reason = f"not a valid {tag}"
            implicit = node.tag == self.loader.resolve(yaml.ScalarNode, node.value, (True, False))
            hint = "; quote it to keep it as text" if implicit and not node.style else ""
            message = f"cannot read {_quote(node.value)} as {tag}: {reason}{hint}"
            raise self.fail(node, loc, _one_line(message)) from None


def _quote(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _yaml_error(path: str, error: yaml.YAMLError) -> SuiteError:
    """Point at where the broken construct starts (an unclosed bracket's line), and say
    where the parser gave up."""
    context = getattr(error, "context_mark", None)
    problem_mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    mark = context or problem_mark
    line = mark.line + 1 if mark is not None else 1
    if context is not None and problem_mark is not None:
        what = getattr(error, "context", "") or ""
        problem = f"{what}: {problem} (parser stopped at line {problem_mark.line + 1})"
    return SuiteError(path, _one_line(f"invalid YAML: {problem}"), line=line)


def _line_for(loc: Loc, lines: Mapping[Loc, int]) -> int | None:
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def _dotted(loc: Loc) -> str:
    """`cases[1].sampling.temperature`; a key that is not printable text is quoted, so
    the error stays on one line."""
    text = ""
    for part in loc[:_KEY_PARTS]:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        name = part if part.isprintable() and len(part) <= 40 else _quote(part)
        text += f".{name}" if text else name
    return text + ("..." if len(loc) > _KEY_PARTS else "")


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_WITHIN_CASE = re.compile(
    r"^((?:turns\[\d+\]|prompt|reference|aliases|incorrect|paraphrases|model_paraphrases"
    r"|thresholds|evidence)"
    r"(?:\.[a-z_]+)?): (.+)$",
    re.DOTALL,
)
"""`turns[2].recall: ...`: a case validator's error about one key of the case."""


def _parts(path: str) -> Loc:
    """`turns[2].recall` -> ("turns", 2, "recall")."""
    return tuple(int(part) if part.isdigit() else part for part in re.findall(r"[a-z_]+|\d+", path))


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
        located = _WITHIN_CASE.match(message)
        if located is not None:  # a case-wide check that names the key it is about
            where, message = located.groups()
            loc = (*loc, *_parts(where))
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
    """Parse suite text; `path` is only used for names and error messages. Any input
    either parses or raises one SuiteError naming `path`, the line and, where there is
    one, the key (see _Reader for the limits)."""
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        raise SuiteError(
            path,
            f"character U+{ord(bad.group()):04X} is not allowed in YAML; remove it",
            line=_line_of(text, bad.start()),
        )
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as error:
            raise _yaml_error(path, error) from None
        except RecursionError:  # the pure-Python composer on deep nesting, without libyaml
            raise SuiteError(path, "values nest too deeply", line=1) from None
        if root is None:
            raise SuiteError(path, "the suite is empty; it needs a 'cases' list", line=1)
        reader = _Reader(path, loader)
        data = reader.read(root)
        lines = reader.lines
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SuiteError(path, "a suite must be a mapping with a 'cases' list", line=1)
    for name in ("suite", "description"):
        if isinstance(data.get(name), dict | list):
            raise SuiteError(path, f"'{name}' must be text", lines.get((name,)), name)
    for key in data:
        if key not in SUITE_KEYS:
            raise SuiteError(
                path,
                f"unknown key {key!r} (expected one of {sorted(SUITE_KEYS)})",
                line=lines.get((key,)),
                key=key,
            )
    collect = _collect(path, data, lines)
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
    return Suite(name=name, path=path, cases=tuple(cases), collect=collect)


def _collect(path: str, data: Mapping[str, Any], lines: Mapping[Loc, int]) -> CollectMode | None:
    """The suite's `collect` key (None when absent: the setting decides)."""
    if "collect" not in data:
        return None
    try:
        return collect_mode(data["collect"])
    except ValueError as error:
        raise SuiteError(path, str(error), lines.get(("collect",)), "collect") from None


def load_suite(
    path: Path | str, display_path: str | None = None, operators: Collection[str] | None = None
) -> Suite:
    """Read and validate a suite file; errors name `display_path` (default: `path`)."""
    shown = display_path or str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise SuiteError(shown, f"cannot read suite: {error.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = _line_of(data[: error.start].decode("utf-8"), error.start)
        raise SuiteError(
            shown, f"not UTF-8: byte 0x{data[error.start]:02x} cannot be decoded", line=line
        ) from None
    return parse_suite(text, shown, operators)


def find_cases(
    root: Path,
    patterns: Collection[str],
    wanted: Collection[str],
    operators: Collection[str] | None = None,
) -> list[tuple[str, Case]]:
    """(scope, case) of the suite files under `root` that match one of `patterns` (glob, as
    the `suites` setting names them) and whose case uids are in `wanted`: the cases of a
    finished run's report, read again from their suites."""
    found = []
    for path in sorted(root.rglob("*.y*ml")):
        scope = path.relative_to(root).as_posix()
        if not any(fnmatch.fnmatch(scope, pattern) for pattern in patterns):
            continue
        for case in load_suite(path, scope, operators).cases:
            if case_uid(scope, case.id) in wanted:
                found.append((scope, case))
    return found


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


def _written(root: yaml.Node) -> int:
    """The nodes the file writes, each once however many aliases point at it."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return len(seen)
