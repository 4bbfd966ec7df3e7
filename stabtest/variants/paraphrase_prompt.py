"""Model-written paraphrases: the request sent to a small chat model and the cleaning of
what it sends back.

SmolLM2-135M follows short, concrete instructions and ignores long ones; it tends to
answer the question instead of rewriting it, to open with "Sure! Here's...", to number
its lines and to quote its output. The prompt therefore says one thing plainly, and
`clean_paraphrase` expects mess and refuses rather than guesses: a refused slot is
reported, a wrong paraphrase would be scored as the model's instability.
"""

from __future__ import annotations

import re

from stabtest.variants.perturb import NUMBER

# Framed as "this sentence", not "this question": asked to rewrite a question, the model
# answers it (measured: 0 usable rewrites in 16 with question-framed requests).
_REQUESTS = (
    "Change a few words in this sentence but keep its meaning.",
    "Rewrite this sentence with different words and the same meaning.",
    "Reword this sentence. Keep exactly the same meaning.",
    "Say this sentence in another way with the same meaning.",
    "Replace one or two words in this sentence with synonyms.",
    "Change the word order of this sentence but keep its meaning.",
)
_STYLES = ("", " Use simple words.", " Keep it short.", " Sound like a different person.")


def paraphrase_prompt(question: str, n: int, attempt: int) -> str:
    """The user message asking for one paraphrase of `question`.

    `n` is the number of model-paraphrase slots of the case and `attempt` a 0-based request
    counter: slot `i` first asks with `attempt=i`, and its `r`-th retry with `attempt=i + r*n`.
    The slot picks the request wording and the retry the style hint, so different slots
    (and a retry after a refused output) send different requests and, under greedy
    decoding, get different answers. Short on purpose: a 135M model loses long instructions.
    """
    if n < 1 or attempt < 0:
        raise ValueError(f"need n >= 1 and attempt >= 0, got n={n}, attempt={attempt}")
    slot, retry = attempt % n, attempt // n
    request = _REQUESTS[(slot + retry) % len(_REQUESTS)]
    style = _STYLES[(slot // len(_REQUESTS) + retry) % len(_STYLES)]
    numbers = " Keep every number." if NUMBER.search(question) else ""
    return (
        f"{request}{style}{numbers} Output only the new sentence.\n"
        f'Sentence: "{" ".join(question.split())}"'
    )


# --- cleaning ---------------------------------------------------------------------------

_SPECIAL_TOKEN = re.compile(r"<\|[^|>]*\|>|</?s>")
_INTERJECTION = re.compile(
    r"^(?:sure|certainly|of course|okay|ok|absolutely|great|no problem|alright)\b[!.,]*\s*", re.I
)
_PREAMBLE = re.compile(
    r"^(?:here(?:['\u2019]s| is| are)|below|i (?:would|could|can)|i'd|"
    r"the (?:rewritten|new|paraphrased|reworded|rephrased) (?:question|version))\b",
    re.I,
)
_NUMBERING = re.compile(r"^(?:\(?\d{1,2}[.)]|[-*•>#]+)\s+")
_LABEL_WORDS = (
    r"(?:new|rewritten|reworded|rephrased|paraphrased|alternative|alternate|revised|"
    r"different|another|my|question|version|paraphrase|rewrite|rephrasing|wording|option|"
    r"output|q)"
)
_LABEL = re.compile(
    rf"^(?:{_LABEL_WORDS}\s+){{0,2}}{_LABEL_WORDS}\s*\d*(?::|\s+[-\u2013])\s*", re.I
)
_COMMENTARY = re.compile(
    r"^(?:original|answer\s*:|a:|note\b|explanation|i hope|let me know|the answer|the original|"
    r"this (?:version|question|rewrite|paraphrase))",
    re.I,
)
# "The answer to this question is: ...", "The original text is: ...": talk about the text
# before a colon; what follows is the candidate (often just the original again).
_META_PREFIX = re.compile(
    r"^[^:?]{0,80}\b(?:question|text|answer|version|paraphrase|rewrite|rephras\w*|reword\w*|"
    r"sentence|output|result)\b[^:?]{0,40}:\s*",
    re.I,
)
# 'The original sentence was "..."': the same talk without a colon; keep the quoted part.
_META_QUOTE = re.compile(
    r"^[^\"\u201c]{0,80}\b(?:question|text|answer|version|paraphrase|rewrite|sentence|output)"
    r"\b[^\"\u201c]{0,40}[\"\u201c](.+?)[\"\u201d]?[.!]?\s*$",
    re.I,
)
_QUOTES = "\"'`*\u201c\u201d\u2018\u2019\u00ab\u00bb"


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in NUMBER.findall(text)}


def _clean_line(line: str) -> str | None:
    """One output line reduced to the text it offers, or None for a line of chatter."""
    line = line.strip().replace("**", "")
    line = _NUMBERING.sub("", line)
    if _INTERJECTION.match(line):
        line = _INTERJECTION.sub("", line)
    if _PREAMBLE.match(line):
        if ":" not in line:
            return None
        line = line.split(":", 1)[1]
    line = _META_PREFIX.sub("", line.strip(), count=1)
    quoted = _META_QUOTE.match(line)
    if quoted:
        line = quoted.group(1)
    line = _LABEL.sub("", line.strip().strip(_QUOTES).strip())
    line = line.strip().strip(_QUOTES).strip()
    if not line or line.endswith(":") or _COMMENTARY.match(line):
        return None
    if "?" in line:
        line = line[: line.index("?") + 1]  # drop "... This keeps the meaning."
    line = re.sub(r"\s*\([^()]*\)$", "", line).strip().strip(_QUOTES).strip()
    return line or None


_IMPERATIVES = frozenset(
    {
        *("name", "tell", "give", "say", "state", "find", "calculate", "compute"),
        *("determine", "work", "figure", "list", "identify", "explain", "describe"),
        *("what", "which", "who", "how"),
    }
)


def _looks_like_sentence(text: str) -> bool:
    return len(re.findall(r"[A-Za-z]+", text)) >= 2


def _asks(text: str) -> bool:
    """A question or a request ("Name the capital of France."), not an answer: a small
    model asked to rewrite a question often answers it instead."""
    first = re.match(r"[A-Za-z]+", text)
    return text.rstrip().endswith("?") or bool(first and first.group(0).lower() in _IMPERATIVES)


def clean_paraphrase(raw: str, original: str) -> str | None:
    """The first line of `raw` that is a usable paraphrase of `original`, or None.

    Refused: nothing left after stripping chatter, a statement when the original asks
    something (the model answered it), the original again (ignoring case and
    punctuation), text over three times the original's length (the model answered or
    rambled), and text whose numbers differ from the original's (in a word problem that
    changes the right answer, however similar the wording).
    """
    text = _SPECIAL_TOKEN.sub("", raw).replace("```", "\n")
    for line in text.splitlines():
        candidate = _clean_line(line)
        if candidate is None or not _looks_like_sentence(candidate):
            continue
        if _asks(original) and not _asks(candidate):
            continue
        if _normalise(candidate) == _normalise(original):
            continue
        if len(candidate) > 3 * len(original.strip()):
            continue
        if _numbers(candidate) != _numbers(original):
            continue
        return candidate
    return None
