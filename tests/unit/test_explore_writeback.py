"""Writing a found wording back into its suite: one line added, everything else byte for
byte, never twice, and the suite still loads with the new paraphrase."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from stabtest.core.errors import SuiteError
from stabtest.core.loader import load_suite
from stabtest.explore.writeback import add_paraphrase

SUITE = """\
# Capitals: the answers must all name the same city.
suite: capitals
defaults:
  sampling: {temperature: 0.0, max_new_tokens: 32}   # short answers
cases:
  - id: france
    prompt: What is the capital of France?
    reference: Paris  # the answer
    paraphrases:
      - Which city is the capital of France?
      - "France's capital city is which city?"   # quoted on purpose

  # Japan is next; this comment belongs to it.
  - id: japan
    prompt: What is the capital of Japan?
    reference: Tokyo
    paraphrases: [Which city is the capital of Japan?]
  - id: italy
    prompt: What is the capital of Italy?
    reference: Rome
  - {id: spain, prompt: 'What is the capital of Spain?', reference: Madrid}
"""


def added_lines(before: str, after: str) -> list[str]:
    diff = difflib.ndiff(before.splitlines(), after.splitlines())
    return [line[2:] for line in diff if line.startswith("+ ")]


def removed_lines(before: str, after: str) -> list[str]:
    diff = difflib.ndiff(before.splitlines(), after.splitlines())
    return [line[2:] for line in diff if line.startswith("- ")]


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    path = tmp_path / "capitals.yaml"
    path.write_text(SUITE, encoding="utf-8")
    return path


def test_adds_one_item_after_the_last_paraphrase_and_keeps_the_rest(suite: Path) -> None:
    written = add_paraphrase(suite, "france", "what is the capital of France?!")
    after = suite.read_text(encoding="utf-8")
    assert written.added and written.line == 12
    assert added_lines(SUITE, after) == ["      - what is the capital of France?!"]
    assert removed_lines(SUITE, after) == []
    assert after.splitlines()[11] == "      - what is the capital of France?!"
    assert "  # Japan is next; this comment belongs to it." in after.split("- id: japan")[0]
    france = load_suite(suite).case("france")
    assert france.paraphrases[-1] == "what is the capital of France?!"
    assert len(france.paraphrases) == 3


def test_the_same_wording_is_never_added_twice(suite: Path) -> None:
    add_paraphrase(suite, "france", "So, what is the capital of France?")
    once = suite.read_bytes()
    again = add_paraphrase(suite, "france", "So, what is the capital of France?")
    assert not again.added and suite.read_bytes() == once
    assert not add_paraphrase(suite, "france", "What is the capital of France?").added
    assert suite.read_bytes() == once


@pytest.mark.parametrize(
    "text",
    [
        "  What is the capital of France?\n",  # whitespace operator
        "Q: What is the capital of France?\nA:",  # instruction operator
        "What's the capital of France? #1",  # a comment sign and an apostrophe
        "- what is the capital of france",  # a leading dash
        'He said "Paris?"\t',
    ],
)
def test_awkward_texts_come_back_exactly(suite: Path, text: str) -> None:
    assert add_paraphrase(suite, "france", text).added
    assert load_suite(suite).case("france").paraphrases[-1] == text
    assert len(added_lines(SUITE, suite.read_text(encoding="utf-8"))) == 1


def test_flow_lists_cases_without_paraphrases_and_flow_cases(suite: Path) -> None:
    add_paraphrase(suite, "japan", "WHAT IS THE CAPITAL OF JAPAN?")
    add_paraphrase(suite, "italy", "what is the capital of Italy")
    add_paraphrase(suite, "spain", "Hi! What is the capital of Spain?")
    after = suite.read_text(encoding="utf-8")
    assert (
        "    paraphrases: [Which city is the capital of Japan?, "
        '"WHAT IS THE CAPITAL OF JAPAN?"]' in after
    )
    assert "    reference: Rome\n    paraphrases:\n      - what is the capital of Italy\n" in after
    assert 'reference: Madrid, paraphrases: ["Hi! What is the capital of Spain?"]}' in after
    loaded = load_suite(suite)
    assert loaded.case("japan").paraphrases[-1] == "WHAT IS THE CAPITAL OF JAPAN?"
    assert loaded.case("italy").paraphrases == ("what is the capital of Italy",)
    assert loaded.case("spain").paraphrases == ("Hi! What is the capital of Spain?",)
    assert removed_lines(SUITE, after) == [
        "    paraphrases: [Which city is the capital of Japan?]",
        "  - {id: spain, prompt: 'What is the capital of Spain?', reference: Madrid}",
    ]


def test_inherited_paraphrases_are_kept_when_the_case_gets_its_own(tmp_path: Path) -> None:
    path = tmp_path / "merged.yaml"
    path.write_text(
        "defaults: {}\n"
        "cases:\n"
        "  - &first\n"
        "    id: france\n"
        "    prompt: What is the capital of France?\n"
        "    paraphrases: [Which city is the capital of France?]\n"
        "  - <<: *first\n"
        "    id: france-again\n",
        encoding="utf-8",
    )
    assert add_paraphrase(path, "france-again", "Name the capital of France.").added
    again = load_suite(path).case("france-again")
    inherited = "Which city is the capital of France?"
    assert again.paraphrases == (inherited, "Name the capital of France.")
    assert load_suite(path).case("france").paraphrases == (inherited,)


def test_crlf_files_stay_crlf(tmp_path: Path) -> None:
    path = tmp_path / "crlf.yaml"
    path.write_bytes(SUITE.replace("\n", "\r\n").encode())
    assert add_paraphrase(path, "france", "WHAT IS THE CAPITAL OF FRANCE?").added
    data = path.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert load_suite(path).case("france").paraphrases[-1] == "WHAT IS THE CAPITAL OF FRANCE?"


def test_an_unknown_case_is_named_with_the_known_ones(suite: Path) -> None:
    with pytest.raises(SuiteError, match=r"no case 'germany' \(cases: france, japan"):
        add_paraphrase(suite, "germany", "x")


def test_a_conversation_gets_the_wording_as_a_paraphrase_of_its_first_turn(
    tmp_path: Path,
) -> None:
    path = tmp_path / "talk.yaml"
    source = (
        "cases:\n"
        "  - id: talk  # a thread\n"
        "    turns:\n"
        "      - prompt: What is the capital of France?\n"
        "        reference: Paris\n"
        "      - prompt: Remind me?  # asked again\n"
        "        recall: 1\n"
    )
    path.write_text(source)
    written = add_paraphrase(path, "talk", "what is the capital of France?!")
    assert written.added and written.line == 7
    text = path.read_text()
    assert text.count("# a thread") == 1 and "Remind me?  # asked again" in text
    case = load_suite(path, "talk.yaml").cases[0]
    assert case.turns[0].paraphrases == ("what is the capital of France?!",)
    assert case.turns[1].paraphrases == ()
    assert not add_paraphrase(path, "talk", "what is the capital of France?!").added
