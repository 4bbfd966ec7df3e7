"""Add a found wording to its case in the suite file as a paraphrase: a regression test
(in a conversation, a paraphrase of its first turn, the one explore perturbs).

The file is edited as text, not re-dumped: the new item is inserted where the YAML parser
says the case's `paraphrases` end (or a `paraphrases` key is added after the case's last
key), so every comment, quote, blank line and indentation of the file stays byte for
byte. (A round-trip dumper was tried first: it moved the comment that precedes the next
case under the new item and re-spaced end-of-line comments.) The edited text must load
and give the case exactly the old paraphrases plus the new one, else nothing is written;
the file is replaced atomically. A wording the case already has is never added twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from stabtest.core.atomic import write_atomic
from stabtest.core.errors import SuiteError
from stabtest.core.loader import load_suite, parse_suite
from stabtest.core.suite import Case
from stabtest.variants.perturb import OPERATORS


@dataclass(frozen=True)
class WriteBack:
    """What happened to the suite file: `added` false when the case already had it."""

    path: Path
    case_id: str
    added: bool
    line: int | None = None


def add_paraphrase(path: Path, case_id: str, text: str, display: str | None = None) -> WriteBack:
    """Add `text` to the paraphrases of case `case_id` in the suite at `path`."""
    shown = display or str(path)
    suite = load_suite(path, shown, operators=OPERATORS)
    index = next((i for i, c in enumerate(suite.cases) if c.id == case_id), None)
    if index is None:
        raise SuiteError(shown, f"no case {case_id!r} (cases: {_ids(suite.cases)})")
    case = suite.cases[index]
    if text == case.prompt or text in _paraphrases(case):
        return WriteBack(path, case_id, added=False)
    with path.open(encoding="utf-8", newline="") as handle:  # keep \r\n as it is
        source = handle.read()
    edited = _insert(source, shown, _target(source, index), [*_paraphrases(case), text])
    check = parse_suite(edited, shown, operators=OPERATORS).cases[index]
    if check.id != case_id or _paraphrases(check) != (*_paraphrases(case), text):
        raise SuiteError(
            shown, f"could not add the paraphrase to case {case_id!r} by editing the text"
        )
    write_atomic(path, edited)
    return WriteBack(path, case_id, added=True, line=_last_paraphrase_line(edited, index))


def _paraphrases(case: Case) -> tuple[str, ...]:
    """The wordings of what explore perturbs: the prompt, or a conversation's opening."""
    return case.turns[0].paraphrases if case.turns else case.paraphrases


def _ids(cases: Sequence[Case]) -> str:
    return ", ".join(c.id for c in cases)


def _case_node(source: str, index: int) -> yaml.Node:
    root = yaml.compose(source, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    cases = _value(root, "cases")
    assert isinstance(cases, yaml.SequenceNode)  # the suite loaded, so cases is a list
    node: yaml.Node = cases.value[index]
    return node


def _target(source: str, index: int) -> yaml.Node:
    """The mapping that holds the paraphrases: the case, or its first turn."""
    node = _case_node(source, index)
    turns = _value(node, "turns")
    if isinstance(turns, yaml.SequenceNode) and turns.value:
        first: yaml.Node = turns.value[0]
        return first
    return node


def _last_paraphrase_line(source: str, index: int) -> int | None:
    own = _value(_target(source, index), "paraphrases")
    if not isinstance(own, yaml.SequenceNode) or not own.value:
        return None
    return int(own.value[-1].start_mark.line) + 1


def _insert(source: str, shown: str, node: yaml.Node, items: list[str]) -> str:
    """The source with the new item (`items[-1]`) in place in `node`'s paraphrases."""
    newline = "\r\n" if "\r\n" in source else "\n"
    if not isinstance(node, yaml.MappingNode):
        raise SuiteError(shown, "the case is not a plain mapping", line=node.start_mark.line + 1)
    own = _value(node, "paraphrases")
    if isinstance(own, yaml.SequenceNode) and own.flow_style:
        closing = own.end_mark.index - 1  # the `]`
        separator = ", " if own.value else ""
        return source[:closing] + separator + _flow(items[-1]) + source[closing:]
    if isinstance(own, yaml.SequenceNode) and own.value:
        dash = own.start_mark.column
        at = _line_end(source, own.value[-1].end_mark)
        return _splice(source, at, f"{' ' * dash}- {_scalar(items[-1])}", newline)
    if own is not None:
        raise SuiteError(
            shown,
            "cannot add a paraphrase: 'paraphrases' is not a list",
            line=own.start_mark.line + 1,
        )
    # No key of its own (none, or inherited through `<<`): add one with the full list.
    if node.flow_style:
        closing = node.end_mark.index - 1  # the `}`
        flow = "[" + ", ".join(_flow(item) for item in items) + "]"
        return source[:closing] + f", paraphrases: {flow}" + source[closing:]
    column = node.value[0][0].start_mark.column
    at = _line_end(source, node.value[-1][1].end_mark)
    lines = [f"{' ' * column}paraphrases:"]
    lines += [f"{' ' * (column + 2)}- {_scalar(item)}" for item in items]
    return _splice(source, at, newline.join(lines), newline)


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next(
        (v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None
    )


def _line_end(source: str, mark: yaml.Mark) -> int:
    """Where the line that a node ends on ends (after its newline): a new line goes there.
    A node that ends at the start of a line (a block scalar) ends before that line."""
    if mark.column == 0:
        return int(mark.index)
    end = source.find("\n", mark.index)
    return len(source) if end < 0 else end + 1


def _splice(source: str, at: int, line: str, newline: str) -> str:
    before = source[:at]
    if before and not before.endswith("\n"):
        before += newline
    return before + line + newline + source[at:]


def _scalar(text: str) -> str:
    """`text` as a block-sequence item: plain or quoted the way YAML would write it when
    that fits on one line, else double-quoted with escapes."""
    dumped = yaml.safe_dump(text, allow_unicode=True, width=2**31 - 1)
    dumped = dumped.removesuffix("\n...\n").removesuffix("\n")
    return dumped if "\n" not in dumped else _flow(text)


def _flow(text: str) -> str:
    """Double-quoted: valid in any context, flow lists included (JSON's escapes are
    YAML's)."""
    return json.dumps(text, ensure_ascii=False)
