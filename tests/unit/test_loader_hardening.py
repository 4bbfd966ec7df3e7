"""Hostile suite input: every odd YAML construct, bad byte or alias bomb ends as the one
documented error (`SuiteError`: file, line, key, one line), and a perturbation that cannot
change a prompt is not counted twice."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import pytest

from stabtest.core.errors import SuiteError
from stabtest.core.loader import MAX_NODES, load_suite, parse_suite
from stabtest.core.suite import Case, Perturbations
from stabtest.variants.expand import DuplicateVariants, VariantExpander
from stabtest.variants.registry import CaseRegistry
from tests.plugin.conftest import CAPITALS, CONSISTENT, Writer, stab_project  # noqa: F401 (a fixture)

PATH = "suites/odd.yaml"
CASE = "cases:\n  - id: a\n    prompt: hi\n"


def error_of(text: str) -> SuiteError:
    with pytest.raises(SuiteError) as info:
        parse_suite(text, PATH)
    error = info.value
    assert "\n" not in str(error), str(error)
    return error


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        (CASE + "    tags: [2020-13-45]\n", 4, "cases[0].tags[0]", "month must be in 1..12"),
        (CASE + "    tags: &x [*x]\n", 4, "cases[0].tags[0]", "recursive alias"),
        (
            CASE + "    sampling: &s {temperature: *s}\n",
            4,
            "cases[0].sampling.temperature",
            "recursive",
        ),
        ("cases:\n  - id: a\n    prompt: !!int abc\n", 3, "cases[0].prompt", "cannot read 'abc'"),
        (CASE + "    tags: [!!int '']\n", 4, "cases[0].tags[0]", "cannot read ''"),
        (CASE + "    tags: [!!float x]\n", 4, "cases[0].tags[0]", "cannot read 'x'"),
        (CASE + "    tags: [!!bool maybe]\n", 4, "cases[0].tags[0]", "cannot read 'maybe'"),
        (CASE + "    tags: [!!timestamp nope]\n", 4, "cases[0].tags[0]", "cannot read 'nope'"),
        (CASE + "    tags: [!!binary é]\n", 4, "cases[0].tags[0]", "cannot read"),
        (CASE + "    ? [x, y]\n    : 1\n", 4, "cases[0]", "key must be a plain word"),
        ("? {suite: x}\n: 1\n", 1, None, "key must be a plain word"),
        ("cases: !!python/object:os.system {}\n", 1, "cases", "unsupported tag"),
        (CASE + "    tags: [!local x]\n", 4, "cases[0].tags[0]", "unsupported tag '!local'"),
        (CASE + "    tags: !!set {x}\n", 4, "cases[0].tags", "unsupported tag"),
        ("x: &m {<<: *m}\ncases: []\n", 1, "x.<<", "recursive merge"),
        (CASE + "    <<: 3\n", 4, "cases[0].<<", "merge key '<<' takes a mapping"),
        (CASE + "    tags: " + "[" * 150 + "]" * 150 + "\n", 4, None, "deeper than 100 levels"),
        (
            CASE + "    prompt: again\n",
            4,
            "cases[0].prompt",
            "duplicate key 'prompt' (first on line 3)",
        ),
        (CASE + '    "co\\nlour": red\n', 4, "cases[0].'co\\nlour'", "unknown key 'co\\nlour'"),
        ('cases:\n  - id: a\n    prompt: "b\x00"\n', 3, None, "U+0000 is not allowed"),
        ('cases:\n  - id: a\n    prompt: "\ud800"\n', 3, None, "U+D800 is not allowed"),
        ("suite: {a: 1}\n" + CASE, 1, "suite", "'suite' must be text"),
    ],
    ids=[
        "invalid-date",
        "recursive-alias",
        "recursive-mapping",
        "int-abc",
        "empty-int",
        "float-x",
        "bool-maybe",
        "timestamp-nope",
        "binary-non-ascii",
        "sequence-key",
        "mapping-key",
        "python-tag",
        "local-tag",
        "set-tag",
        "recursive-merge",
        "merge-of-a-scalar",
        "deep-nesting",
        "duplicate-key",
        "newline-in-key",
        "nul",
        "lone-surrogate",
        "suite-name-mapping",
    ],
)
def test_odd_yaml_is_one_suite_error_naming_line_and_key(
    text: str, line: int, key: str | None, message: str
) -> None:
    error = error_of(text)
    assert (error.path, error.line) == (PATH, line), str(error)
    if key is not None:
        assert error.key == key, str(error)
    assert message in str(error)


def test_a_plain_equals_sign_is_text() -> None:
    """YAML 1.1 gives a plain `=` its own "value" type that PyYAML cannot construct."""
    case = parse_suite("cases:\n  - id: a\n    prompt: =\n    tags: [<<]\n", PATH).cases[0]
    assert (case.prompt, case.tags) == ("=", ("<<",))


MERGED = """\
defaults: &defaults
  kind: numeric
  sampling: &greedy {temperature: 0.0, samples: 2}
cases:
  - &first
    id: a
    prompt: "1 + 1?"
    reference: "2"
    tags: [base]
  - <<: *first
    id: b
    prompt: "2 + 2?"
    reference: "4"
  - <<: [{tags: [extra]}, *first]
    id: c
    prompt: "3 + 3?"
    reference: "6"
    sampling: {<<: *greedy, samples: 3}
  - <<: *defaults
    id: d
    prompt: "4 + 4?"
    reference: "8"
"""


def test_merge_keys_expand_own_keys_first_then_earlier_merges() -> None:
    a, b, c, d = parse_suite(MERGED, PATH).cases
    assert (b.id, b.prompt, b.reference, b.tags, b.kind) == (
        "b",
        "2 + 2?",
        "4",
        ("base",),
        "numeric",
    )
    assert (c.tags, c.sampling.temperature, c.sampling.samples) == (("extra",), 0.0, 3)
    assert (d.kind, d.sampling.samples) == ("numeric", 2)
    assert (a.line, b.line, c.line, d.line) == (5, 10, 14, 19)


def test_an_error_in_a_merged_mapping_names_the_line_written() -> None:
    text = MERGED.replace(
        "    sampling: {<<: *greedy, samples: 3}", "    sampling: {<<: *greedy, top_p: 2}"
    )
    error = error_of(text)
    assert (error.line, error.key) == (18, "cases[2].sampling.top_p")


def bomb(levels: int, width: int = 10) -> str:
    """Nested anchors, each level `width` aliases of the one before: width**levels nodes."""
    lines = ["cases:", "  - id: a", "    prompt: hi", "    tags: &l0 [x]"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"  - {{id: b{level}, prompt: hi, tags: &l{level} [{aliases}]}}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly_at_the_line_where_it_blows_up() -> None:
    started = time.perf_counter()
    error = error_of(bomb(levels=9))  # a billion nodes when expanded
    assert time.perf_counter() - started < 2
    assert MAX_NODES == 100_000
    assert "more than 100,000 YAML nodes" in str(error)
    # Level 5 alone is 10**5 = 100,000 leaves plus the lists: the first beyond the limit.
    assert (error.line, error.key) == (9, "cases[5].tags")


def test_shared_anchors_well_below_the_limit_load() -> None:
    tags = ", ".join(f"t{i}" for i in range(100))
    cases = "".join(f"  - {{id: c{i}, prompt: hi, tags: *tags}}\n" for i in range(200))
    suite = parse_suite(f"cases:\n  - {{id: c, prompt: hi, tags: &tags [{tags}]}}\n{cases}", PATH)
    assert len(suite.cases) == 201 and len(suite.cases[-1].tags) == 100  # 20,100 tags


def test_a_large_suite_without_aliases_is_large_not_a_bomb() -> None:
    cases = "".join(
        f"  - id: c{i}\n    prompt: Question {i}?\n    reference: answer\n"
        f"    paraphrases: [Question {i} again?, Once more, question {i}?]\n"
        for i in range(12_000)
    )  # about 130,000 nodes, all written out
    suite = parse_suite(f"collect: per-case\ncases:\n{cases}", PATH)
    assert len(suite.cases) == 12_000


def test_a_file_that_is_not_utf8_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("cases:\n  - id: caf\n    prompt: Caf\u00e9?\n".encode("latin-1"))
    with pytest.raises(SuiteError) as info:
        load_suite(path, "suites/latin1.yaml")
    assert str(info.value) == "suites/latin1.yaml:3: not UTF-8: byte 0xe9 cannot be decoded"


def test_a_bomb_fails_only_its_own_collection(
    pytester: pytest.Pytester,
    stab_project: Writer,  # noqa: F811 (the plugin tests' fixture, imported above)
) -> None:
    stab_project({"capitals.yaml": CAPITALS, "bomb.yaml": bomb(levels=9)}, CONSISTENT)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, errors=1)
    result.stdout.fnmatch_lines(["*suites/bomb.yaml:9 [[]cases[[]5[]].tags[]]: aliases expand*"])
    assert "Traceback" not in result.stdout.str() and "MemoryError" not in result.stdout.str()


# --- variants that add no new prompt --------------------------------------------------------


def digits_case(count: int = 4, prompt: str = "12 + 7 = ?") -> Case:
    return Case(
        id="sum",
        prompt=prompt,
        kind="numeric",
        reference="19",
        paraphrases=("How much is 12 + 7?", prompt),
        perturbations=Perturbations(count=count, operators=("casing",)),
    )


def test_perturbations_that_change_nothing_are_rejected_duplicates_and_said_so() -> None:
    with pytest.warns(DuplicateVariants, match=r"'sum' \(suite\): 5 of 6 .*v2, v3, v4, v5, v6"):
        variants = VariantExpander(seed=0).expand(digits_case(), "suite")
    assert [v.id for v in variants] == [f"v{i}" for i in range(7)]  # ids stay positional
    assert [v.rejected for v in variants] == [None, None, *["duplicate of v0"] * 5]
    registered = CaseRegistry()
    registered.add("suite", [(digits_case(), variants)])
    asked = {request.prompt for _, _, request in registered[("suite", "sum")].requests(0)}
    assert asked == {"12 + 7 = ?", "How much is 12 + 7?"}  # each prompt asked once


def test_partly_changing_perturbations_keep_new_texts_and_stable_ids() -> None:
    case = digits_case(count=6, prompt="what is 12 + 7?")
    with pytest.warns(DuplicateVariants):
        first = VariantExpander(seed=3).expand(case, "suite")
    with pytest.warns(DuplicateVariants):
        again = VariantExpander(seed=3).expand(case, "suite")
    assert first == again  # same suite and seed: same ids, texts and verdicts
    kept = [v.text for v in first if not v.rejected]
    assert len(kept) == len(set(kept)) == 4  # original, paraphrase, UPPER, Title
    for variant in first:
        if variant.rejected:
            original = next(v for v in first if v.id == variant.rejected.split()[-1])
            assert original.text == variant.text and original.index < variant.index


def test_distinct_variants_give_no_warning() -> None:
    case = Case(
        id="c", prompt="What is the capital of France?", perturbations=Perturbations(count=3)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DuplicateVariants)
        variants = VariantExpander(seed=0).expand(case, "suite")
    assert not any(v.rejected for v in variants)


DIGITS = """\
cases:
  - id: sum
    kind: numeric
    prompt: "12 + 7 = ?"
    reference: "19"
    perturbations: {count: 3, operators: [casing]}
"""


def test_a_run_counts_a_repeated_prompt_once(
    pytester: pytest.Pytester,
    stab_project: Writer,  # noqa: F811 (the plugin tests' fixture, imported above)
) -> None:
    stab_project({"digits.yaml": DIGITS}, {"12 + 7": "19"})
    result = pytester.runpytest("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, skipped=3)
    result.stdout.fnmatch_lines(
        ["*DuplicateVariants*'sum'*3 of 3*", "*variant rejected: duplicate of v0*"]
    )
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    assert report["summary"]["variants"] == 1
