"""What an answer claims, read with rules: the span that answers, and what else it says.

A correctness judge must judge the claim, not the bag of words: "The largest planet is
Jupiter, but it's actually Saturn" names the reference and then asserts a competing
answer. `read_claim` finds, in order:

- the *span*: the first sentence that says something (a bare "Sure!" or "Great question."
  is skipped), which is where a short answer states its answer;
- which right answer (reference or alias) and which known-wrong answer the span names,
  and which appear anywhere;
- a *competing* assertion after the right answer: a contrast ("but", "however",
  "actually", "in fact", "rather", "instead") followed by another named entity, a known
  wrong answer, or a denial ("someone else", "not him");
- a *negation* of the right answer ("is not Paris", "Paris is not the capital");
- a *hedge* ("it could be A or B", "possibly", "I'm not sure").

Pure text rules, no model: quotes of the parts found go into the judges' reasons, so a
person can check the call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from stabtest.core.text import contains_phrase, normalize

QUOTE = 90

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n+")
_PREAMBLE = re.compile(
    r"^(?:sure|certainly|of course|okay|ok|great question|good question|absolutely|yes|no|"
    r"well|hello|hi|here(?:'s| is| are)[^.!?]*?:)[\s!.,:]*$",
    re.IGNORECASE,
)
_CONTRAST = re.compile(
    r"(?:\bbut\b|\bhowever\b|\bactually\b|\bin fact\b|\brather\b|\binstead\b|"
    r"\bnevertheless\b|\bin reality\b|\bnot\b[^.,;]{0,20}\bbut\b)",
    re.IGNORECASE,
)
_DENIAL = re.compile(
    r"\b(?:someone else|somebody else|something else|another (?:person|author|city|country|"
    r"place|one)|not (?:him|her|it|them|true|correct|right)|is not|isn't|wasn't|was not|"
    r"never|incorrect|wrong|a myth|a misconception)\b",
    re.IGNORECASE,
)
_NEGATOR_WORDS = r"not|isn't|is not|wasn't|was not|aren't|are not|never|no longer"
_NEGATORS = rf"(?:{_NEGATOR_WORDS})"
_HEDGE = re.compile(
    r"\b(?:could be|might be|may be|possibly|perhaps|probably|either\b[^.]{1,60}\bor|"
    r"not sure|i'm not certain|uncertain|it depends|i think|i believe|likely)\b",
    re.IGNORECASE,
)
_ENTITY = re.compile(r"\b[A-Z][a-zA-Z\u00c0-\u017f'-]+(?:\s+(?:of\s+|de\s+)?[A-Z][a-zA-Z'-]+)*")
_COMMON = frozenset(
    {
        # sentence openers that are not names
        *("let", "me", "please", "sure", "well", "then", "thus", "therefore", "because"),
        *("since", "after", "before", "although", "though", "today", "note", "first"),
        *("second", "finally", "overall", "generally", "typically", "usually", "according"),
        *("based", "great", "good", "okay", "ok", "hello", "hi", "thanks", "thank"),
        "the",
        "a",
        "an",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "he",
        "she",
        "they",
        "we",
        "you",
        "i",
        "in",
        "on",
        "at",
        "for",
        "and",
        "but",
        "however",
        "actually",
        "so",
        "yes",
        "no",
        "also",
        "as",
        "if",
        "when",
        "while",
        "what",
        "which",
        "who",
        "where",
        "why",
        "how",
        "my",
        "our",
        "your",
        "his",
        "her",
        "their",
        "some",
        "many",
        "most",
        "one",
    }
)


def sentences(text: str) -> list[str]:
    """Sentences (and lines) of `text`, stripped, none empty."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s and s.strip()]


def quote(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= QUOTE else flat[: QUOTE - 3] + "...")


_COMPOUND = re.compile(r"(?<=\w)-(?=\w)")


def _joined(text: str) -> str:
    """Hyphenated compounds as one word: "Kiev-Sviatoshyn" does not name "Kiev"."""
    return _COMPOUND.sub("_", text)


def _first_hit(text: str, candidates: Sequence[str]) -> str | None:
    joined = _joined(text)
    return next((c for c in candidates if c and contains_phrase(joined, _joined(c))), None)


_DENIED = re.compile(
    rf"\b(?:{_NEGATOR_WORDS}|rather than|instead of|unlike)\s+(?:the\s+)?$", re.IGNORECASE
)


def _asserted_hit(text: str, candidates: Sequence[str]) -> str | None:
    """The first candidate mentioned at least once without a denial right before it:
    "Paris, not Lyon" does not assert Lyon."""
    for candidate in candidates:
        if not candidate or not contains_phrase(text, candidate):
            continue
        for match in re.finditer(rf"(?<!\w){re.escape(candidate)}(?!\w)", text, re.IGNORECASE):
            if not _DENIED.search(text[max(0, match.start() - 25) : match.start()]):
                return candidate
        if not re.search(rf"(?<!\w){re.escape(candidate)}(?!\w)", text, re.IGNORECASE):
            return candidate  # matched only after normalisation (accents, punctuation)
    return None


def entities(text: str, known: str) -> list[str]:
    """Capitalised names in `text` that are not in `known` (the question and the right
    answers): the candidates for a competing answer."""
    known_words = set(normalize(known).split())
    found = []
    for match in _ENTITY.finditer(text):
        words = [w for w in normalize(match.group(0)).split() if w not in _COMMON]
        if words and not set(words) <= known_words:
            found.append(match.group(0))
    return found


@dataclass(frozen=True)
class Claim:
    """What one answer claims, relative to a case's right and known-wrong answers."""

    span: str
    right_in_span: str | None
    wrong_in_span: str | None
    right: str | None
    wrong: str | None
    other_in_span: tuple[str, ...] = ()
    other_first: str | None = None
    """Another entity named in the span before the right answer: the claimed answer."""
    competing: str | None = None
    negated: str | None = None
    hedged: str | None = None


def strip_echo(text: str, right: Sequence[str], question: str) -> str:
    """`text` without the question's own phrases that contain a right answer: asked about
    "Kabul Shahi", an answer repeating "Kabul Shahi" has not named "Kabul"."""
    words = re.findall(r"[\w'-]+", question)
    lowered = [w.lower() for w in words]
    for answer in right:
        target = answer.lower().split()
        if not target:
            continue
        for i in range(len(words) - len(target) + 1):
            if lowered[i : i + len(target)] != target:
                continue
            for start, stop in ((i - 1, i + len(target)), (i, i + len(target) + 1)):
                if start < 0 or stop > len(words):
                    continue
                extra = words[start] if start < i else words[stop - 1]
                if extra.lower() in _COMMON or not extra.isalpha():
                    continue
                phrase = " ".join(words[start:stop])
                text = re.sub(rf"(?<!\w){re.escape(phrase)}(?!\w)", " ", text, flags=re.I)
    return text


def answer_span(text: str) -> str:
    """The first sentence that says something."""
    for sentence in sentences(text):
        if not _PREAMBLE.match(sentence):
            return sentence
    return text.strip()


def read_claim(text: str, right: Sequence[str], wrong: Sequence[str], question: str = "") -> Claim:
    """Read `text` against the right answers (reference first) and known-wrong ones."""
    span = answer_span(text)
    unechoed = strip_echo(text, right, question)
    right_hit = _first_hit(unechoed, right)
    known = " ".join([question, *right])
    claim = Claim(
        span=span,
        right_in_span=_first_hit(strip_echo(span, right, question), right),
        wrong_in_span=_asserted_hit(span, wrong),
        right=right_hit,
        wrong=_asserted_hit(text, wrong),
        other_in_span=tuple(entities(span, known)),
        hedged=_hedge(text) or _alternatives(text, right_hit, [*wrong, *entities(text, known)]),
    )
    if right_hit is None:
        return claim
    return Claim(
        **{
            **claim.__dict__,
            "other_first": _named_first(span, right_hit, claim.other_in_span, question),
            "competing": _competing(text, right_hit, wrong, known),
            "negated": _negation(text, right_hit),
        }
    )


def _named_first(span: str, right_hit: str, others: Sequence[str], question: str) -> str | None:
    """ "Il Papa is the capital of Italy, on the hills of Rome": the span opens by naming
    another entity as what the question asks for ("OTHER is the <question's words>")."""
    asked = set(normalize(question).split()) - _COMMON
    for other in others:
        found = re.match(rf"\s*(?:the\s+)?{re.escape(other)}\s+(?:is|was)\s+the\s+(.*)", span, re.I)
        if found is None:
            continue
        before = found.group(1).lower().split(right_hit.lower(), 1)[0]
        if len(set(normalize(before).split()) & asked) >= 2:
            return other
    return None


def _hedge(text: str) -> str | None:
    found = _HEDGE.search(text)
    return None if found is None else quote(text[max(0, found.start() - 30) : found.end() + 40])


def _alternatives(text: str, right_hit: str | None, others: Sequence[str]) -> str | None:
    """ "Paris or Lyon": the right answer offered as one of alternatives."""
    if right_hit is None:
        return None
    name = re.escape(right_hit)
    for other in others:
        alt = re.escape(other)
        found = re.search(rf"\b{name}\s*,?\s+or\s+{alt}\b|\b{alt}\s*,?\s+or\s+{name}\b", text, re.I)
        if found:
            return quote(found.group(0))
    return None


def _position(text: str, phrase: str) -> int:
    """Index in `text` just after the first whole-word occurrence of `phrase`."""
    match = re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, re.IGNORECASE)
    return match.end() if match else 0


def _competing(text: str, right_hit: str, wrong: Sequence[str], known: str) -> str | None:
    """A contrast after the right answer that asserts something else."""
    after = text[_position(text, right_hit) :]
    for contrast in _CONTRAST.finditer(after):
        clause = re.split(r"[.;!?\n]", after[contrast.start() :], maxsplit=1)[0]
        rest = clause[contrast.end() - contrast.start() :]
        if _asserted_hit(rest, wrong) or entities(rest, known) or _DENIAL.search(rest):
            return quote(clause)
    later_wrong = _asserted_hit(after, wrong)
    if later_wrong is not None:
        return quote(after[max(0, _position(after, later_wrong) - 60) :])
    return None


def _negation(text: str, right_hit: str) -> str | None:
    """The right answer negated: "is not Paris", "Paris is not the capital"."""
    name = re.escape(right_hit)
    pattern = rf"\b{_NEGATORS}\s+(?:\w+\s+){{0,3}}{name}\b|\b{name}\s+{_NEGATORS}\b"
    found = re.search(pattern, text, re.IGNORECASE)
    return None if found is None else quote(found.group(0))
