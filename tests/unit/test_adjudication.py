"""Adjudication without a server: tasks and ids, selection, outbox, gold store versioning,
annotation parsing, error messages and threshold calibration."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from stabtest.adjudication import labeling_config as lc
from stabtest.adjudication.calibrate import (
    CalibrationRow,
    calibration_curve,
    choose_threshold,
    parse_targets,
    reaches,
)
from stabtest.adjudication.client import describe_error, project_title, push_results
from stabtest.adjudication.gold import GoldRecord, GoldStore
from stabtest.adjudication.outbox import Outbox
from stabtest.adjudication.parse import latest_annotation, parse_result, parse_task
from stabtest.adjudication.server import LabelStudioServerError, find_binary
from stabtest.adjudication.tasks import (
    auto_leaning,
    external_id,
    original_prompts,
    parse_external_id,
    prediction_result,
    selection,
    task_for,
    votes_from_json,
)
from stabtest.core.errors import ConfigError
from stabtest.core.ids import variant_uid
from stabtest.core.metrics import annotation_precision
from stabtest.core.results import (
    Agreement,
    AnswerResult,
    GoldLabel,
    VariantResult,
    Verdict,
    Vote,
    answer_hash,
)

TOKEN = "s3cret-token-value"


def verdict(
    outcome: str,
    confidence: float = 0.8,
    category: str | None = None,
    votes: tuple[Vote, ...] = (),
    **kw: object,
) -> Verdict:
    return Verdict(outcome, confidence, votes, category, **kw)  # type: ignore[arg-type]


def answer(text: str, v: Verdict, sample: int = 0, correct: bool | None = None) -> AnswerResult:
    return AnswerResult(sample=sample, text=text, cluster=0, verdict=v, correct=correct)


def variant(
    vid: str,
    answers: list[AnswerResult],
    family: str = "paraphrase",
    prompt: str = "Capital of France?",
    case: str = "capital",
    suite: str = "geo",
    rejected: str | None = None,
) -> VariantResult:
    return VariantResult(
        uid=variant_uid(f"suites/{suite}.yaml", case, vid),
        suite=suite,
        case_id=case,
        variant_id=vid,
        family=family,
        prompt=prompt,
        operators=(),
        reference="Paris",
        answers=tuple(answers),
        rejected=rejected,
    )


# -- external ids and tasks ----------------------------------------------------------------


def test_external_id_round_trips_even_with_hash_in_uid() -> None:
    uid = "suites/a#b.yaml::case[v1]"
    digest = answer_hash("Paris")
    assert parse_external_id(external_id(uid, digest)) == (uid, digest)


@pytest.mark.parametrize(
    "bad", [None, 42, "", "no-hash", "uid#short", "#" + "a" * 16, "uid#" + "G" * 16]
)
def test_foreign_external_ids_are_rejected(bad: object) -> None:
    assert parse_external_id(bad) is None


def test_task_carries_display_fields_machine_fields_and_prediction() -> None:
    votes = (
        Vote("semantic", "fail", 0.9, 0.4, "far from majority"),
        Vote("reference", "pass", 0.6),
    )
    a = answer("Lyon", verdict("fail", 0.7, "semantic_divergence", votes), sample=2, correct=True)
    v = variant("v1", [a], prompt="France's capital?")
    task = task_for(v, a, "Capital of France?", "run-1")
    data = task["data"]
    assert set(lc.DATA_KEYS) <= set(data)
    assert all(f"${key}" in lc.LABEL_CONFIG for key in lc.DATA_KEYS)
    assert data["external_id"] == f"{v.uid}#{a.hash}" == task["meta"]["external_id"]
    assert (data["uid"], data["answer_hash"], data["suite"], data["case_id"]) == (
        v.uid,
        a.hash,
        "geo",
        "capital",
    )
    assert data["prompt"] == "Capital of France?" and data["variant_prompt"] == "France's capital?"
    assert data["auto_outcome"] == "fail" and data["confidence"] == 0.7
    assert data["category"] == "semantic_divergence" and data["run_id"] == "run-1"
    assert votes_from_json(data["votes"]) == votes
    json.dumps(task)  # the payload must be plain JSON
    (prediction,) = task["predictions"]
    assert prediction["score"] == 0.7
    chosen = {r["from_name"]: r["value"]["choices"] for r in prediction["result"]}
    assert chosen == {lc.STABLE: [lc.STABLE_NO], lc.CORRECT: [lc.CORRECT_YES]}


def test_prediction_of_a_pass_and_of_a_factual_failure() -> None:
    passed = {
        r["from_name"]: r["value"]["choices"][0]
        for r in prediction_result(answer("Paris", verdict("pass")))
    }
    assert passed == {lc.STABLE: lc.STABLE_YES, lc.CORRECT: lc.CORRECT_YES}
    wrong = {
        r["from_name"]: r["value"]["choices"][0]
        for r in prediction_result(answer("Lyon", verdict("fail", category="hallucination")))
    }
    assert wrong == {lc.CORRECT: lc.CORRECT_NO}  # no opinion on stability


def test_leaning_of_an_escalated_verdict() -> None:
    assert auto_leaning(verdict("escalate", auto_outcome="fail")) == "fail"
    votes = (Vote("a", "pass", 0.9), Vote("b", "fail", 0.3), Vote("c", "abstain", 1.0))
    assert auto_leaning(verdict("escalate", votes=votes)) == "pass"
    assert (
        auto_leaning(verdict("escalate", votes=(Vote("a", "pass", 0.5), Vote("b", "fail", 0.5))))
        is None
    )
    assert "predictions" not in task_for(
        variant("v1", []), answer("?", verdict("escalate")), "p", "r"
    )


def test_malformed_votes_json_gives_no_votes() -> None:
    assert votes_from_json("not json") == ()
    assert votes_from_json('[{"judge": "x"}]') == ()
    assert votes_from_json(None) == ()


def test_selection_sends_failed_and_escalated_answers_once() -> None:
    fail = answer("Lyon", verdict("fail"), 0)
    same_text = answer("Lyon", verdict("fail"), 1)
    esc = answer("Paris?", verdict("escalate"), 2)
    human = answer("Nice", verdict("fail", source="human"), 3)
    passed = answer("Paris", verdict("pass"), 4)
    variants = [
        variant("v0", [passed], family="original"),
        variant("v1", [fail, same_text, esc, human, passed]),
        variant("v2", [answer("Rome", verdict("fail"))], rejected="changed the meaning"),
    ]
    picked = [(v.variant_id, a.sample) for v, a in selection(variants)]
    assert picked == [("v1", 0), ("v1", 2)]
    assert [a.sample for _, a in selection(variants, include=("fail",))] == [0]
    assert len(list(selection(variants, include=("fail", "escalate", "pass")))) == 4
    assert original_prompts(variants) == {("geo", "capital"): "Capital of France?"}


def test_project_titles_fit_label_studio_and_stay_distinct() -> None:
    assert project_title("stabtest", "geo") == "stabtest: geo"
    long_a, long_b = "x" * 60 + "a", "x" * 60 + "b"
    ta, tb = project_title("stabtest", long_a), project_title("stabtest", long_b)
    assert len(ta) <= 50 and len(tb) <= 50 and ta != tb and ta.startswith("stabtest: ")


# -- outbox ----------------------------------------------------------------------------------


def _task(i: int) -> dict:
    return {"data": {"external_id": f"u{i}#{i:016x}", "answer": str(i)}}


def test_outbox_is_idempotent_and_loses_nothing(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "sub" / "outbox.sqlite")
    assert len(box) == 0 and box.pending() == {}
    box.park("stabtest: a", [_task(1), _task(2)], error="down")
    box.park("stabtest: a", [_task(2), _task(3)], error="down again")  # 2 parked twice
    box.park("stabtest: b", [_task(1)])
    assert len(box) == 4
    pending = box.pending()
    assert [t["data"]["answer"] for t in pending["stabtest: a"]] == ["1", "2", "3"]
    assert box.remove("stabtest: a", [f"u2#{2:016x}", "unknown#0000000000000000"]) == 1
    assert len(box) == 3
    attempts = (
        sqlite3.connect(box.path)
        .execute("SELECT attempts FROM outbox WHERE external_id = ?", (f"u1#{1:016x}",))
        .fetchall()
    )
    assert sorted(a for (a,) in attempts) == [1, 1]


def test_push_without_token_parks_tasks_and_names_the_setting(tmp_path: Path) -> None:
    v = variant("v1", [answer("Lyon", verdict("fail"))])
    report = push_results(
        [v], url="http://127.0.0.1:9", token=None, outbox_path=tmp_path / "outbox.sqlite"
    )
    assert not report.ok and report.parked == 1 and report.selected == 1
    assert "LABEL_STUDIO_API_KEY" in report.error and "stab_label_studio_token" in report.error
    assert "outbox" in report.error
    again = push_results(
        [v], url="http://127.0.0.1:9", token=None, outbox_path=tmp_path / "outbox.sqlite"
    )
    assert again.parked == 1  # parked once, not twice


# -- error messages ----------------------------------------------------------------------------


def test_errors_name_the_cause_and_never_show_the_token() -> None:
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    refused = ApiError(status_code=401, headers={"x": TOKEN}, body={"detail": f"bad {TOKEN}"})
    text = describe_error(refused, "http://ls:8080", TOKEN, "Kept.")
    assert "401" in text and "LABEL_STUDIO_API_KEY" in text and "stab_label_studio_token" in text
    assert TOKEN not in text
    down = describe_error(httpx.ConnectError(f"refused {TOKEN}"), "http://ls:8080", TOKEN, "Kept.")
    assert "unreachable" in down and "http://ls:8080" in down and TOKEN not in down
    broken = describe_error(
        ApiError(status_code=503, body={"detail": "maintenance"}), "http://ls:8080", TOKEN, "Kept."
    )
    assert "503" in broken and "maintenance" in broken


def test_missing_label_studio_binary_names_the_three_places(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import stabtest.adjudication.server as server

    monkeypatch.delenv("STABTEST_LABEL_STUDIO_BIN", raising=False)
    monkeypatch.setattr(server, "_repo_root", lambda: tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabelStudioServerError) as info:
        find_binary()
    message = str(info.value)
    assert "STABTEST_LABEL_STUDIO_BIN" in message and ".venv-ls" in message
    assert "PATH" in message and "pip install" in message
    monkeypatch.setenv("STABTEST_LABEL_STUDIO_BIN", str(tmp_path / "nope"))
    with pytest.raises(LabelStudioServerError, match="not an executable"):
        find_binary()


# -- parsing annotations ------------------------------------------------------------------------


def _choice(name: str, value: str) -> dict:
    return {
        "from_name": name,
        "to_name": "answer",
        "type": "choices",
        "value": {"choices": [value]},
    }


def _text(name: str, value: str) -> dict:
    return {"from_name": name, "to_name": "answer", "type": "textarea", "value": {"text": [value]}}


def test_parse_full_result() -> None:
    fields, warnings = parse_result(
        [
            _choice(lc.STABLE, lc.STABLE_NO),
            _choice(lc.CORRECT, lc.CORRECT_YES),
            _text(lc.CORRECTED_ANSWER, " Paris. "),
            _text(lc.RATIONALE, "drifted"),
            {"from_name": "something_else", "value": {}},
        ]
    )
    assert fields == {
        lc.STABLE: False,
        lc.CORRECT: True,
        lc.CORRECTED_ANSWER: "Paris.",
        lc.RATIONALE: "drifted",
    }
    assert warnings == []


def test_parse_missing_and_malformed_fields_gives_none_with_warnings() -> None:
    fields, warnings = parse_result(
        [
            {"from_name": lc.STABLE, "value": None},
            {"from_name": lc.CORRECT, "value": {"choices": ["maybe"]}},
            {"from_name": lc.RATIONALE, "value": {"text": ["   "]}},
        ]
    )
    assert fields == dict.fromkeys((lc.STABLE, lc.CORRECT, lc.CORRECTED_ANSWER, lc.RATIONALE))
    assert len(warnings) == 2
    assert parse_result(None)[1] == [
        f"{lc.STABLE}: no choice made (kept as unknown)",
        f"{lc.CORRECT}: no choice made (kept as unknown)",
    ]


def test_latest_live_annotation_wins() -> None:
    older = {"id": 1, "updated_at": "2026-01-01T00:00:00Z", "result": []}
    newer = {"id": 2, "updated_at": "2026-01-02T00:00:00Z", "result": []}
    skipped = {"id": 3, "updated_at": "2026-01-03T00:00:00Z", "was_cancelled": True}
    assert latest_annotation([older, skipped, newer]) is newer
    assert latest_annotation([skipped]) is None and latest_annotation(None) is None


def test_parse_task_maps_to_gold_and_reports_foreign_tasks() -> None:
    a = answer("Lyon", verdict("fail", 0.4, votes=(Vote("semantic", "fail", 0.4),)))
    v = variant("v1", [a])
    data = task_for(v, a, "Capital of France?", "r")["data"]
    ann = {
        "id": 7,
        "completed_by": 3,
        "updated_at": "2026-01-02T00:00:00Z",
        "result": [_choice(lc.CORRECT, lc.CORRECT_NO), _text(lc.CORRECTED_ANSWER, "Paris")],
    }
    parsed = parse_task({"id": 11, "data": data, "annotations": [ann]}, {3: "ann@example.org"})
    assert parsed is not None and parsed.label is not None
    assert parsed.label == GoldLabel(
        v.uid, a.hash, None, False, "Paris", None, "ann@example.org", "2026-01-02T00:00:00Z"
    )
    assert parsed.label.outcome == "fail"
    assert len(parsed.warnings) == 1 and lc.STABLE in parsed.warnings[0]
    assert parsed.context["auto_leaning"] == "fail" and parsed.context["confidence"] == 0.4
    assert parsed.context["prompt"] == v.prompt and parsed.context["answer"] == "Lyon"
    assert parse_task({"id": 12, "data": data, "annotations": []}) is None
    foreign = parse_task({"id": 13, "data": {"text": "hand-made"}, "annotations": [ann]})
    assert foreign is not None and foreign.label is None and "not a stabtest id" in foreign.problem


# -- gold store ------------------------------------------------------------------------------


def _label(
    uid: str, stable: bool | None, correct: bool | None, fix: str | None = None
) -> GoldLabel:
    return GoldLabel(uid, answer_hash(uid), stable, correct, fix, None, "ann", "t")


def test_gold_store_versions_only_on_change(tmp_path: Path) -> None:
    store = GoldStore(tmp_path / "gold.sqlite")
    assert store.latest() == {} and store.lookup("u", "h") is None
    record = GoldRecord(
        _label("u1", True, False),
        auto_outcome="fail",
        auto_leaning="fail",
        confidence=0.6,
        prompt="Q?",
        answer="A",
        votes=(Vote("j", "fail", 0.6),),
    )
    assert store.upsert([record, _label("u2", True, True)]).inserted == 2
    again = store.upsert([record])
    assert (again.inserted, again.changed, again.unchanged) == (0, 0, 1)
    assert store.version("u1", answer_hash("u1")) == 1
    changed = store.upsert([_label("u1", True, False, fix="B")])  # no context this time
    assert changed.changed == 1 and store.version("u1", answer_hash("u1")) == 2
    latest = store.record("u1", answer_hash("u1"))
    assert latest is not None and latest.label.corrected_answer == "B"
    assert latest.prompt == "Q?" and latest.auto_outcome == "fail"  # context carried over
    assert latest.votes == (Vote("j", "fail", 0.6),)
    assert store.lookup("u1", "another-hash") is None  # a changed answer is judged afresh
    assert set(store.latest()) == {("u1", answer_hash("u1")), ("u2", answer_hash("u2"))}
    rows = sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM labels").fetchone()[0]
    assert rows == 3  # history kept


def test_gold_store_corrections_precision_and_projects(tmp_path: Path) -> None:
    store = GoldStore(tmp_path / "gold.sqlite")
    j = (Vote("semantic", "fail", 0.9), Vote("reference", "abstain", 0.0))
    store.upsert(
        [
            GoldRecord(
                _label("a", False, True, "Paris"), "fail", "fail", 0.9, votes=j, prompt="Qa"
            ),
            GoldRecord(
                _label("b", True, True),
                "fail",
                "fail",
                0.7,
                votes=(Vote("semantic", "pass", 0.5), Vote("reference", "fail", 0.8)),
            ),
            GoldRecord(_label("c", True, True), "escalate", "pass", 0.2),
            GoldRecord(_label("d", None, None), "pass", "pass", 0.9),
        ]
    )
    (fix,) = store.corrections()
    assert (fix.uid, fix.prompt, fix.corrected_answer) == ("a", "Qa", "Paris")
    assert annotation_precision(store.auto_vs_human()) == 0.5  # a right, b wrong; c, d left out
    assert store.precision() == {"ensemble": 0.5, "reference": 0.0, "semantic": 1.0}
    assert store.judges() == ["reference", "semantic"]
    assert sorted(store.calibration_rows()) == sorted(
        [
            CalibrationRow("fail", 0.9, "fail"),
            CalibrationRow("fail", 0.7, "pass"),
            CalibrationRow("pass", 0.2, "pass"),
        ]
    )
    store.record_project("http://ls", "stabtest: geo", 4)
    store.record_project("http://ls", "stabtest: geo", 5)
    assert store.known_projects("http://ls") == {"stabtest: geo": 5}
    assert store.known_projects("http://other") == {}
    store.forget_project("http://ls", "stabtest: geo")
    assert store.known_projects("http://ls") == {}


# -- calibration ------------------------------------------------------------------------------


ROWS = [
    CalibrationRow("pass", 0.95, "pass"),
    CalibrationRow("fail", 0.90, "fail"),
    CalibrationRow("pass", 0.80, "pass"),
    CalibrationRow("pass", 0.60, "fail"),
    CalibrationRow("fail", 0.60, "fail"),
    CalibrationRow("pass", 0.30, "fail"),
    CalibrationRow("escalate", 0.50, "pass"),  # unusable: no pass/fail leaning
    CalibrationRow("pass", 0.50, "unknown"),  # unusable: no human outcome
]


def test_calibration_curve_by_hand() -> None:
    curve = calibration_curve(ROWS)
    assert [p.threshold for p in curve] == [0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 1.0]
    by_t = {p.threshold: p for p in curve}
    assert by_t[0.0].ap == pytest.approx(4 / 6) and by_t[0.0].escalation_rate == 0.0
    assert by_t[0.3].ap == pytest.approx(4 / 6)
    assert by_t[0.6].ap == pytest.approx(4 / 5)
    assert by_t[0.6].escalation_rate == pytest.approx(1 / 6)
    assert by_t[0.8].ap == 1.0 and by_t[0.8].escalated == 3 and by_t[0.8].kept == 3
    assert by_t[1.0].ap is None and by_t[1.0].escalation_rate == 1.0


def test_choose_threshold_lowest_escalation_reaching_target() -> None:
    curve = calibration_curve(ROWS)
    best = choose_threshold(curve, {"ap": 0.9})
    assert best is not None and best.threshold == 0.8 and best.escalation_rate == 0.5
    assert choose_threshold(curve, {"ap": 0.8}).threshold == 0.6
    assert choose_threshold(curve, {"ap": 0.5}).threshold == 0.0  # tie at 0 %: lower t
    never = calibration_curve([CalibrationRow("pass", 0.9, "fail")])
    assert choose_threshold(never, {"ap": 0.9}) is None
    empty = Agreement()
    assert calibration_curve([]) == [(0.0, None, 0.0, 0, 0, empty), (1.0, None, 0.0, 0, 0, empty)]


def test_targets_on_either_class_choose_the_threshold() -> None:
    curve = {p.threshold: p for p in calibration_curve(ROWS)}
    # at 0.6: passes 0.95 (right), 0.8 (right), 0.6 (wrong); fails 0.9, 0.6 (both right)
    figures = curve[0.6].agreement
    assert figures.precision_correct == pytest.approx(2 / 3) and figures.recall_correct == 1.0
    assert figures.precision_incorrect == 1.0 and figures.recall_incorrect == pytest.approx(2 / 3)
    assert figures.balanced_accuracy == pytest.approx(5 / 6)
    # precision of "correct" 0.9 needs the wrong pass at 0.6 escalated: t = 0.8
    assert choose_threshold(list(curve.values()), {"precision_correct": 0.9}).threshold == 0.8
    # recall of "incorrect" at 1.0 only once both wrong passes are escalated
    chosen = choose_threshold(list(curve.values()), {"recall_incorrect": 1.0, "ap": 0.5})
    assert chosen is not None and chosen.threshold == 0.8
    # a figure nothing defines meets no target: no "correct" label kept above 0.95
    assert not reaches(curve[1.0], {"recall_correct": 0.0})
    assert parse_targets(["0.95", "recall-correct=0.8"]) == {"ap": 0.95, "recall_correct": 0.8}
    assert parse_targets([]) == {"ap": 0.9}
    for bad in ("recall=0.8", "ap=high", "1.5"):
        with pytest.raises(ConfigError, match="--target"):
            parse_targets([bad])
