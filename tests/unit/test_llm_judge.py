"""The LLM judge with the fake backend: parsing, abstentions, the ensemble, the cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stabtest.annotators.base import Answer, CaseEvidence
from stabtest.annotators.ensemble import Ensemble
from stabtest.annotators.llm_judge import (
    DEFAULT_CONFIDENCE,
    MAX_CONFIDENCE,
    LLMJudge,
    judge_prompt,
    parse_judgement,
)
from stabtest.annotators.reference import ReferenceJudge
from stabtest.annotators.registry import build_judges
from stabtest.core.errors import ConfigError
from stabtest.core.settings import Settings
from stabtest.core.suite import Case
from stabtest.core.variant import Variant
from stabtest.session import Session

FRANCE = Case(
    id="fr",
    prompt="What is the capital of France?",
    reference="Paris",
    incorrect=("Lyon",),
    checks=("semantic", "reference", "llm_judge"),
)
OPEN = Case(id="open", prompt="Describe Paris.", checks=("semantic", "llm_judge"))

# The judge prompt quotes the graded answer: the fake backend answers by substring, the
# first matching rule wins, so the judge rules come before the question's.
JUDGE_SAYS = {
    "answer to grade: the capital of france is paris.": "VERDICT: yes\nCONFIDENCE: 95",
    "answer to grade: it is lyon, i think.": "VERDICT: no\nCONFIDENCE: 80",
    "answer to grade: lyon is the capital.": "**Verdict:** Yes",
    "answer to grade: paris, obviously.": "I cannot grade that. VERDICT: yes or no",
    "answer to grade: it must be paris.": "",
    "which city": "Lyon is the capital.",
    "capital of france": "The capital of France is Paris.",
}


def engine(tmp_path: Path, answers: dict[str, str] | None = None, **settings: str) -> Session:
    values = {"backend": "fake", "embedder": "lexical", "rootdir": str(tmp_path), **settings}
    options = {"answers": answers or JUDGE_SAYS}
    return Session(Settings(**values, backend_options=options))


def evidence(case: Case, texts: list[str]) -> CaseEvidence:
    answers = [
        Answer(Variant(case.id, i, f"p{i}", "paraphrase"), 0, t) for i, t in enumerate(texts)
    ]
    vectors = np.ones((len(texts), 2), dtype=np.float32) / np.sqrt(2)
    refs = {t: vectors[0] for t in (case.reference, *case.incorrect) if t}
    return CaseEvidence(case, answers, vectors, refs, semantic_threshold=0.8)


@pytest.mark.parametrize(
    ("text", "correct", "confidence"),
    [
        ("VERDICT: yes\nCONFIDENCE: 85", True, 0.85),
        ("VERDICT: no\nCONFIDENCE: 70%", False, 0.70),
        ("**Verdict:** No\n**Confidence**: 40", False, 0.40),
        ("verdict = correct", True, None),
        ("Verdict - incorrect. Confidence: 0.9", False, 0.9),
        ("Yes, it matches the reference.", True, None),
        ("No.", False, None),
        ("VERDICT: yes\nCONFIDENCE: 250", True, None),  # out of range: no confidence
        ("VERDICT: yes\nVERDICT: yes\nCONFIDENCE: 60", True, 0.6),
    ],
)
def test_parse_reads_verdict_and_confidence(text, correct, confidence):
    judgement = parse_judgement(text)
    assert judgement.correct is correct
    assert judgement.confidence == (None if confidence is None else pytest.approx(confidence))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("VERDICT: yes or no\nCONFIDENCE: a number from 0 to 100", "no VERDICT"),
        ("VERDICT: yes/no", "no VERDICT"),
        ("VERDICT: yes\nVERDICT: no", "contradicting"),
        ("The answer to grade is yes.", "no VERDICT"),
        ("Not sure, the reference says Paris.", "no VERDICT"),
        ("Yes or no: it depends.", "no VERDICT"),
    ],
)
def test_parse_refuses_malformed_and_ambiguous_answers(text, problem):
    judgement = parse_judgement(text)
    assert judgement.correct is None
    assert problem in judgement.problem


def test_prompt_names_reference_wrong_answers_and_the_answer():
    prompt = judge_prompt(FRANCE, "It is   Lyon,\n I think.")
    assert "Reference answer: Paris" in prompt
    assert "Known wrong answers: Lyon" in prompt
    assert "Answer to grade: It is Lyon, I think." in prompt
    assert "VERDICT: yes or no" in prompt


def test_votes_pass_fail_and_abstain_with_the_raw_text(tmp_path):
    texts = [
        "The capital of France is Paris.",
        "It is Lyon, I think.",
        "Lyon is the capital.",
        "Paris, obviously.",
        "It must be Paris.",
    ]
    votes = LLMJudge(engine(tmp_path).generator).votes(evidence(FRANCE, texts))
    assert [v.outcome for v in votes] == ["pass", "fail", "pass", "abstain", "abstain"]
    assert votes[0].confidence == MAX_CONFIDENCE  # 95 stated, capped
    assert votes[1].confidence == 0.8 and votes[1].category == "hallucination"
    assert votes[2].confidence == DEFAULT_CONFIDENCE  # no confidence stated
    assert "VERDICT: yes or no" in votes[3].reason  # the raw text is kept for humans
    assert votes[4].reason.startswith("empty judge answer")
    assert all(v.judge == "llm_judge" for v in votes)


def test_judge_requests_are_batched_deduplicated_and_cached(tmp_path):
    texts = ["The capital of France is Paris.", "It is Lyon, I think."] * 3
    first = engine(tmp_path)
    votes = LLMJudge(first.generator).votes(evidence(FRANCE, texts))
    assert first.generator.backend.calls == 1 and len(first.generator.backend.batches[0]) == 2
    again = engine(tmp_path)
    assert LLMJudge(again.generator).votes(evidence(FRANCE, texts)) == votes
    assert again.generator.backend.calls == 0  # a rerun asks the model nothing


def test_case_without_reference_abstains_without_asking(tmp_path):
    session = engine(tmp_path)
    votes = LLMJudge(session.generator).votes(evidence(OPEN, ["Paris is big.", "A city."]))
    assert [v.outcome for v in votes] == ["abstain", "abstain"]
    assert "no reference" in votes[0].reason
    assert session.generator._backend is None  # the backend was never even resolved


def test_malformed_judge_leaves_the_decision_to_the_other_judges(tmp_path):
    ev = evidence(FRANCE, ["Paris, obviously.", "It must be Paris."])
    verdicts, correct = Ensemble([ReferenceJudge(), LLMJudge(engine(tmp_path).generator)]).judge(ev)
    assert [v.outcome for v in verdicts] == ["pass", "pass"]
    assert correct == [True, True]
    assert all("reference:" in v.reason for v in verdicts)
    alone, _ = Ensemble([LLMJudge(engine(tmp_path).generator)]).judge(ev)
    assert [v.outcome for v in alone] == ["escalate", "escalate"]  # nobody could decide


def test_disagreeing_with_the_reference_judge_escalates(tmp_path):
    ev = evidence(FRANCE, ["Lyon is the capital.", "The capital of France is Paris."])
    sure, _ = Ensemble([ReferenceJudge()], escalate_below=0.6).judge(ev)
    assert [v.outcome for v in sure] == ["fail", "pass"]
    ensemble = Ensemble(
        [ReferenceJudge(), LLMJudge(engine(tmp_path).generator)], escalate_below=0.6
    )
    verdicts, _ = ensemble.judge(ev)
    # reference: fail 0.97 (a known wrong answer); judge: pass 0.6 -> a split, 0.5993 < 0.6
    assert verdicts[0].outcome == "escalate"
    assert verdicts[0].auto_outcome == "fail" and verdicts[0].category == "hallucination"
    assert verdicts[0].confidence == pytest.approx(0.97 * 0.97 / 1.57, abs=1e-4)
    assert verdicts[1].outcome == "pass"  # both agree: not escalated


def test_a_case_gets_the_judge_by_checks_or_by_settings(tmp_path):
    session = engine(tmp_path)
    plain = Case(id="p", prompt="Capital of France?", reference="Paris")
    dormant = build_judges(["semantic", "reference"], session.generator)[-1]
    assert isinstance(dormant, LLMJudge)
    assert dormant.applies(FRANCE) and dormant.applies(OPEN)  # listed in checks
    assert not dormant.applies(plain)
    [listed] = build_judges(["llm_judge"], session.generator)
    assert listed.applies(plain) and listed.applies(FRANCE)
    assert not listed.applies(Case(id="o", prompt="Describe Paris."))  # nothing to judge
    assert [j.name for j in build_judges(["semantic"])] == ["semantic"]  # no session
    with pytest.raises(ConfigError, match="llm_judge"):
        build_judges(["llm_judge"])


def test_session_runs_the_judge_for_a_case_that_asks_for_it(tmp_path):
    session = engine(tmp_path)
    case = FRANCE.model_copy(update={"paraphrases": ("Which city is the capital of France?",)})
    session.register("suite.yaml", case)
    outcome = session.outcome("suite.yaml", "fr")
    v0, v1 = (outcome.variants[v].answers[0].verdict for v in ("v0", "v1"))
    judged = {v.judge: v.outcome for v in v0.votes}
    assert judged["reference"] == judged["llm_judge"] == "pass"  # VERDICT: yes
    assert {v.judge: v.outcome for v in v1.votes}["llm_judge"] == "pass"  # "**Verdict:** Yes"
    assert v1.outcome == "fail"  # the reference judge's sure "Lyon" outweighs it
