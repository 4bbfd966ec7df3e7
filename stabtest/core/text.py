"""Text normalisation and number extraction shared by the judges.

Number words are turned into digits first (text2num: "twelve" -> 12, "three hundred and
forty two" -> 342; a lone "one" stays a word, as in "one of them"), so every rule below
sees digits.
"""

from __future__ import annotations

import re
import unicodedata

from text_to_num import alpha2digit

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NON_WORD = re.compile(r"[^\w\s.-]|(?<!\d)[.-]|[.-](?!\d)")
_SPACE = re.compile(r"\s+")
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_NUM = r"-?\d[\d,]*(?:\.\d+)?"
_CURRENCY = r"[$\u20ac\u00a3]?"
# Markers that introduce the final answer; the clause after one runs to the sentence end.
_HARD_MARKERS = (
    re.compile(rf"####\s*{_CURRENCY}\s*({_NUM})"),
    re.compile(rf"\\boxed\{{\s*{_CURRENCY}\s*({_NUM})\s*\}}"),
)
_ANSWER_CLAUSE = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:|=|would be|will be)\s*"
    r"([^\n]*?)(?:(?<!\d)\.(?!\d)|$|\n)",
    re.IGNORECASE,
)
# A result stated as `= N`, or `is / are / equals / makes ... N` with N right after the verb.
_RESULT = re.compile(
    rf"(?:=|\b(?:is|are|was|were|equals|makes?|made|gives?|costs?|comes to|totals?|"
    rf"total of|earns?|earned|has|have|had|needs?|needed|pays?|paid|left with)\b)"
    rf"\s*(?:about |approximately |exactly |a total of |only |just )?{_CURRENCY}\s*({_NUM})"
    rf"(?!\s*[x*\u00d7/+\-]\s*\d)",
    re.IGNORECASE,
)


def normalize(text: str) -> str:
    """Lowercase, strip accents, punctuation (but not decimal points) and articles."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = _NON_WORD.sub(" ", text)
    text = _ARTICLES.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def contains_phrase(haystack: str, needle: str) -> bool:
    """Whole-word containment of normalised `needle` in normalised `haystack`."""
    needle = normalize(needle)
    return bool(needle) and f" {needle} " in f" {normalize(haystack)} "


def parse_number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").rstrip("."))
    except ValueError:
        return None


def digits(text: str) -> str:
    """`text` with English number words written as digits ("twelve" -> "12")."""
    try:
        converted: str = alpha2digit(text, "en")
    except Exception:  # a converter failure must never cost the judgement
        return text
    return converted


def _clause_result(clause: str) -> float | None:
    """The result a clause states: after its last `=`, else its first number."""
    if "=" in clause:
        after = NUMBER.findall(clause.rsplit("=", 1)[1])
        if after:
            return parse_number(after[0])
    found = NUMBER.findall(clause)
    return parse_number(found[0]) if found else None


def final_number(text: str) -> tuple[float | None, bool]:
    """The answer's final number and whether an explicit marker introduced it.

    In order: `####` or `\\boxed{}`; the last "the answer is ..." clause (its result: what
    follows its last `=`, as in "The answer is 6 x 4 = 24"); else the last stated result
    (`= N`, "is N", "makes $N", "a total of N": "7 and 5 is 12, which is the sum of 7 and
    5" gives 12); else the last number. Number words count as numbers."""
    text = digits(text)
    for marker in _HARD_MARKERS:
        found = marker.findall(text)
        if found:
            return parse_number(found[-1]), True
    clauses = [c for c in _ANSWER_CLAUSE.findall(text) if NUMBER.search(c)]
    if clauses:
        return _clause_result(clauses[-1]), True
    results = _RESULT.findall(text)
    if results:
        return parse_number(results[-1]), False
    numbers = NUMBER.findall(text)
    return (parse_number(numbers[-1]), False) if numbers else (None, False)


def numbers_match(a: float, b: float, tolerance: float) -> bool:
    return abs(a - b) <= max(tolerance, tolerance * abs(b))
