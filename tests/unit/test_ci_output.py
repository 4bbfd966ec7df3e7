"""What CI systems get of a result: short JUnit properties and an escaped HTML row."""

from __future__ import annotations

from stabtest.core.results import (
    AnswerResult,
    CaseMetrics,
    CaseResult,
    VariantResult,
    Verdict,
    Vote,
)
from stabtest.reporting.item_html import case_html, results_html, variant_html
from stabtest.reporting.properties import (
    SHOWN,
    case_properties,
    variant_properties,
    whole_case_properties,
)

PASS = Verdict("pass", 0.9, (Vote("reference", "pass", 0.9, None, "says Paris"),))
FAIL = Verdict(
    "fail",
    0.8,
    (Vote("reference", "fail", 0.8, 0.25, "says <Lyon> & not Paris", "hallucination"),),
    "hallucination",
    "reference: says <Lyon> & not Paris",
)


def variant(*answers: AnswerResult, prompt: str = "Capital of France?", **extra) -> VariantResult:
    return VariantResult(
        "s.yaml::fr[v1]", "s.yaml", "fr", "v1", "paraphrase", prompt, (), "Paris", answers, **extra
    )


def props(result: VariantResult | CaseResult) -> dict[str, str]:
    if isinstance(result, VariantResult):
        found = variant_properties(result)
    else:
        found = case_properties(result)
    names = [name for name, _ in found]
    assert len(names) == len(set(names)) and all(n.startswith("stab_") for n in names)
    return dict(found)


def test_a_failing_variant_names_its_deciding_answer_and_why() -> None:
    result = variant(
        AnswerResult(0, "Paris.", 0, PASS), AnswerResult(1, "Lyon\nof course", 1, FAIL)
    )
    assert props(result) == {
        "stab_verdict": "fail",
        "stab_confidence": "0.80",
        "stab_family": "paraphrase",
        "stab_prompt": "Capital of France?",
        "stab_answer": "Lyon of course",  # one line
        "stab_category": "hallucination",
        "stab_reason": "reference: says <Lyon> & not Paris",
    }


def test_a_passing_variant_says_no_reason_and_a_rejected_one_says_why() -> None:
    assert "stab_reason" not in props(variant(AnswerResult(0, "Paris.", 0, PASS)))
    rejected = props(variant(rejected="duplicate of v0"))
    assert rejected["stab_verdict"] == "rejected"
    assert rejected["stab_reason"] == "duplicate of v0"
    assert "stab_answer" not in rejected


def test_long_and_hostile_texts_become_one_short_safe_line() -> None:
    prompt = "Where? " * 200 + "\x1b[2J\x07end"
    shown = props(variant(AnswerResult(0, "x" * 5000, 0, PASS), prompt=prompt))
    assert len(shown["stab_prompt"]) <= SHOWN + 40 and "chars] … " in shown["stab_prompt"]
    assert "\x1b" not in shown["stab_prompt"] and shown["stab_prompt"].endswith("\\x07end")
    assert len(shown["stab_answer"]) <= SHOWN + 40


def test_a_case_gives_its_metrics_thresholds_and_failures() -> None:
    case = CaseResult(
        "s.yaml::fr", "s.yaml", "fr", CaseMetrics(0.6667, None, 0.5, 4, 2), 0.5, None, ("SI high",)
    )
    assert props(case) == {
        "stab_si": "0.667",
        "stab_fc": "-",
        "stab_rdr": "0.500",
        "stab_passed": "false",
        "stab_max_si": "0.500",
        "stab_min_fc": "-",
        "stab_answers": "4",
        "stab_clusters": "2",
        "stab_escalated": "0",
        "stab_failures": "SI high",
    }


def test_the_html_row_escapes_model_text_and_lists_identical_answers_once() -> None:
    hostile = "<script>alert(1)</script> & Lyon"
    result = variant(
        AnswerResult(0, "Paris.", 0, PASS),
        AnswerResult(1, hostile, 1, FAIL),
        AnswerResult(2, "Paris.", 0, PASS),
        prompt="<b>Capital</b> of France?",
    )
    shown = variant_html(result)
    assert "<script>" not in shown and "<b>Capital" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Lyon" in shown
    assert "&lt;b&gt;Capital&lt;/b&gt; of France?" in shown
    assert "samples 0, 2</b>" in shown and "sample 1</b>" in shown
    assert shown.count("Paris.</pre>") == 1
    assert "says &lt;Lyon&gt; &amp; not Paris" in shown  # a judge's reason quotes the answer
    assert "<td>0.25</td>" in shown  # the vote's score


def test_an_item_row_holds_every_result_it_recorded() -> None:
    case = CaseResult("s.yaml::fr", "s.yaml", "fr", CaseMetrics(0.0, 1.0, 0.5, 2, 1), 0.5, 0.5)
    row = results_html([variant(AnswerResult(0, "Paris.", 0, PASS)), case])
    assert row.count('<div class="stabtest">') == 1 and "<hr>" in row
    assert case_html(case) in row and "<b>fr</b>: PASS" in row


def test_a_case_collected_as_one_item_names_each_variants_properties_by_its_id() -> None:
    case = CaseResult("s.yaml::fr", "s.yaml", "fr", CaseMetrics(0.0, 1.0, 0.5, 2, 1), 0.5, 0.5)
    failing = variant(AnswerResult(0, "Lyon.", 1, FAIL))
    rejected = VariantResult(
        "s.yaml::fr[v2]", "s.yaml", "fr", "v2", "rule", "x", (), "Paris", (), "duplicate of v1"
    )
    found = whole_case_properties(case, [failing, rejected])
    names = [name for name, _ in found]
    assert len(names) == len(set(names))
    shown = dict(found)
    assert shown["stab_si"] == "0.000" and shown["stab_passed"] == "true"
    assert (shown["stab_v1_verdict"], shown["stab_v1_category"]) == ("fail", "hallucination")
    assert (shown["stab_v2_verdict"], shown["stab_v2_reason"]) == ("rejected", "duplicate of v1")
    assert "stab_verdict" not in shown
