"""Importers against the real benchmark files in ../shared/data, plus tiny broken inputs.

Expected values are read from the source files here with plain csv/json, independently of
the importer code, so a test failing means the suite disagrees with the benchmark.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import SHARED_DATA as DATA  # the repo's root conftest: one place says where
from stabtest.core.errors import ConfigError, SuiteError
from stabtest.core.loader import build_case, parse_suite
from stabtest.core.suite import Suite
from stabtest.importers import IMPORTERS, import_suite, importer_options
from stabtest.importers._common import UniqueIds, slugify
from stabtest.importers.gsm8k import final_answer
from stabtest.importers.pararel import cloze_to_prompt


def _data(relative: str) -> Path:
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"reference data not found at {path} (set STABTEST_SHARED_DATA)")
    return path


def _parse(text: str) -> Suite:
    return parse_suite(text, "<imported>")


def _answers(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


# --- TruthfulQA --------------------------------------------------------------------------


def test_truthfulqa_first_rows_match_csv() -> None:
    path = _data("TruthfulQA.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [row for _, row in zip(range(5), csv.DictReader(handle), strict=False)]
    suite = _parse(import_suite("truthfulqa", path, limit=5))
    assert suite.name == "truthfulqa"
    assert len(suite.cases) == 5
    for number, (row, case) in enumerate(zip(rows, suite.cases, strict=True), start=1):
        assert case.id.startswith(f"tqa-{number}-")
        assert case.prompt == row["Question"]
        assert case.reference == row["Best Answer"]
        assert list(case.incorrect) == _answers(row["Incorrect Answers"])
        assert row["Best Answer"] not in case.aliases
        assert set(case.aliases) == set(_answers(row["Correct Answers"])) - {row["Best Answer"]}
        assert case.kind == "fact"
        assert case.tags == (row["Category"],)
        assert "reference" in case.checks


def test_truthfulqa_category_filter_and_limit() -> None:
    path = _data("TruthfulQA.csv")
    suite = _parse(import_suite("truthfulqa", path, limit=3, category="fiction"))
    assert len(suite.cases) == 3
    assert all(case.tags == ("Fiction",) for case in suite.cases)


def test_truthfulqa_unknown_category_lists_the_real_ones() -> None:
    path = _data("TruthfulQA.csv")
    with pytest.raises(SuiteError, match=r"no rows match category.*Misconceptions"):
        import_suite("truthfulqa", path, category="Astrology")


def test_truthfulqa_whole_file_gives_valid_unique_cases() -> None:
    # Validated case by case: a YAML round trip of all 817 rows costs seconds in the loader.
    imported = IMPORTERS["truthfulqa"](_data("TruthfulQA.csv"))
    cases = [build_case(raw, imported.defaults) for raw in imported.cases]
    assert len(cases) == 817
    assert len({case.id for case in cases}) == 817


# --- GSM8K -------------------------------------------------------------------------------


def test_gsm8k_reference_is_the_final_number_for_first_20_rows() -> None:
    path = _data("gsm8k_test.jsonl")
    with path.open(encoding="utf-8") as handle:
        records = [json.loads(line) for _, line in zip(range(20), handle, strict=False)]
    suite = _parse(import_suite("gsm8k", path, limit=20))
    assert len(suite.cases) == 20
    for number, (record, case) in enumerate(zip(records, suite.cases, strict=True), start=1):
        expected = record["answer"].split("#### ")[-1].strip().replace(",", "")
        assert case.reference == expected
        assert float(case.reference) == float(expected)
        assert case.prompt == record["question"].strip()
        assert case.id == f"gsm8k-{number}"
        assert case.kind == "numeric"
        assert case.checks == ("numeric", "semantic")
        assert case.sampling.max_new_tokens == 256


def test_gsm8k_limit_and_token_option() -> None:
    path = _data("gsm8k_test.jsonl")
    text = import_suite("gsm8k", path, limit=3, max_new_tokens="128", name="math-small")
    suite = _parse(text)
    assert suite.name == "math-small"
    assert [case.id for case in suite.cases] == ["gsm8k-1", "gsm8k-2", "gsm8k-3"]
    assert yaml.safe_load(text)["defaults"]["sampling"] == {"max_new_tokens": 128}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("so 3\n#### 1,234", "1234"),
        ("#### -5", "-5"),
        ("#### 2.50 ", "2.50"),
        ("no marker 7", None),
        ("#### seven", None),
        ("#### 1\n#### 2", "2"),
    ],
)
def test_gsm8k_final_answer(answer: str, expected: str | None) -> None:
    assert final_answer(answer) == expected


# --- ParaRel -----------------------------------------------------------------------------


def _pattern_key(text: str) -> str:
    """Patterns compared without whitespace or trailing punctuation (the importer tidies both)."""
    return re.sub(r"\s+", "", text).rstrip(".,;:")


def test_pararel_capital_paraphrases_come_from_distinct_patterns() -> None:
    root = _data("pararel")
    with (root / "patterns" / "P36.jsonl").open(encoding="utf-8") as handle:
        patterns = [json.loads(line)["pattern"] for line in handle if line.strip()]
    suite = _parse(import_suite("pararel", root, relations=["P36"], facts_per_relation=3))
    assert len(suite.cases) == 3
    with (root / "trex" / "P36.jsonl").open(encoding="utf-8") as handle:
        facts = [json.loads(line) for line in handle if line.strip()]
    pattern_keys = [_pattern_key(pattern) for pattern in patterns]
    for case in suite.cases:
        found = re.fullmatch(r"Complete the sentence: The capital of (.+) is ___\.", case.prompt)
        assert found, case.prompt
        subject = found.group(1)
        assert case.id == f"pararel-P36-{slugify(subject)}"
        assert case.reference in {f["obj_label"] for f in facts if f["sub_label"] == subject}
        assert case.tags == ("P36",)
        variants = [case.prompt, *case.paraphrases]
        assert len(variants) == len(set(variants)) == len(set(pattern_keys))
        used: list[int] = []
        for variant in variants:
            assert variant.startswith("Complete the sentence: ")
            assert subject in variant and "___" in variant
            assert not re.search(r"\s[.]$", variant)
            body = variant.removeprefix("Complete the sentence: ")
            key = _pattern_key(body.replace(subject, "[X]").replace("___", "[Y]"))
            used.append(pattern_keys.index(key))
        assert len(set(used)) == len(used), "each variant must come from its own pattern"


def test_pararel_same_seed_same_yaml_other_seed_other_facts() -> None:
    root = _data("pararel")
    first = import_suite("pararel", root, relations="P36", seed=1)
    again = import_suite("pararel", root, relations="P36", seed=1)
    other = import_suite("pararel", root, relations="P36", seed=2)
    assert first == again
    ids = {case.id for case in _parse(first).cases}
    assert len(ids) == 5
    assert ids != {case.id for case in _parse(other).cases}


def test_pararel_relation_picks_do_not_depend_on_other_relations() -> None:
    root = _data("pararel")
    alone = _parse(import_suite("pararel", root, relations="P36", seed=4))
    together = _parse(import_suite("pararel", root, relations="P17,P36", seed=4))
    assert [c.id for c in together.cases if "P36" in c.tags] == [c.id for c in alone.cases]


def test_pararel_limit_caps_total_in_relation_order() -> None:
    root = _data("pararel")
    suite = _parse(import_suite("pararel", root, relations=["P36", "P17"], limit=7))
    assert len(suite.cases) == 7
    assert [case.tags[0] for case in suite.cases] == ["P17"] * 5 + ["P36"] * 2


def test_pararel_all_relations_reparse() -> None:
    suite = _parse(import_suite("pararel", _data("pararel"), facts_per_relation=1))
    assert len(suite.cases) == len(list((DATA / "pararel" / "patterns").glob("P*.jsonl")))


def test_pararel_unknown_relation() -> None:
    with pytest.raises(ConfigError, match="P9999"):
        import_suite("pararel", _data("pararel"), relations="P9999")


@pytest.mark.parametrize(
    ("pattern", "prompt"),
    [
        ("The capital of [X] is [Y] .", "Complete the sentence: The capital of France is ___."),
        ("[Y] is the capital of [X].", "Complete the sentence: ___ is the capital of France."),
        ("[X], a product of [Y],", "Complete the sentence: France, a product of ___."),
        ("[X]'s occupation is [Y]", "Complete the sentence: France's occupation is ___."),
    ],
)
def test_cloze_to_prompt(pattern: str, prompt: str) -> None:
    assert cloze_to_prompt(pattern, "France") == prompt


def _tiny_pararel(tmp_path: Path, patterns: list[str], facts: list[tuple[str, str]]) -> Path:
    (tmp_path / "patterns").mkdir()
    (tmp_path / "trex").mkdir()
    (tmp_path / "patterns" / "P1.jsonl").write_text(
        "".join(json.dumps({"pattern": p}) + "\n" for p in patterns), encoding="utf-8"
    )
    (tmp_path / "trex" / "P1.jsonl").write_text(
        "".join(json.dumps({"sub_label": s, "obj_label": o}) + "\n" for s, o in facts),
        encoding="utf-8",
    )
    return tmp_path


def test_pararel_slug_collisions_and_multi_object_subjects(tmp_path: Path) -> None:
    root = _tiny_pararel(
        tmp_path,
        ["[X] is in [Y] .", "[X] is in [Y].", "[X] lies in [Y]."],
        [("São Paulo", "Brazil"), ("Sao Paulo", "Brasil"), ("São Paulo", "South America")],
    )
    suite = _parse(import_suite("pararel", root, facts_per_relation=10))
    assert [case.id for case in suite.cases] == ["pararel-P1-sao-paulo", "pararel-P1-sao-paulo-2"]
    first = suite.cases[0]
    assert (first.reference, first.aliases) == ("Brazil", ("South America",))
    # Two patterns differing only by a space give one prompt, not a duplicate paraphrase.
    assert first.paraphrases == ("Complete the sentence: São Paulo lies in ___.",)


# --- errors ------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


HEADER = "Type,Category,Question,Best Answer,Correct Answers,Incorrect Answers,Source\n"
GOOD_ROW = "Adversarial,Science,Is it?,Yes,Yes; Sure,No,src\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("Type,Question,Best Answer\nA,Q,B\n", 1, "missing CSV columns"),
        (HEADER + GOOD_ROW + "Adversarial,Science,Short row\n", 3, "row 2 has 3 fields"),
        (HEADER + GOOD_ROW + GOOD_ROW.rstrip("\n") + ",extra\n", 3, "row 2 has 8 fields"),
        (HEADER + GOOD_ROW + "Adversarial,Science,,Yes,Yes,No,src\n", 3, "empty 'Question'"),
    ],
)
def test_truthfulqa_malformed_rows_name_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(SuiteError, match=message) as caught:
        import_suite("truthfulqa", path)
    assert caught.value.path == str(path)
    assert caught.value.line == line
    assert f"bad.csv:{line}" in str(caught.value)


GOOD_LINE = json.dumps({"question": "1+1?", "answer": "2\n#### 2"}) + "\n"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (GOOD_LINE + "{not json\n", 2, "invalid JSON"),
        (GOOD_LINE + "\n" + json.dumps({"question": "q", "answer": "just 4"}) + "\n", 3, "####"),
        (GOOD_LINE + json.dumps({"answer": "#### 4"}) + "\n", 2, "'question'"),
        (GOOD_LINE + "[1, 2]\n", 2, "JSON object"),
    ],
)
def test_gsm8k_malformed_lines_name_file_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = _write(tmp_path / "bad.jsonl", text)
    with pytest.raises(SuiteError, match=message) as caught:
        import_suite("gsm8k", path)
    assert (caught.value.path, caught.value.line) == (str(path), line)
    assert f"bad.jsonl:{line}" in str(caught.value)


def test_pararel_bad_pattern_names_file_and_line(tmp_path: Path) -> None:
    root = _tiny_pararel(tmp_path, ["[X] is in [Y].", "[X] has no object slot."], [("A", "B")])
    with pytest.raises(SuiteError, match=r"P1\.jsonl:2 .*\[Y\] exactly once"):
        import_suite("pararel", root)


def test_pararel_folder_without_trex(tmp_path: Path) -> None:
    (tmp_path / "patterns").mkdir()
    with pytest.raises(SuiteError, match="patterns/ and trex/"):
        import_suite("pararel", tmp_path)


def test_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(SuiteError, match=r"nope\.jsonl: file not found"):
        import_suite("gsm8k", missing)


def test_unknown_kind_and_option() -> None:
    with pytest.raises(ConfigError, match=r"unknown importer 'mmlu'.*gsm8k"):
        import_suite("mmlu", Path("x"))
    with pytest.raises(ConfigError, match=r"truthfulqa\.relations.*category"):
        import_suite("truthfulqa", Path("x"), relations="P36")
    with pytest.raises(ConfigError, match="limit"):
        import_suite("gsm8k", Path("x"), limit=0)
    with pytest.raises(ConfigError, match="facts_per_relation"):
        import_suite("pararel", Path("x"), facts_per_relation="many")


def test_registry_and_options() -> None:
    assert sorted(IMPORTERS) == ["gsm8k", "pararel", "truthfulqa"]
    assert importer_options("pararel") == ["relations", "facts_per_relation"]
    assert importer_options("truthfulqa") == ["category"]
    assert importer_options("gsm8k") == ["max_new_tokens"]


def test_unique_ids_suffix_on_collision() -> None:
    ids = UniqueIds()
    assert [ids.take("a"), ids.take("a"), ids.take("a"), ids.take("a-2")] == [
        "a",
        "a-2",
        "a-3",
        "a-2-2",
    ]


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Zürich", "zurich"),
        ("北京", "item"),
        ("  Hello, World!  ", "hello-world"),
        ("a" * 60, "a" * 40),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug
    assert len(slugify(text)) <= 40
