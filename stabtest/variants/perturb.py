"""Seeded, rule-based prompt perturbations that keep a question's meaning.

Each operator is a pure function `(text, rng) -> text`: the same rng state gives the same
output in every process (no set iteration, no `hash()`), so variant ids and texts agree
across xdist workers and reruns. No operator ever changes a number: in a word problem a
changed number changes the right answer, and the test would then measure the question
instead of the model. `Operator.__call__` enforces that (and a non-empty result) even for
operators users register themselves. A built-in operator with nothing to act on returns
the text unchanged without drawing from the rng, so replaying only the operators that
changed a text reproduces it.

Operators run in stages (content, surface, framing, layout) whatever order they were drawn
in: the question is reworded first and framed last, so a wrapper such as "Answer briefly."
is never upper-cased or typo'd and every variant still reads like something a person types.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from stabtest.core.registry import Registry

OperatorFn = Callable[[str, random.Random], str]

CONTENT, SURFACE, FRAMING, LAYOUT = 0, 1, 2, 3

NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
APOSTROPHES = "'\u2019"  # GSM8K and many users type the typographic one


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


@dataclass(frozen=True)
class Operator:
    """A named perturbation. `stage` orders composition (see the module docstring)."""

    name: str
    function: OperatorFn
    description: str
    stage: int = SURFACE

    def __call__(self, text: str, rng: random.Random) -> str:
        """Apply the operator, falling back to `text` when the result would be empty or
        would change a number: a broken variant is worse than one variant fewer."""
        out = self.function(text, rng)
        if not out.strip() or numbers_in(out) != numbers_in(text):
            return text
        return out


OPERATORS: Registry[Operator] = Registry("perturbation operator", plural="operators")
"""Every rule operator by name, in registration order (`register_operator` adds one)."""


def register_operator(
    name: str, description: str, stage: int = SURFACE
) -> Callable[[OperatorFn], OperatorFn]:
    """Decorator adding a function to `OPERATORS`; users may register their own."""

    def add(function: OperatorFn) -> OperatorFn:
        OPERATORS.add(name, Operator(name, function, description, stage))
        return function

    return add


def numbers_in(text: str) -> Counter[str]:
    """The numbers of a text as a multiset: what every operator must leave intact
    (clause reordering may move them, never change them)."""
    return Counter(NUMBER.findall(text))


# --- shared helpers ---------------------------------------------------------------------

_END = re.compile(r"^(.*?)([?!.]*)(\s*)$", re.S)

# Words that start a sentence only because they are first: safe to lower-case when a
# clause moves to the middle. Anything else (names, acronyms, "I") keeps its case.
_STARTERS = _words(
    """a an the this that these those there here it its he she they we you his her their
    our your my what which who whom whose when where why how is are was were am do does did
    can could will would should shall may might must has have had if in on at of for from
    to by with without after before during since while as given assuming according for
    and but or so then also please tell say name just now besides unless although though
    because between among about around into over under roughly approximately"""
)


def _split_end(text: str) -> tuple[str, str, str]:
    """(body, terminal punctuation, trailing whitespace)."""
    match = _END.match(text)
    assert match is not None  # the pattern matches every string
    return match.group(1), match.group(2), match.group(3)


def _first_word(text: str) -> str:
    match = re.match(r"\s*([A-Za-z']+)", text)
    return match.group(1) if match else ""


def _decap(text: str) -> str:
    """Lower-case the first letter when the first word is a plain function word."""
    word = _first_word(text)
    if word.lower() in _STARTERS and word[:1].isupper() and not (len(word) > 1 and word.isupper()):
        index = text.index(word)
        return text[:index] + word[0].lower() + text[index + 1 :]
    return text


def _cap(text: str) -> str:
    stripped = text.lstrip()
    if stripped[:1].isalpha():
        index = len(text) - len(stripped)
        return text[:index] + stripped[0].upper() + stripped[1:]
    return text


def match_case(source: str, replacement: str) -> str:
    """Give `replacement` the capitalisation of `source` (ALL CAPS or Initial)."""
    letters = [c for c in source if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return replacement.upper()
    if source[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _pick_change(text: str, candidates: Iterable[str], rng: random.Random) -> str:
    """Choose one candidate that differs from `text`; `text` itself when none does."""
    changed = list(dict.fromkeys(c for c in candidates if c != text and c.strip()))
    return rng.choice(changed) if changed else text


def _is_sentence_start(text: str, index: int) -> bool:
    before = text[:index].rstrip()
    return not before or before[-1] in ".!?:\n\"'“"


def _last_sentence(text: str) -> tuple[str, str]:
    """(everything before the last sentence including its separator, last sentence)."""
    boundaries = list(re.finditer(r"(?<=[.!?])\s+(?=[\"'“A-Z])", text))
    if not boundaries:
        return "", text
    cut = boundaries[-1].end()
    return text[:cut], text[cut:]


# --- casing -----------------------------------------------------------------------------


def _title(text: str) -> str:
    return re.sub(rf"(?<![\w{APOSTROPHES}])[a-z]", lambda m: m.group(0).upper(), text)


def _lower_first(text: str) -> str:
    stripped = text.lstrip()
    index = len(text) - len(stripped)
    return text[:index] + stripped[:1].lower() + stripped[1:]


@register_operator("casing", "lower-case, UPPER-CASE, Title Case or a lower-case first letter")
def casing(text: str, rng: random.Random) -> str:
    return _pick_change(text, [text.lower(), text.upper(), _title(text), _lower_first(text)], rng)


# --- punctuation ------------------------------------------------------------------------

_MARKS = ("?", "??", "?!", "!", ".", "")
_INNER_COMMA = re.compile(r"(?<![\d\s]),(?=\s+\D)")


@register_operator(
    "punctuation", "drop, add or change the final ?/!/. mark, or drop commas between words"
)
def punctuation(text: str, rng: random.Random) -> str:
    body, mark, space = _split_end(text)
    if not body.strip():
        return text
    candidates = [body + other + space for other in _MARKS if other != mark]
    if _INNER_COMMA.search(body):
        candidates.append(_INNER_COMMA.sub("", body) + mark + space)
    return _pick_change(text, candidates, rng)


# --- whitespace -------------------------------------------------------------------------

_GAP = re.compile(r"(?<=\S) (?=\S)")


def _gaps(text: str) -> list[re.Match[str]]:
    """Single spaces not between two digits ("1 000" stays one number)."""
    return [
        m
        for m in _GAP.finditer(text)
        if not (text[m.start() - 1].isdigit() and text[m.end()].isdigit())
    ]


@register_operator(
    "whitespace",
    "double a space, add leading/trailing spaces, a newline, or collapse runs",
    LAYOUT,
)
def whitespace(text: str, rng: random.Random) -> str:
    candidates = ["  " + text, text + " ", " " + text + " ", text + "\n"]
    gaps = _gaps(text)
    if gaps:
        gap = rng.choice(gaps)
        filler = rng.choice(("  ", "\n", "   "))
        candidates.append(text[: gap.start()] + filler + text[gap.end() :])
    if re.search(r"(?<=\S)[ \t]{2,}(?=\S)", text):
        candidates.append(re.sub(r"(?<=\S)[ \t]{2,}(?=\S)", " ", text))
    return _pick_change(text, candidates, rng)


# --- typo -------------------------------------------------------------------------------

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    """Letters around each key on a staggered QWERTY layout (letters only, so a typo can
    never create a digit)."""
    neighbours: dict[str, str] = {}
    for r, row in enumerate(_ROWS):
        for i, key in enumerate(row):
            near: list[str] = []
            for rr, offsets in ((r, (-1, 1)), (r - 1, (0, 1)), (r + 1, (-1, 0))):
                if 0 <= rr < len(_ROWS):
                    near += [_ROWS[rr][i + d] for d in offsets if 0 <= i + d < len(_ROWS[rr])]
            neighbours[key] = "".join(dict.fromkeys(c for c in near if c != key))
    return neighbours


_NEIGHBOURS = _keyboard_neighbours()
_TYPO_WORD = re.compile(r"\b[A-Za-z]{4,}\b")


def swap_adjacent(word: str, rng: random.Random) -> str | None:
    """Two adjacent letters after the first swapped (ones that differ, so the word
    changes); None when there are none."""
    spots = [j for j in range(1, len(word) - 1) if word[j] != word[j + 1]]
    if not spots:
        return None
    j = rng.choice(spots)
    return word[:j] + word[j + 1] + word[j] + word[j + 2 :]


def neighbour_key(word: str, i: int, rng: random.Random) -> str:
    """Letter `i` replaced by a keyboard neighbour, in the letter's case."""
    near = rng.choice(_NEIGHBOURS[word[i].lower()])
    return word[:i] + (near.upper() if word[i].isupper() else near) + word[i + 1 :]


def looks_like_name(text: str, start: int, word: str) -> bool:
    """A capitalised word mid-sentence is likely a name ("Big Ben"): leave it alone."""
    return word[:1].isupper() and not _is_sentence_start(text, start)


def _misspell(word: str, rng: random.Random) -> str:
    """One slip of the finger; the first letter stays so the word is still recognisable."""
    kind = rng.choice(("neighbour", "swap", "drop", "duplicate"))
    i = rng.randrange(1, len(word))
    if kind == "swap":
        swapped = swap_adjacent(word, rng)
        if swapped is not None:
            return swapped
        kind = "neighbour"
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "duplicate":
        return word[: i + 1] + word[i:]
    return neighbour_key(word, i, rng)


@register_operator(
    "typo", "one keyboard slip (neighbour key, swap, drop, double) in a word of 4+ letters"
)
def typo(text: str, rng: random.Random) -> str:
    words = list(_TYPO_WORD.finditer(text))
    if not words:
        return text
    word = rng.choice(words)
    return text[: word.start()] + _misspell(word.group(0), rng) + text[word.end() :]


# --- contraction ------------------------------------------------------------------------

_CONTRACTIONS = (
    ("what is", "what's"),
    ("where is", "where's"),
    ("who is", "who's"),
    ("how is", "how's"),
    ("that is", "that's"),
    ("there is", "there's"),
    ("it is", "it's"),
    ("do not", "don't"),
    ("does not", "doesn't"),
    ("did not", "didn't"),
    ("is not", "isn't"),
    ("are not", "aren't"),
    ("was not", "wasn't"),
    ("were not", "weren't"),
    ("has not", "hasn't"),
    ("have not", "haven't"),
    ("will not", "won't"),
    ("would not", "wouldn't"),
    ("should not", "shouldn't"),
    ("could not", "couldn't"),
    ("cannot", "can't"),
    ("i am", "i'm"),
    ("you are", "you're"),
    ("we are", "we're"),
    ("they are", "they're"),
    ("let us", "let's"),
    ("i would like", "i'd like"),
)
# "X's been" is "X has been": expanding it to "X is been" would be wrong.
_HAS_NOT_IS = re.compile(r"\s+(?:been|got|had|gone|done)\b", re.I)


def _phrase_pattern(phrase: str) -> str:
    words = [re.escape(w).replace("'", f"[{APOSTROPHES}]") for w in phrase.split()]
    return r"\b" + r"\s+".join(words) + r"\b"


_CONTRACT = [(re.compile(_phrase_pattern(a) + r"(?=\s+[\w$])", re.I), b) for a, b in _CONTRACTIONS]
_EXPAND = [(re.compile(_phrase_pattern(b), re.I), a) for a, b in _CONTRACTIONS]


def _contraction_edits(text: str) -> list[tuple[int, int, str]]:
    edits = []
    for pattern, short in _CONTRACT:
        edits += [
            (m.start(), m.end(), match_case(m.group(0), short)) for m in pattern.finditer(text)
        ]
    for pattern, long in _EXPAND:
        for m in pattern.finditer(text):
            if m.group(0).lower().endswith(
                tuple(a + "s" for a in APOSTROPHES)
            ) and _HAS_NOT_IS.match(text, m.end()):
                continue
            edits.append((m.start(), m.end(), match_case(m.group(0), long)))
    return edits


@register_operator("contraction", "contract or expand one phrase: what is <-> what's", CONTENT)
def contraction(text: str, rng: random.Random) -> str:
    edits = _contraction_edits(text)
    if not edits:
        return text
    start, end, new = rng.choice(edits)
    if new.lower().startswith("i'") or new.lower().startswith("i "):
        new = "I" + new[1:]
    return text[:start] + new + text[end:]


# --- politeness / filler ----------------------------------------------------------------

_POLITE_PREFIXES = (
    "Please answer: ",
    "Quick question: ",
    "Could you tell me: ",
    "I'd like to know: ",
    "Hi! ",
    "Hello, I have a question. ",
)
_POLITE_SUFFIXES = (" Thanks!", " Thank you.", " Thanks in advance.", " I appreciate your help.")


@register_operator("politeness", "polite framing: 'Please answer: ...', '... Thanks!'", FRAMING)
def politeness(text: str, rng: random.Random) -> str:
    mode = rng.choice(("prefix", "suffix", "both"))
    out = text
    if mode in ("prefix", "both"):
        out = rng.choice(_POLITE_PREFIXES) + out.lstrip()
    if mode in ("suffix", "both"):
        out = out.rstrip() + rng.choice(_POLITE_SUFFIXES)
    return out


_FILLERS = ("So, ", "Okay, ", "Hmm, ", "Well, ", "Hey, ", "Um, ")


@register_operator("filler", "a spoken discourse marker in front: 'So, what is ...'", FRAMING)
def filler(text: str, rng: random.Random) -> str:
    choices = [f for f in _FILLERS if not text.lstrip().lower().startswith(f.lower())]
    return rng.choice(choices) + _decap(text.lstrip())


# --- clause reordering ------------------------------------------------------------------

_BOUNDARY = re.compile(r",\s+")
_LEADERS = _words(
    "if when in on at after before given since assuming according for during while by as "
    "without with besides unless although though because between among from to"
)
_TAGS = ("please", "in your opinion", "roughly", "approximately", "in short", "exactly")
_CONJUNCTIONS = ("and", "or", "but")


def _word_count(text: str) -> int:
    return len(re.findall(rf"[\w{APOSTROPHES}$%]+", text))


def _clause_candidates(body: str, mark: str) -> list[str]:
    """Reorderings of "X, Y" within one sentence that keep its meaning."""
    bounds = list(_BOUNDARY.finditer(body))
    out: list[str] = []
    if not bounds:
        return out

    def halves(m: re.Match[str]) -> tuple[str, str]:
        return body[: m.start()], body[m.end() :]

    x, y = halves(bounds[0])
    if _first_word(x).lower() in _LEADERS and _word_count(y) >= 2:
        out.append(f"{_cap(y)}, {_decap(x)}{mark}")  # "In 1990, who won?" -> "Who won, in 1990?"
    x, y = halves(bounds[-1])
    if (_first_word(y).lower() in _LEADERS or y.lower() in _TAGS) and _word_count(x) >= 2:
        out.append(f"{_cap(y)}, {_decap(x)}{mark}")  # "..., if it rains?" -> "If it rains, ...?"
    if len(bounds) == 1:
        conj = _first_word(y).lower()
        if conj in _CONJUNCTIONS and "?" in mark:
            rest = y[len(conj) :].lstrip()
            if _word_count(rest) >= 2 and _word_count(x) >= 2:
                out.append(f"{_cap(rest)}, {conj} {_decap(x)}{mark}")
        elif _word_count(x) >= 2 and _word_count(y) >= 2:
            out.append(f"{_cap(y)}, {_decap(x)}{mark}")  # "X, Y?" -> "Y, X?"
    return out


def _move_please(body: str, mark: str) -> str | None:
    match = re.match(r"(?i)please,?\s+(.+)$", body, re.S)
    if match:
        return f"{_cap(match.group(1))}, please{mark}"
    match = re.match(r"(?is)(.+?),?\s+please$", body)
    if match:
        return f"Please {_decap(match.group(1))}{mark}"
    return None


@register_operator(
    "clause_reorder",
    "move a leading/trailing clause across a comma, or the question first",
    CONTENT,
)
def clause_reorder(text: str, rng: random.Random) -> str:
    head, last = _last_sentence(text)
    body, mark, space = _split_end(last)
    candidates = [head + c + space for c in _clause_candidates(body, mark)]
    if not candidates:
        moved = _move_please(body, mark)
        if moved is not None:
            candidates.append(head + moved + space)
    if not candidates and head.strip() and "?" in mark:
        candidates.append(last.rstrip() + " " + head.rstrip() + space)  # question first
    return _pick_change(text, candidates, rng)


# --- distractor -------------------------------------------------------------------------

_DISTRACTORS = (
    "I was just reading about history.",
    "The weather is nice today.",
    "My cat is asleep on the sofa.",
    "I had coffee this morning.",
    "This came up while I was cooking dinner.",
    "I am sitting in a quiet library.",
    "My friend likes gardening.",
    "I just got back from a walk.",
    "It has been a long week.",
    "I am learning to play the piano.",
)


@register_operator("distractor", "an irrelevant sentence before or after the question", FRAMING)
def distractor(text: str, rng: random.Random) -> str:
    sentence = rng.choice(_DISTRACTORS)
    if rng.random() < 0.5:
        return f"{sentence} {text.lstrip()}"
    return f"{text.rstrip()} {sentence}"


# --- synonyms ---------------------------------------------------------------------------

_SYNONYMS = (
    ("largest", "biggest"),
    ("biggest", "largest"),
    ("tallest", "highest"),
    ("capital of", "capital city of"),
    ("capital city of", "capital of"),
    ("tell me", "let me know"),
    ("how many", "what number of"),
    ("buy", "purchase"),
    ("buys", "purchases"),
    ("bought", "purchased"),
    ("purchase", "buy"),
    ("purchases", "buys"),
    ("purchased", "bought"),
    ("located", "situated"),
    ("wrote", "authored"),
    ("author of", "writer of"),
    ("writer of", "author of"),
    ("approximately", "roughly"),
    ("roughly", "approximately"),
    ("happened", "occurred"),
    ("occurred", "happened"),
    ("finished", "completed"),
    ("completed", "finished"),
    ("begins", "starts"),
    ("began", "started"),
    ("earns", "makes"),
    ("receives", "gets"),
    ("large", "big"),
    ("children", "kids"),
    ("kids", "children"),
    ("each day", "every day"),
    ("every day", "each day"),
    ("per day", "each day"),
    ("every week", "each week"),
    ("in total", "altogether"),
    ("altogether", "in total"),
    ("most populous", "most populated"),
    ("what year", "which year"),
    ("which year", "what year"),
    ("what country", "which country"),
    ("which country", "what country"),
    ("is it true that", "is it the case that"),
)
_SYNONYM_PATTERNS = [(re.compile(_phrase_pattern(a), re.I), b) for a, b in _SYNONYMS]


@register_operator("synonym", "swap one phrase for a safe synonym: largest -> biggest", CONTENT)
def synonym(text: str, rng: random.Random) -> str:
    edits = [
        (m.start(), m.end(), match_case(m.group(0), new))
        for pattern, new in _SYNONYM_PATTERNS
        for m in pattern.finditer(text)
        if not looks_like_name(text, m.start(), m.group(0))
    ]
    if not edits:
        return text
    start, end, new = rng.choice(edits)
    return text[:start] + new + text[end:]


# --- instruction ------------------------------------------------------------------------

_INSTRUCTIONS = (
    "Answer briefly. {q}",
    "{q} Answer in one sentence.",
    "Answer the following question. {q}",
    "{q} Be concise.",
    "Question: {q}\nAnswer:",
    "Q: {q}\nA:",
    "{q} Give just the answer.",
    "Think carefully and answer. {q}",
)


@register_operator("instruction", "wrap in an instruction: 'Answer briefly. ...'", FRAMING)
def instruction(text: str, rng: random.Random) -> str:
    return rng.choice(_INSTRUCTIONS).format(q=text.strip())


# --- composition ------------------------------------------------------------------------


def validate_operators(names: Iterable[str]) -> tuple[str, ...]:
    """`names` as a tuple, or ValueError naming the first unknown one and listing the valid
    ones: a typo in a suite is then reported where it was written, not silently ignored."""
    names = tuple(names)
    for name in names:
        OPERATORS.check(name)
    return names


def resolve_operators(names: Iterable[str]) -> tuple[str, ...]:
    """Validated, de-duplicated operator names; every registered one when `names` is empty
    (the meaning of an empty `operators` list in a suite)."""
    return tuple(dict.fromkeys(validate_operators(names))) or tuple(OPERATORS)


def application_order(names: Iterable[str]) -> tuple[str, ...]:
    """`names` sorted by stage, draw order kept within a stage."""
    return tuple(sorted(names, key=lambda name: OPERATORS[name].stage))


def apply_operators(
    text: str, names: Sequence[str], rng: random.Random
) -> tuple[str, tuple[str, ...]]:
    """Apply `names` in exactly this order; returns the text and the names that changed it
    (an operator with nothing to act on, e.g. `synonym` without a known word, is left out)."""
    applied: list[str] = []
    for name in validate_operators(names):
        out = OPERATORS[name](text, rng)
        if out != text:
            applied.append(name)
        text = out
    return text, tuple(applied)


def perturb(
    text: str, operators: Sequence[str], depth: int, rng: random.Random
) -> tuple[str, tuple[str, ...]]:
    """Draw `depth` distinct operators from `operators` (all when empty; fewer when fewer
    exist), apply them in stage order, and return (text, names that changed it).
    Matches `stabtest.core.variant.Perturber`."""
    if depth < 0:
        raise ValueError(f"perturbation depth must be >= 0, got {depth}")
    pool = resolve_operators(operators)
    drawn = rng.sample(pool, min(depth, len(pool)))
    return apply_operators(text, application_order(drawn), rng)


def compose(names: Sequence[str]) -> Callable[[str, random.Random], str]:
    """One operator made of several, applied in exactly the given order (no staging)."""
    chosen = validate_operators(names)

    def composed(text: str, rng: random.Random) -> str:
        return apply_operators(text, chosen, rng)[0]

    return composed


def describe_operators() -> list[tuple[str, str]]:
    """(name, one-line description) of every registered operator, for docs and --help."""
    return [(op.name, op.description) for op in OPERATORS.values()]
