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


# -- text for a terminal and URLs for messages --------------------------------------------

SHOWN_CHARS = 1000
"""How much of one text (a prompt, an answer, a reason) stabtest prints: a longer one keeps
its first three quarters and last quarter around `… [+N chars] …` (the tail is where an
answer usually states its result). The JSON report keeps every text whole."""

# C0 controls, DEL, C1 controls (0x9b is a one-byte CSI on some terminals), bidi overrides
# and isolates (text that reads differently than it is stored), line/paragraph separators,
# and lone surrogates (unencodable: printing one raises).
_UNSAFE = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff"
)
_UNSAFE_IN_LAYOUT = re.compile(f"[{_UNSAFE}]")
_UNSAFE_ON_ONE_LINE = re.compile(f"[\n\t{_UNSAFE}]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def terminal_safe(text: str, *, layout: bool = True) -> str:
    """`text` with every control character shown as an escape (ESC as `\\x1b`): model
    output must not clear the screen, retitle the window, plant a hyperlink, ring the bell
    or reorder a line. `layout` keeps newlines and tabs; without it the text is one line."""
    return (_UNSAFE_IN_LAYOUT if layout else _UNSAFE_ON_ONE_LINE).sub(_visible, text)


def shorten_middle(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` if it has at most `limit` characters, else its head and tail around
    `… [+N chars] …`, N being how many were left out."""
    if len(text) <= limit:
        return text
    tail = limit // 4
    head = limit - tail
    return f"{text[:head]} … [+{len(text) - limit} chars] … {text[len(text) - tail :]}"


def for_terminal(text: str, limit: int = SHOWN_CHARS, *, layout: bool = True) -> str:
    """A model's text as stabtest prints it: shortened, then made terminal-safe."""
    return terminal_safe(shorten_middle(text, limit), layout=layout)


# Query (and fragment) parameters whose value is a credential: token, key, api_key,
# access_token, password, secret, signature, ... (by name, case-insensitively).
_SECRET_NAME = re.compile(r"token|key|secret|pass|pwd|auth|sig|credential|session", re.I)
_MASK = "***"


def _secret_params(part: str) -> tuple[str, list[str]]:
    """A query or fragment with credential values masked, and those values."""
    kept: list[str] = []
    secrets: list[str] = []
    for item in part.split("&"):
        name, sep, value = item.partition("=")
        if sep and value and _SECRET_NAME.search(name):
            kept.append(f"{name}={_MASK}")
            secrets.append(value)
        else:
            kept.append(item)
    return "&".join(kept), secrets


def _split_url(url: str) -> tuple[str, list[str]]:
    """(redacted url, the secrets it held)."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:  # unparseable (a stray bracket): keep only the scheme, if any
        scheme = url.partition("://")[0] if "://" in url else ""
        return (f"{scheme}://{_MASK}" if scheme else _MASK), [url]
    secrets: list[str] = []
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at:
        netloc = f"{_MASK}@{host}"
        secrets += [userinfo, *userinfo.split(":", 1)]
    query, in_query = _secret_params(parts.query)
    fragment, in_fragment = _secret_params(parts.fragment)
    secrets += in_query + in_fragment
    secrets += [unquote(s) for s in secrets]
    redacted = urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
    return redacted, [s for s in secrets if s]


def redact_url(url: str) -> str:
    """`url` safe to print or store: user:password@ becomes ***@, and the value of a query
    or fragment parameter named like a credential (token, api_key, password, secret, ...)
    becomes ***. Everything else (scheme, host, port, path) stays, so the message still
    says which server."""
    return _split_url(url)[0]


def scrub_url(text: str, url: str, *, min_length: int = 4) -> str:
    """`text` (an error message that may echo the URL) with `url` shown redacted and any of
    its secrets of at least `min_length` characters masked wherever they appear (shorter
    ones would mask ordinary words)."""
    redacted, secrets = _split_url(url)
    if redacted != url:
        text = text.replace(url, redacted)
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= min_length:
            text = text.replace(secret, _MASK)
    return text
