"""Session wiring: registry -> generator -> judges -> results, with fake backends, and two
sessions over two models side by side in one process (what remediation needs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stabtest.annotators.base import Answer, CaseEvidence
from stabtest.annotators.ensemble import Ensemble
from stabtest.annotators.judging import judge_case
from stabtest.annotators.reference import ReferenceJudge
from stabtest.core.gate import gate_case
from stabtest.core.results import CaseMetrics, GoldLabel, answer_hash
from stabtest.core.settings import Settings
from stabtest.core.suite import Case, Thresholds
from stabtest.core.variant import Variant
from stabtest.generation.cache import Cache
from stabtest.generation.fake import FakeBackend
from stabtest.generation.generator import Generator
from stabtest.generation.lexical import LexicalEmbedder
from stabtest.session import Session

FRANCE = Case(
    id="fr",
    prompt="What is the capital of France?",
    reference="Paris",
    incorrect=("Lyon",),
    paraphrases=("Which city is the capital of France?",),
    checks=("semantic", "reference"),
)


def generator(cache: Cache, answers: dict[str, str]) -> Generator:
    """A fake model: its fingerprint is a hash of its answers, so two are two models."""
    return Generator(FakeBackend(answers=answers), cache=cache, batch_size=8)


def session(tmp_path: Path, generator: Generator) -> Session:
    settings = Settings(backend="fake", embedder="lexical", rootdir=str(tmp_path))
    return Session(settings, generator=generator, embedder=LexicalEmbedder())


def test_two_sessions_over_two_models_keep_their_own_answers_and_cache_entries(
    tmp_path: Path,
) -> None:
    cache = Cache(tmp_path / "cache.sqlite")  # one file, shared: keys carry the model
    right = generator(cache, {"france": "The capital of France is Paris."})
    wrong = generator(cache, {"france": "It is Lyon."})
    assert right.fingerprint() != wrong.fingerprint()
    before, after = session(tmp_path, right), session(tmp_path, wrong)
    for each in (before, after):
        each.register("suite.yaml", FRANCE)
    good, bad = before.outcome("suite.yaml", "fr"), after.outcome("suite.yaml", "fr")
    assert good.case.passed and good.case.metrics.fc == 1.0
    assert not bad.case.passed and bad.case.metrics.fc == 0.0
    assert [a.text for v in bad.variants.values() for a in v.answers] == ["It is Lyon."] * 2
    assert cache.count(right.fingerprint()) == 2 and cache.count(wrong.fingerprint()) == 2
    assert right.backend.calls == 1 and wrong.backend.calls == 1  # one batched plan each


def test_a_rerun_reads_the_cache_and_counts_the_cost(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache.sqlite")
    answers = {"france": "The capital of France is Paris."}
    first = session(tmp_path, generator(cache, answers))
    first.register("suite.yaml", FRANCE)
    first.outcome("suite.yaml", "fr")
    stats = first.take_stats()
    assert (stats.requests, stats.cached, stats.generated) == (2, 0, 2)
    assert not first.take_stats()  # taken once
    again = session(tmp_path, generator(cache, answers))
    again.register("suite.yaml", FRANCE)
    again.outcome("suite.yaml", "fr")
    assert again.generator.backend.calls == 0
    assert (again.take_stats().cached, again.generator.stats.generated) == (2, 0)


def test_selection_keeps_deselected_cases_out_of_the_plan(tmp_path: Path) -> None:
    other = FRANCE.model_copy(update={"id": "other", "prompt": "Name the capital of Italy."})
    stab = session(tmp_path, generator(Cache(":memory:"), {}))
    stab.register_all("suite.yaml", [FRANCE, other])
    stab.registry.select({("suite.yaml", "fr")})
    stab.outcome("suite.yaml", "fr")
    prompts = [r.prompt for batch in stab.generator.backend.batches for r in batch]
    assert "Name the capital of Italy." not in prompts and len(prompts) == 2


def test_a_human_label_overrides_the_same_answer_only(tmp_path: Path) -> None:
    class Gold:
        def lookup(self, uid: str, digest: str) -> GoldLabel | None:
            if uid.endswith("[v1]") and digest == answer_hash("It is Lyon."):
                return GoldLabel(uid, digest, stable=True, correct=True, annotator="ann")
            return None

    stab = session(tmp_path, generator(Cache(":memory:"), {"france": "It is Lyon."}))
    stab.gold = Gold()
    stab.register("suite.yaml", FRANCE)
    outcome = stab.outcome("suite.yaml", "fr")
    v0, v1 = (outcome.variants[v].answers[0].verdict for v in ("v0", "v1"))
    assert (v0.outcome, v0.source) == ("fail", "auto")
    assert (v1.outcome, v1.source, v1.auto_outcome) == ("pass", "human", "fail")


def test_generator_needs_exactly_one_of_backend_or_factory() -> None:
    with pytest.raises(ValueError, match="backend or a factory"):
        Generator()
    built = Generator(factory=lambda: FakeBackend(answers={"x": "y"}))
    assert built._backend is None  # nothing built until used
    assert built([]) == [] and built._backend is None


# -- the pure pieces -------------------------------------------------------------------


def evidence(texts: list[str]) -> CaseEvidence:
    import numpy as np

    answers = [Answer(Variant("fr", i, f"p{i}", "paraphrase"), 0, t) for i, t in enumerate(texts)]
    vectors = LexicalEmbedder().encode(texts)
    refs = {t: np.asarray(LexicalEmbedder().encode([t])[0]) for t in ("Paris", "Lyon")}
    return CaseEvidence(FRANCE, answers, vectors, refs)


def test_judge_case_is_evidence_in_verdicts_and_metrics_out() -> None:
    judged = judge_case(evidence(["Paris.", "Paris!", "Lyon."]), Ensemble([ReferenceJudge()]))
    assert [v.outcome for v in judged.verdicts] == ["pass", "pass", "fail"]
    assert judged.correct == (True, True, False)
    assert judged.clusters[0] == judged.clusters[1] != judged.clusters[2]
    assert judged.metrics.fc == pytest.approx(2 / 3)
    assert judged.metrics.si == pytest.approx(1 - 2 / 6)


@pytest.mark.parametrize(
    ("si", "fc", "case", "failures"),
    [
        (0.2, 0.9, Thresholds(), ()),
        (0.6, 0.9, Thresholds(), ("SI 0.600 > max_si 0.500",)),
        (0.6, 0.9, Thresholds(max_si=0.7), ()),
        (0.1, 0.4, Thresholds(), ("FC 0.400 < min_fc 0.500",)),
        (0.1, None, Thresholds(min_fc=0.9), ()),  # no reference: FC is not gated
    ],
)
def test_gate_uses_case_thresholds_before_defaults(
    si: float, fc: float | None, case: Thresholds, failures: tuple[str, ...]
) -> None:
    gate = gate_case(CaseMetrics(si, fc, 0.5, 4, 2), case, 0.5, 0.5)
    assert gate.failures == failures and gate.passed == (not failures)
    assert gate.min_fc is None if fc is None else gate.min_fc is not None


def test_the_llm_judge_can_run_on_another_model(tmp_path: Path) -> None:
    import json

    answers = tmp_path / "judge.json"
    answers.write_text(json.dumps({"answer to grade": "VERDICT: no\nCONFIDENCE: 90"}))
    settings = Settings(
        backend="fake",
        embedder="lexical",
        judges="reference,llm_judge",
        judge_model=str(answers),  # the fake backend reads its answers from a JSON file
        rootdir=str(tmp_path),
        backend_options={"answers": {"france": "The capital of France is Paris."}},
    )
    stab = Session(settings)
    stab.register("suite.yaml", FRANCE)
    outcome = stab.outcome("suite.yaml", "fr")
    votes = {v.judge: v for v in outcome.variants["v0"].answers[0].verdict.votes}
    assert votes["llm_judge"].outcome == "fail"  # the judge model's verdict, not the tested one
    assert stab.judge_generator is not stab.generator
    assert stab.judge_generator.fingerprint() != stab.generator.fingerprint()
    assert stab.generator.backend.calls == 1 and stab.judge_generator.backend.calls == 1
    same = Session(Settings(backend="fake", rootdir=str(tmp_path)))
    assert same.judge_generator is same.generator
