"""Text normalisation and number extraction shared by the judges."""

from __future__ import annotations

import re
import unicodedata

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NON_WORD = re.compile(r"[^\w\s.-]|(?<!\d)[.-]|[.-](?!\d)")
_SPACE = re.compile(r"\s+")
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?")
_FINAL_MARKERS = (
    re.compile(r"####\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)"),
    re.compile(r"answer\s*(?:is|:|=)\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)", re.IGNORECASE),
    re.compile(r"\\boxed\{\s*(-?\d[\d,]*(?:\.\d+)?)\s*\}"),
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


def final_number(text: str) -> tuple[float | None, bool]:
    """The answer's final number and whether an explicit marker ("####", "answer is",
    boxed) introduced it; else the last number in the text."""
    for marker in _FINAL_MARKERS:
        found = marker.findall(text)
        if found:
            return parse_number(found[-1]), True
    numbers = NUMBER.findall(text)
    return (parse_number(numbers[-1]), False) if numbers else (None, False)


def numbers_match(a: float, b: float, tolerance: float) -> bool:
    return abs(a - b) <= max(tolerance, tolerance * abs(b))
