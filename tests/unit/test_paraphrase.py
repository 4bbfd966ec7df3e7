"""Model paraphrase prompts and the cleaning of a small model's messy replies."""

from __future__ import annotations

import pytest

from stabtest.variants.paraphrase_prompt import clean_paraphrase, paraphrase_prompt

CAPITAL = "What is the capital of France?"
PROBLEM = "Sam has 12 apples and buys 3,500 more. How many apples does Sam have now?"


# --- prompt -----------------------------------------------------------------------------


def test_prompt_contains_the_question_and_asks_for_the_same_meaning() -> None:
    for attempt in range(12):
        prompt = paraphrase_prompt(CAPITAL, n=3, attempt=attempt)
        assert prompt.endswith(f'Sentence: "{CAPITAL}"')
        assert "meaning" in prompt or "synonyms" in prompt
        assert "Output only the new sentence." in prompt
        assert len(prompt) < 250  # a 135M model follows short instructions only


def test_prompt_puts_a_multi_line_question_on_one_line() -> None:
    assert paraphrase_prompt("Tom has 2 cats.\n  How many?", 1, 0).endswith(
        'Sentence: "Tom has 2 cats. How many?"'
    )


def test_each_slot_gets_a_different_request() -> None:
    prompts = [paraphrase_prompt(CAPITAL, n=5, attempt=i) for i in range(5)]
    assert len(set(prompts)) == 5


def test_a_retry_asks_differently_from_the_first_try() -> None:
    n = 3
    first_tries = {paraphrase_prompt(CAPITAL, n, slot) for slot in range(n)}
    for slot in range(n):
        assert paraphrase_prompt(CAPITAL, n, slot + n) not in first_tries


def test_prompt_is_deterministic() -> None:
    assert paraphrase_prompt(CAPITAL, 4, 2) == paraphrase_prompt(CAPITAL, 4, 2)


def test_numbers_are_protected_only_when_there_are_numbers() -> None:
    assert "number" in paraphrase_prompt(PROBLEM, 1, 0)
    assert "number" not in paraphrase_prompt(CAPITAL, 1, 0)


def test_prompt_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        paraphrase_prompt(CAPITAL, 0, 0)
    with pytest.raises(ValueError):
        paraphrase_prompt(CAPITAL, 2, -1)


# --- cleaning ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Which city is the capital of France?", "Which city is the capital of France?"),
        (
            "Sure! Here's a rewritten version of the question:\n\n"
            '"Which city serves as the capital of France?"',
            "Which city serves as the capital of France?",
        ),
        (
            "Here is the question: Which city is France's capital?",
            "Which city is France's capital?",
        ),
        (
            "1. What city is the capital of France?\n2. Where is the French capital?",
            "What city is the capital of France?",
        ),
        ("Certainly. What is France's capital city?", "What is France's capital city?"),
        (
            "**New question:** What's the capital city of France?",
            "What's the capital city of France?",
        ),
        ("“Name the capital of France.”", "Name the capital of France."),
        (
            "Which city is the capital of France? This version uses simpler words.",
            "Which city is the capital of France?",
        ),
        (
            "Rewritten question: Which city is France's seat of government? (same meaning)",
            "Which city is France's seat of government?",
        ),
        ("- Which city is the French capital?<|im_end|>", "Which city is the French capital?"),
        (
            "Original question: What is the capital of France?\n"
            "Paraphrased: Which city is the capital of France?",
            "Which city is the capital of France?",
        ),
        (
            "What is the capital of France?\nWhich French city is the capital?",
            "Which French city is the capital?",
        ),
        (
            "The rewritten question is: Which city is the capital of France?\nAnswer: Paris",
            "Which city is the capital of France?",
        ),
        ("Question 2 - Which city is France's capital?", "Which city is France's capital?"),
        (
            'The reworded sentence is: "Which city is the capital of France?"',
            "Which city is the capital of France?",
        ),
        (
            'A new version of the sentence would be "Which city is the capital of France?".',
            "Which city is the capital of France?",
        ),
        (
            "```\nIn this country, which city is the capital?\n```",
            "In this country, which city is the capital?",
        ),
    ],
)
def test_clean_extracts_one_question(raw: str, expected: str) -> None:
    assert clean_paraphrase(raw, CAPITAL) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   \n\n",
        "<|im_end|>",
        "Sure! Here's a rewritten version of the question:",
        "what is the capital of france",
        '"What is the capital of France?!"',
        "The capital of France is Paris.",
        "Paris.",
        "Answer: Paris",
        # Real SmolLM2-135M replies to rewrite requests:
        'The answer to this question is "What is the capital of France?"',
        'The answer to this question is: "What is the capital of France?"',
        'The original text is: "What is the capital of France?"',
        "The question is asking for a specific city, which is Paris.",
        'The original sentence was "What is the capital of France?"',
        "The new question:\n\nNote: the meaning is the same.",
        "Which city " + "really " * 40 + "is the capital of France?",
    ],
)
def test_clean_refuses_unusable_output(raw: str) -> None:
    assert clean_paraphrase(raw, CAPITAL) is None


def test_clean_refuses_a_paraphrase_that_changes_a_number() -> None:
    good = "Sam owns 12 apples and purchases 3500 more. How many apples does he have now?"
    assert clean_paraphrase(good, PROBLEM) == good
    assert clean_paraphrase("Sam has 12 apples and buys 350 more. How many now?", PROBLEM) is None
    assert clean_paraphrase("Sam has apples and buys more. How many now?", PROBLEM) is None


def test_clean_accepts_a_request_but_not_an_answer_for_an_imperative() -> None:
    original = "Name the largest ocean on Earth."
    assert clean_paraphrase("Tell me which ocean is the biggest.", original) == (
        "Tell me which ocean is the biggest."
    )
    assert clean_paraphrase("The Pacific Ocean is the largest.", original) is None


def test_clean_accepts_any_sentence_for_a_statement_prompt() -> None:
    original = "Complete the sentence: the capital of France is"
    assert clean_paraphrase("Finish this: France's capital is", original) == (
        "Finish this: France's capital is"
    )
