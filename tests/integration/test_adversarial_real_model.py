"""Adversarial families end to end on the bundled SmolLM2-135M and all-MiniLM-L6-v2: every
family runs, the word attacks stay within the similarity bound by the real embedder, and
the reported PDR is what the per-variant correctness in the same report gives."""

from __future__ import annotations

import json

import pytest

from stabtest.generation.hf import default_cache_dir

# Imported at collection: `pytester` drops modules first imported during its test, and
# torch (which MiniLM loads below) crashes the process when imported a second time.
pytest.importorskip("sentence_transformers")

MODEL_CACHE = default_cache_dir()  # resolved before pytester moves HOME

pytestmark = pytest.mark.integration

SUITE = """\
suite: attacked
defaults:
  sampling: {temperature: 0.0, max_new_tokens: 24}
  adversarial: {families: [char, word, sentence, distractor], count: 2, min_similarity: 0.85}
cases:
  - id: largest-planet
    prompt: What is the largest planet in the Solar System?
    reference: Jupiter
  - id: romeo-and-juliet
    prompt: Who wrote the play Romeo and Juliet?
    reference: William Shakespeare
    aliases: [Shakespeare]
"""
FAMILIES = ("char", "word", "sentence", "distractor")


def expected_pdr(variants: list[dict]) -> dict[str, dict]:
    """The README's definition, computed again from the report's variants."""

    def fc(rows: list[dict]) -> float | None:
        judged = [a["correct"] for v in rows for a in v["answers"] if a["correct"] is not None]
        return sum(judged) / len(judged) if judged else None

    out = {}
    for family in FAMILIES:
        pairs = []
        for case in {v["case_id"] for v in variants}:
            mine = [v for v in variants if v["case_id"] == case and not v["rejected"]]
            clean = fc([v for v in mine if v["variant_id"] == "v0"])
            attacked = fc([v for v in mine if v["attack"] == family])
            if clean is not None and attacked is not None:
                pairs.append((clean, attacked))
        fc_clean = sum(c for c, _ in pairs) / len(pairs)
        fc_attacked = sum(a for _, a in pairs) / len(pairs)
        pdr = None if fc_clean == 0 else 1 - fc_attacked / fc_clean
        out[family] = {"fc_clean": fc_clean, "fc_attacked": fc_attacked, "pdr": pdr}
    return out


def test_all_families_run_on_the_real_model_and_pdr_matches_the_answers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("STABTEST_CACHE_DIR", str(MODEL_CACHE))
    (pytester.path / "suites").mkdir()
    (pytester.path / "suites" / "attacked.yaml").write_text(SUITE, encoding="utf-8")
    pytester.makeini("[pytest]\nstab_seed = 0\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    variants = report["variants"]

    for case in ("largest-planet", "romeo-and-juliet"):
        ids = {v["variant_id"] for v in variants if v["case_id"] == case}
        assert ids == {"v0"} | {
            f"v{i}-{f}" for i, f in enumerate([f for f in FAMILIES for _ in range(2)], start=1)
        }

    words = [v for v in variants if v["attack"] == "word" and not v["rejected"]]
    assert {v["case_id"] for v in words} == {"largest-planet", "romeo-and-juliet"}
    from stabtest.generation.embedder import MiniLMEmbedder

    originals = {v["case_id"]: v["prompt"] for v in variants if v["variant_id"] == "v0"}
    embedder = MiniLMEmbedder()
    for v in words:
        a, b = embedder.encode([originals[v["case_id"]], v["prompt"]])
        assert v["prompt"] != originals[v["case_id"]] and v["operators"]
        assert float(a @ b) >= 0.85 - 1e-4, (v["prompt"], float(a @ b))

    reported = report["summary"]["adversarial"]
    assert list(reported) == list(FAMILIES)
    for family, want in expected_pdr(variants).items():
        got = reported[family]
        assert got["cases"] == 2
        for key in ("fc_clean", "fc_attacked", "pdr"):
            assert got[key] == pytest.approx(want[key]), (family, key)
    result.stdout.fnmatch_lines(["*adversarial: suites/attacked.yaml*", "*family*PDR*"])
