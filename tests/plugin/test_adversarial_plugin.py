"""Adversarial families through pytester: ids marked with the family, PDR per family in
the JSON report and the terminal."""

from __future__ import annotations

import json

ATTACKS = """\
suite: attacks
defaults:
  adversarial: {families: [char, word, sentence, distractor], count: 1, min_similarity: 0.3}
cases:
  - id: who-wrote-hamlet
    prompt: Who wrote Hamlet?
    reference: Shakespeare
"""
# The fake backend answers every prompt that contains the original question right and any
# other prompt "I don't know.": appended sentences and injections keep the question
# intact, character edits and synonym swaps break it. So PDR is 1 for `char` and `word`
# and 0 for `sentence` and `distractor`, whatever the seed draws.
ANSWERS = {"Who wrote Hamlet?": "Shakespeare wrote Hamlet."}
IDS = ["v0", "v1-char", "v2-word", "v3-sentence", "v4-distractor", "stability"]


def test_adversarial_items_are_marked_and_pdr_is_reported(pytester, stab_project):
    stab_project({"attacks.yaml": ATTACKS}, ANSWERS)
    collected = pytester.runpytest("--collect-only", "-q")
    assert [line for line in collected.outlines if "::" in line] == [
        f"suites/attacks.yaml::who-wrote-hamlet[{i}]" for i in IDS
    ]
    result = pytester.runpytest("-p", "no:cacheprovider", "-rf")
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    variants = {v["variant_id"]: v for v in report["variants"]}
    assert {vid: v["attack"] for vid, v in variants.items()} == {
        "v0": None,
        "v1-char": "char",
        "v2-word": "word",
        "v3-sentence": "sentence",
        "v4-distractor": "distractor",
    }
    assert all(v["family"] == "adversarial" for vid, v in variants.items() if vid != "v0")
    assert variants["v2-word"]["operators"] == ["wrote->authored"]
    assert variants["v2-word"]["prompt"] == "Who authored Hamlet?"
    pdr = report["summary"]["adversarial"]
    assert {family: row["pdr"] for family, row in pdr.items()} == {
        "char": 1.0,
        "word": 1.0,
        "sentence": 0.0,
        "distractor": 0.0,
    }
    assert all(row["fc_clean"] == 1.0 and row["cases"] == 1 for row in pdr.values())
    assert report["suites"]["suites/attacks.yaml"]["adversarial"] == pdr
    result.stdout.fnmatch_lines(
        [
            "*adversarial: suites/attacks.yaml (PDR = 1 - FC attacked / FC clean)*",
            "*char*1*1*1.000*0.000*1.000*",
            "*sentence*1*1*1.000*1.000*0.000*",
        ]
    )
    failed = {
        line.split("[")[1].split("]")[0] for line in result.outlines if line.startswith("FAILED")
    }
    assert {"v1-char", "v2-word"} <= failed and not {"v0", "v3-sentence"} & failed
