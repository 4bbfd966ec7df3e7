"""Adversarial families: seeded, deterministic, numbers intact; the word attack's bound;
ids and expansion order; YAML validation."""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence

import numpy as np
import pytest

from stabtest.core.errors import SuiteError
from stabtest.core.loader import parse_suite
from stabtest.core.suite import ATTACK_FAMILIES, Adversarial, Case
from stabtest.core.variant import Variant
from stabtest.variants.adversarial import (
    ATTACKS,
    FAMILY_OPERATORS,
    HOMOGLYPHS,
    INJECTIONS,
    TAUTOLOGIES,
    apply_swaps,
    attack,
    homoglyph,
    word_swaps,
)
from stabtest.variants.expand import VariantExpander
from stabtest.variants.perturb import OPERATORS, numbers_in
from stabtest.variants.thesaurus import THESAURUS
from stabtest.variants.word_attack import fill_word_attacks

PROMPTS = (
    "What is the largest city in Japan?",
    "Tom buys 3 apples at $1.50 each and 12 pears. How many fruits does he have in total?",
    "In 1969, who was the first person to walk on the Moon?",
    "Complete the sentence: Helsinki City Hall is located in ___.",
    "A train travels 120 km in 2 hours; what is its average speed in km/h?",
)
RULE_FAMILIES = [f for f in ATTACK_FAMILIES if f != "word"]


def run(family: str, text: str, seed: int) -> tuple[str, tuple[str, ...]]:
    return attack(family, text, random.Random(seed))


def test_families_match_the_suite_model_and_stay_out_of_the_perturbation_registry():
    assert tuple(FAMILY_OPERATORS) == ATTACK_FAMILIES
    # `perturbations` without an operator list draws from OPERATORS: adding the attacks
    # there would change every existing suite's variants.
    assert not set(ATTACKS) & set(OPERATORS)


@pytest.mark.parametrize("family", RULE_FAMILIES)
def test_rule_families_are_seeded_and_deterministic(family: str):
    for text in PROMPTS:
        outputs = {run(family, text, seed) for seed in range(12)}
        assert all(run(family, text, seed) == run(family, text, seed) for seed in range(12))
        assert len(outputs) > 1, f"{family} gives one output for every seed on {text!r}"
        for out, ops in outputs:
            assert out != text and ops
            assert set(ops) <= set(FAMILY_OPERATORS[family])


@pytest.mark.parametrize("family", RULE_FAMILIES)
def test_no_family_changes_a_number(family: str):
    for text in PROMPTS:
        for seed in range(40):
            out, _ = run(family, text, seed)
            assert numbers_in(out) == numbers_in(text), (family, seed, out)


def test_char_edits_never_enter_a_token_glued_to_digits():
    text = "Is 10km in 3rd place?"
    for seed in range(40):
        out, _ = run("char", text, seed)
        assert "10km" in out and "3rd" in out


@pytest.mark.parametrize("name", FAMILY_OPERATORS["char"])
def test_each_char_operator_edits_one_word_and_keeps_the_rest(name: str):
    text = "Which river flows through Paris?"
    for seed in range(20):
        out = ATTACKS[name](text, random.Random(seed))
        assert out != text
        changed = [(a, b) for a, b in zip(text.split(), out.split(), strict=False) if a != b]
        assert len(text.split()) == len(out.split()) and len(changed) == 1


def test_homoglyph_differs_but_looks_the_same():
    text = "Where is the Eiffel Tower?"
    look_alike = {glyph: latin for latin, glyphs in HOMOGLYPHS.items() for glyph in glyphs}
    for seed in range(20):
        out = homoglyph(text, random.Random(seed))
        assert out != text
        foreign = [c for c in out if c not in text]
        assert len(foreign) == 1
        assert unicodedata.name(foreign[0]).split()[0] in ("CYRILLIC", "GREEK")
        assert "".join(look_alike.get(c, c) for c in out) == text


def test_sentence_and_distractor_append_without_touching_the_question():
    text = PROMPTS[2]
    for seed in range(20):
        out, ops = run("sentence", text, seed)
        assert out.startswith(text + " ")
        tail = out[len(text) + 1 :]
        if ops == ("tautology",):
            assert tail in TAUTOLOGIES
        else:
            assert ops == ("random_tail",) and len(tail.split()) == 2
            assert not any(c.isdigit() for c in tail)
        out, _ = run("distractor", text, seed)
        assert text in out and out.replace(text, "").strip() in INJECTIONS


def test_thesaurus_is_lower_case_single_words_with_synonyms():
    assert len(THESAURUS) > 100
    for word, synonyms in THESAURUS.items():
        assert word.isalpha() and word.islower() and synonyms
        assert word not in synonyms


def test_word_swaps_skip_names_and_keep_case():
    text = "Largest city: is Big Ben in the largest city?"
    swaps = word_swaps(text, random.Random(0))
    replaced = {text[s.start : s.end] for s in swaps}
    assert "Big" not in replaced  # a capitalised word mid-sentence is a name
    assert {"Largest", "largest", "city"} <= replaced
    out = apply_swaps(text, swaps)
    assert out.startswith("Biggest ") and "Big Ben" in out


class CountingEmbedder:
    """Cosine to the original = 1 - 0.06 per swapped word, 0.5 for a swapped `city`:
    a similarity the test can predict exactly. Knows several originals (a swap keeps the
    word count, so the closest one of the same length is the text's original)."""

    def __init__(self, *originals: str):
        self.originals = [o.split() for o in originals]
        self.calls: list[int] = []

    def fingerprint(self) -> str:
        return "counting"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        rows = []
        for text in texts:
            words = text.split()
            original = max(
                (o for o in self.originals if len(o) == len(words)),
                key=lambda o: sum(a == b for a, b in zip(o, words, strict=True)),
            )
            changed = [a.strip("?") for a, b in zip(original, words, strict=True) if a != b]
            cos = 0.5 if "city" in changed else 1.0 - 0.06 * len(changed)
            rows.append([cos, np.sqrt(max(0.0, 1.0 - cos * cos))])
        return np.asarray(rows, dtype=np.float32)


def word_case(
    prompt: str, count: int = 2, min_similarity: float = 0.85, case_id: str = "c"
) -> Case:
    spec = Adversarial(families=("word",), count=count, min_similarity=min_similarity)
    return Case(id=case_id, prompt=prompt, reference="Tokyo", adversarial=spec)


def changed_words(original: str, text: str) -> list[str]:
    return [a for a, b in zip(original.split(), text.split(), strict=True) if a != b]


def test_word_attack_keeps_swaps_only_while_the_similarity_holds():
    prompt = "What is the largest city in Japan where rich people live?"
    other = "Why do rich people live in a big city?"
    cases = [word_case(prompt), word_case(other, case_id="d")]
    expander = VariantExpander(0)
    expanded = [(case, expander.expand(case, "s.yaml")) for case in cases]
    slots = expanded[0][1]
    assert [v.id for v in slots] == ["v0", "v1-word", "v2-word"]
    assert all(v.rejected == "not attacked yet" for v in slots[1:])
    embedder = CountingEmbedder(prompt, other)
    filled = fill_word_attacks(embedder, 0, "s.yaml", expanded)
    for original, variants in zip((prompt, other), filled, strict=True):
        first, second = variants[1:]
        for variant in (first, second):
            changed = changed_words(original, variant.text)
            # 0.88 with two swaps, 0.82 with three: exactly two kept; `city` never is.
            assert len(changed) == 2 and "city" not in changed, variant
            assert len(variant.operators) == 2 and variant.family == "adversarial"
            assert variant.rejected is None
        # The second leaves out the word the first changed first: they always differ.
        assert first.text != second.text
    # Slots of the same rank advance together: one encode for the originals, then rounds
    # over both cases' slots at once.
    assert embedder.calls[0] == 2 and max(embedder.calls[1:]) == 2
    again = fill_word_attacks(CountingEmbedder(prompt, other), 0, "s.yaml", expanded)
    assert again == filled


def test_later_word_slots_leave_out_the_first_word_an_earlier_one_changed():
    case = word_case("Is the largest planet huge?", count=3)
    slots = VariantExpander(0).expand(case, "s.yaml")
    out = fill_word_attacks(CountingEmbedder(case.prompt), 0, "s.yaml", [(case, slots)])[0]
    first, second, third = out[1:]
    assert sorted(changed_words(case.prompt, first.text)) == ["huge?", "largest"]
    (only,) = changed_words(case.prompt, second.text)
    assert only in ("huge?", "largest")
    assert third.rejected == "no word left that an earlier word variant did not change first"


def test_word_attack_rejects_a_slot_with_nothing_to_swap_or_below_the_bound():
    none = word_case("Who painted Guernica?", count=1)
    slots = VariantExpander(0).expand(none, "s.yaml")
    out = fill_word_attacks(CountingEmbedder(none.prompt), 0, "s.yaml", [(none, slots)])[0]
    assert out[1].rejected == "no word the thesaurus knows"
    strict = word_case("What is the largest city?", count=1, min_similarity=0.99)
    slots = VariantExpander(0).expand(strict, "s.yaml")
    out = fill_word_attacks(CountingEmbedder(strict.prompt), 0, "s.yaml", [(strict, slots)])[0]
    assert out[1].rejected == "no synonym swap kept the similarity >= 0.99"


def test_adversarial_variants_come_last_and_leave_existing_ids_alone():
    base = Case(
        id="c",
        prompt="What is the largest city in Japan?",
        paraphrases=("Which Japanese city is the largest?",),
        perturbations={"count": 2, "operators": ["casing", "punctuation"]},
        model_paraphrases={"count": 1},
    )
    attacked = base.model_copy(
        update={"adversarial": Adversarial(families=("char", "word", "sentence", "distractor"))}
    )
    before = VariantExpander(3).expand(base, "s.yaml")
    after = VariantExpander(3).expand(attacked, "s.yaml")
    assert after[: len(before)] == before
    assert [v.id for v in before] == ["v0", "v1", "v2", "v3", "v4"]
    assert [v.id for v in after[len(before) :]] == [
        "v5-char",
        "v6-char",
        "v7-word",
        "v8-word",
        "v9-sentence",
        "v10-sentence",
        "v11-distractor",
        "v12-distractor",
    ]
    assert {v.attack for v in after[len(before) :]} == set(ATTACK_FAMILIES)
    # Each family has its own seed: dropping one changes no other family's texts.
    fewer = base.model_copy(update={"adversarial": Adversarial(families=("sentence",))})
    texts = [v.text for v in VariantExpander(3).expand(fewer, "s.yaml") if v.attack]
    assert texts == [v.text for v in after if v.attack == "sentence"]


def test_an_attack_that_changes_nothing_is_rejected_as_a_duplicate():
    case = Case(id="n", prompt="12 + 7 = ?", adversarial=Adversarial(families=("char",), count=1))
    with pytest.warns(UserWarning, match="1 of 1 adversarial variants gave no new prompt"):
        variants = VariantExpander(0).expand(case, "s.yaml")
    assert variants[1].id == "v1-char" and variants[1].rejected == "duplicate of v0"


def test_variant_id_names_the_attack_family():
    assert Variant("c", 7, "x", "adversarial", attack="char").id == "v7-char"
    assert Variant("c", 7, "x", "rule").id == "v7"


SUITE = """\
suite: s
defaults:
  adversarial: {families: [char, sentence], count: 1}
cases:
  - id: a
    prompt: What is the largest city in Japan?
  - id: b
    prompt: Who wrote Hamlet?
    adversarial: {families: [distractor], min_similarity: 0.9}
"""


def test_yaml_adversarial_defaults_merge_under_case_keys():
    suite = parse_suite(SUITE, "s.yaml")
    a, b = suite.cases
    assert a.adversarial == Adversarial(families=("char", "sentence"), count=1)
    assert b.adversarial == Adversarial(families=("distractor",), count=1, min_similarity=0.9)
    assert Case(id="x", prompt="p").adversarial.families == ()


@pytest.mark.parametrize(
    ("snippet", "key", "message"),
    [
        (
            "adversarial: {families: [char, wrod]}",
            "cases[0].adversarial.families",
            "unknown adversarial family 'wrod' (did you mean 'word'?); "
            "valid families: char, word, sentence, distractor",
        ),
        (
            "adversarial: {families: [char], count: 0}",
            "cases[0].adversarial.count",
            "greater than or equal to 1",
        ),
        (
            "adversarial: {families: [char], min_similarity: 1.5}",
            "cases[0].adversarial.min_similarity",
            "less than or equal to 1",
        ),
        ("adversarial: {family: [char]}", "cases[0].adversarial.family", "unknown key"),
    ],
)
def test_yaml_validation_names_file_line_and_key(snippet: str, key: str, message: str):
    text = f"cases:\n  - id: a\n    prompt: Who wrote Hamlet?\n    {snippet}\n"
    with pytest.raises(SuiteError) as info:
        parse_suite(text, "suites/bad.yaml")
    error = str(info.value)
    assert "suites/bad.yaml:4" in error and key in error and message in error


def test_yaml_validation_of_suite_defaults():
    text = "defaults:\n  adversarial:\n    families: [typo]\ncases:\n  - {id: a, prompt: q}\n"
    with pytest.raises(SuiteError, match=r"bad\.yaml:3 .*defaults\.adversarial\.families"):
        parse_suite(text, "bad.yaml")


def test_a_conversation_is_attacked_in_its_opening_question_only():
    prompt = "What is the largest city in Japan where rich people live?"
    spec = Adversarial(families=("char", "word"), count=1)
    case = Case.model_validate(
        {
            "id": "talk",
            "turns": [{"prompt": prompt, "reference": "Tokyo"}, {"prompt": "And its river?"}],
            "challenge": True,
            "adversarial": spec,
        }
    )
    expander = VariantExpander(0)
    variants = expander.expand(case, "s.yaml")
    char, word = variants[-2:]
    assert (char.id, word.id) == (f"v{char.index}-char", f"v{word.index}-word")
    assert char.turns[0] == char.text != prompt
    assert char.turns[1:] == tuple(t.prompt for t in case.turns[1:])  # challenge kept
    filled = fill_word_attacks(CountingEmbedder(prompt), 0, "s.yaml", [(case, variants)])
    attacked = filled[0][-1]
    assert attacked.rejected is None and attacked.turns[0] == attacked.text != prompt
    assert attacked.turns[1:] == char.turns[1:]
