"""The LLM as judge: the session's own backend grades each answer against the reference.

What it judges. Aspect *correctness*: for a case with a reference, "does this answer
agree with the reference answer to the question?" (aliases count as right, the case's
`incorrect` answers are named as wrong). A case without a reference gets an `abstain` vote
on every answer: comparing answers with the original prompt's answer would be a
consistency judgement, which the semantic judge owns, and counting it as correctness
would give reference-less cases a Factual Correctness they do not have (FC is defined
over answers judged against a reference). The question shown to the judge is the case's
original prompt for every variant: variants are equivalent by construction, and the same
answer to two variants then makes one judge request, not two.

When it runs. Two routes, both through `registry.build_judges`:
- listed in `--stab-judges` (`semantic,reference,numeric,llm_judge`): it judges every case
  that has a reference, and any case that lists `llm_judge` in its `checks`;
- not listed: the session still holds a dormant instance that applies only to cases whose
  `checks` name `llm_judge`. A case asks for the (costly) judge explicitly and gets it
  without a session flag; no other case pays anything.
A case that lists `llm_judge` but has no reference gets abstain votes that say why,
rather than silently nothing.

How. One greedy request per answer, all of a case's requests in one call of the
`generate` callable it was given (the session's Generator): batched by the backend and
stored in the generation cache under the backend's fingerprint, so a rerun asks the model
nothing (identical requests are deduplicated).
The judge's model is the model under test unless `--stab-judge-model` or
`--stab-judge-backend` names another (`Session.judge_generator`): a small model grades
itself poorly, and a stronger one is the point of this judge
(`benchmarks/annotation_precision.py --judge-model` measures one). A backend error
propagates: a judge that cannot run is a configuration problem, not a vote.

The answer format asked for is two lines, `VERDICT: yes|no` and `CONFIDENCE: 0-100`.
Parsing (`parse_judgement`) accepts `VERDICT` with `:`, `=` or `-`, any case, markdown
emphasis, and correct/incorrect, true/false, pass/fail as synonyms; failing that, a bare
leading yes/no ("Yes, it matches."). Everything else -- empty, no verdict, an echo of the
template ("VERDICT: yes or no"), two contradicting verdicts -- is an `abstain` vote whose
reason quotes the raw text: never a guess and never a crash. A small model (the default
SmolLM2-135M) mostly answers off-format, so expect mostly abstentions from it; the other
judges then decide alone.

Confidence. A stated `CONFIDENCE` (0-100, a `%` allowed; a decimal like `0.9` is read as a
fraction) divided by 100 and clipped to [0.5, 0.9]. Capped at 0.9: a model's self-report
is weaker evidence than an exact reference match (0.95) and should not outvote it alone.
Floored at 0.5: a binary verdict stated with less than even confidence is a weak vote for
that verdict (whether the model meant "unsure" or "probability it is right"), never a
weightless one. With no (or an out-of-range) confidence, 0.6: a moderate vote that
decides when it is alone, and splits the aspect -- and so, with `--stab-escalate-below`
above the split, escalates -- when it contradicts a sure judge. A failing vote's category
is `hallucination`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from stabtest.annotators.base import Aspect, CaseEvidence
from stabtest.core.plan import Generate, GenerationParams, GenerationRequest
from stabtest.core.plan_file import Grading
from stabtest.core.results import Vote, VoteOutcome
from stabtest.core.suite import Case

JUDGE_PARAMS = GenerationParams(
    temperature=0.0,
    max_new_tokens=24,
    system_prompt=(
        "You grade answers. Reply with exactly two lines: "
        "VERDICT: yes or no, then CONFIDENCE: a number from 0 to 100."
    ),
)
DEFAULT_CONFIDENCE = 0.6
MIN_CONFIDENCE = 0.5
MAX_CONFIDENCE = 0.9
MAX_ANSWER_CHARS = 1500
QUOTE_CHARS = 160

_WORDS = {
    "yes": True,
    "correct": True,
    "true": True,
    "pass": True,
    "no": False,
    "incorrect": False,
    "false": False,
    "fail": False,
}
_WORD = "|".join(sorted(_WORDS, key=len, reverse=True))
# "VERDICT: yes" (not the template echo "VERDICT: yes or no" / "yes|no" / "yes/no").
_VERDICT = re.compile(
    rf"verdict\W{{0,4}}?\s*[:=\-]\s*[*_`\"']*\s*({_WORD})\b(?![ \t]*(?:/|\||or\b))",
    re.IGNORECASE,
)
_LEADING = re.compile(rf"^[\W_]*({_WORD})\b(?![ \t]*(?:/|\||or\b))", re.IGNORECASE)
_CONFIDENCE = re.compile(
    r"confidence\W{0,4}?\s*[:=\-]\s*[*_`\"']*\s*(\d{1,3}(?:\.\d+)?)\s*(%?)", re.IGNORECASE
)


@dataclass(frozen=True)
class Judgement:
    """A parsed judge answer: `correct` is None when the answer gave no usable verdict."""

    correct: bool | None
    confidence: float | None
    problem: str = ""


def parse_judgement(text: str) -> Judgement:
    """Read `VERDICT: yes|no` and `CONFIDENCE: 0-100` from a judge's raw answer (see the
    module docstring for what is accepted); never raises."""
    text = (text or "").strip()
    if not text:
        return Judgement(None, None, "empty judge answer")
    found = {_WORDS[m.group(1).lower()] for m in _VERDICT.finditer(text)}
    if len(found) > 1:
        return Judgement(None, None, "contradicting verdicts")
    if not found:
        leading = _LEADING.match(text)
        if leading is None:
            return Judgement(None, None, "no VERDICT: yes|no in the judge answer")
        found = {_WORDS[leading.group(1).lower()]}
    confidence = None
    stated = _CONFIDENCE.search(text)
    if stated is not None:
        value = float(stated.group(1))
        if "." in stated.group(1) and value <= 1.0 and not stated.group(2):
            confidence = value  # "0.9": a fraction, not 0.9 %
        elif value <= 100.0:
            confidence = value / 100.0
    return Judgement(found.pop(), confidence)


def judge_prompt(case: Case, answer: str, history: Sequence[tuple[str, str]] = ()) -> str:
    """The user message asking whether one answer agrees with the case's reference; in a
    conversation, the exchanges before the question come first (its "it" may need them)."""
    return grading_prompt(
        Grading(case.prompt, case.reference or "", tuple(case.aliases), tuple(case.incorrect)),
        answer,
        history,
    )


def grading_prompt(grading: Grading, answer: str, history: Sequence[tuple[str, str]] = ()) -> str:
    """`judge_prompt` from the parts of the case it reads: what `stabtest execute` has
    (a plan file's grading lines) where the case itself is not."""
    lines: list[str] = []
    if history:
        lines.append("Conversation so far:")
        for user, said in history:
            lines += [f"User: {_flat(user)}", f"Assistant: {_flat(said)}"]
    lines += [
        f"Question: {' '.join(grading.question.split())}",
        f"Reference answer: {grading.reference}",
    ]
    if grading.aliases:
        lines.append("Also correct: " + "; ".join(grading.aliases))
    if grading.incorrect:
        lines.append("Known wrong answers: " + "; ".join(grading.incorrect))
    lines.append(f"Answer to grade: {_flat(answer)}")
    lines.append("")
    lines.append(
        "Does the answer to grade agree with the reference answer? Reply with exactly:\n"
        "VERDICT: yes or no\n"
        "CONFIDENCE: a number from 0 to 100"
    )
    return "\n".join(lines)


def _flat(text: str) -> str:
    """On one line, shortened to MAX_ANSWER_CHARS."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_ANSWER_CHARS else flat[:MAX_ANSWER_CHARS] + " ..."


def _quote(text: str) -> str:
    flat = " ".join((text or "").split())
    return repr(flat if len(flat) <= QUOTE_CHARS else flat[:QUOTE_CHARS] + "...")


class LLMJudge:
    """Correctness by asking the backend model (see the module docstring)."""

    name = "llm_judge"
    aspect: Aspect = "correctness"

    def __init__(
        self,
        generate: Generate | None,
        *,
        every_case: bool = True,
        params: GenerationParams = JUDGE_PARAMS,
        name: str = "llm_judge",
    ):
        self.name = name
        self.generate = generate
        self.every_case = every_case
        self.params = params

    def applies(self, case: Case) -> bool:
        if "llm_judge" in case.checks:
            return True
        return self.every_case and case.reference is not None

    def votes(self, evidence: CaseEvidence) -> list[Vote]:
        case = evidence.case
        if case.reference is None:
            reason = "no reference: the LLM judge grades correctness against a reference only"
            return [Vote(self.name, "abstain", 0.0, None, reason) for _ in evidence.answers]
        if self.generate is None:
            raise ValueError("LLMJudge needs a generate callable to ask its model")
        requests = [
            GenerationRequest(judge_prompt(case, a.text, a.history), self.params)
            for a in evidence.answers
        ]
        raw = self.generate(requests) if requests else []
        return [self._vote(text) for text in raw]

    def _vote(self, raw: str) -> Vote:
        judgement = parse_judgement(raw)
        if judgement.correct is None:
            return Vote(self.name, "abstain", 0.0, None, f"{judgement.problem}: {_quote(raw)}")
        stated = judgement.confidence
        confidence = (
            DEFAULT_CONFIDENCE
            if stated is None
            else min(max(stated, MIN_CONFIDENCE), MAX_CONFIDENCE)
        )
        outcome: VoteOutcome = "pass" if judgement.correct else "fail"
        said = "agrees with" if judgement.correct else "contradicts"
        shown = "no confidence given" if stated is None else f"confidence {stated:.0%}"
        return Vote(
            self.name,
            outcome,
            round(confidence, 4),
            stated,
            f"the judge model says it {said} the reference ({shown}): {_quote(raw)}",
            None if judgement.correct else "hallucination",
        )
