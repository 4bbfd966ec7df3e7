"""The Label Studio loop against a real server: push, annotate through the API as a human
would, pull into the gold store, and the faults (down, wrong token, deleted project).

Each test uses its own project prefix, so tests share one server without seeing each
other's projects.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from stabtest.adjudication import labeling_config as lc
from stabtest.adjudication.calibrate import calibration_curve, choose_threshold
from stabtest.adjudication.client import pull_gold, push_results
from stabtest.adjudication.gold import GoldStore
from stabtest.adjudication.outbox import Outbox
from stabtest.adjudication.server import LabelStudioServer
from stabtest.adjudication.tasks import choice_results
from stabtest.core.ids import variant_uid
from stabtest.core.metrics import annotation_precision
from stabtest.core.results import AnswerResult, VariantResult, Verdict, Vote

pytestmark = [pytest.mark.integration, pytest.mark.labelstudio]


# -- building results by hand ------------------------------------------------------------------


def make_answer(
    text: str,
    outcome: str,
    confidence: float,
    leaning: str | None = None,
    sample: int = 0,
    category: str | None = None,
) -> AnswerResult:
    leaning = leaning or outcome
    votes = (
        Vote("semantic", leaning, confidence, None, "cluster vote"),  # type: ignore[arg-type]
        Vote("reference", "pass", 0.5),
    )
    verdict = Verdict(
        outcome,
        confidence,
        votes,
        category,  # type: ignore[arg-type]
        auto_outcome=leaning,
    )  # type: ignore[arg-type]
    return AnswerResult(sample=sample, text=text, cluster=sample, verdict=verdict)


def make_variant(
    suite: str,
    vid: str,
    answers: list[AnswerResult],
    family: str = "paraphrase",
    prompt: str | None = None,
) -> VariantResult:
    return VariantResult(
        uid=variant_uid(f"suites/{suite}.yaml", "capital", vid),
        suite=suite,
        case_id="capital",
        variant_id=vid,
        family=family,
        prompt=prompt or f"[{vid}] What is the capital of France?",
        operators=("paraphrase",),
        reference="Paris",
        answers=tuple(answers),
    )


def run_results(suite: str) -> list[VariantResult]:
    """An original that passed, and a paraphrase with a failure and an escalation."""
    return [
        make_variant(
            suite,
            "v0",
            [make_answer("Paris", "pass", 0.95)],
            family="original",
            prompt="What is the capital of France?",
        ),
        make_variant(
            suite,
            "v1",
            [
                make_answer("Lyon", "fail", 0.8, sample=0, category="hallucination"),
                make_answer("Paris, I think", "escalate", 0.3, leaning="pass", sample=1),
                make_answer("Paris", "pass", 0.9, sample=2),
            ],
        ),
    ]


@pytest.fixture
def prefix() -> str:
    return f"it{uuid.uuid4().hex[:6]}"


def project_tasks(client: Any, prefix: str, suite: str) -> tuple[int, dict[str, Any]]:
    """(project id, external id -> task) as the server holds them."""
    title = f"{prefix}: {suite}"
    (project,) = [p for p in client.projects.list(title=prefix) if p.title == title]
    tasks = {t.data["external_id"]: t for t in client.tasks.list(project=project.id)}
    return project.id, tasks


def annotate(
    client: Any,
    task_id: int,
    stable: bool | None,
    correct: bool | None,
    fix: str | None = None,
    why: str | None = None,
) -> Any:
    """What the labeling UI submits: the ticked choices and the filled text boxes."""
    result = choice_results(stable, correct)
    for name, text in ((lc.CORRECTED_ANSWER, fix), (lc.RATIONALE, why)):
        if text is not None:
            result.append(
                {
                    "from_name": name,
                    "to_name": lc.TO_NAME,
                    "type": "textarea",
                    "value": {"text": [text]},
                }
            )
    return client.annotations.create(id=task_id, result=result, lead_time=2.5)


def ext(variant: VariantResult, sample: int) -> str:
    return f"{variant.uid}#{variant.answers[sample].hash}"


# -- push ----------------------------------------------------------------------------------------


def test_push_creates_project_and_tasks_with_prefilled_verdict(
    label_studio: LabelStudioServer, ls_client: Any, prefix: str, tmp_path: Path
) -> None:
    variants = run_results("geo")
    report = push_results(
        variants,
        url=label_studio.url,
        token=label_studio.token,
        outbox_path=tmp_path / "outbox.sqlite",
        project_prefix=prefix,
    )
    assert report.ok, report.summary()
    assert (report.selected, report.imported, report.parked) == (2, 2, 0)
    assert report.created_projects == [f"{prefix}: geo"]
    project_id, tasks = project_tasks(ls_client, prefix, "geo")
    assert set(tasks) == {ext(variants[1], 0), ext(variants[1], 1)}
    assert "<Choices" in ls_client.projects.get(project_id).label_config
    failed = tasks[ext(variants[1], 0)]
    assert failed.data["prompt"] == "What is the capital of France?"
    assert failed.data["variant_prompt"] == variants[1].prompt
    assert failed.data["answer"] == "Lyon" and failed.data["auto_outcome"] == "fail"
    assert failed.data["category"] == "hallucination" and failed.data["reference"] == "Paris"
    (prediction,) = failed.predictions
    choices = {r["from_name"]: r["value"]["choices"] for r in prediction.result}
    assert choices[lc.CORRECT] == [lc.CORRECT_NO]
    assert prediction.score == pytest.approx(0.8)


def test_pushing_the_same_run_twice_creates_no_duplicates(
    label_studio: LabelStudioServer, ls_client: Any, prefix: str, tmp_path: Path
) -> None:
    variants = run_results("twice")
    kwargs = dict(
        url=label_studio.url,
        token=label_studio.token,
        outbox_path=tmp_path / "outbox.sqlite",
        project_prefix=prefix,
    )
    assert push_results(variants, **kwargs).imported == 2
    again = push_results(variants, **kwargs)
    assert again.ok and (again.imported, again.already_present) == (0, 2)
    assert again.created_projects == []
    changed = [*variants, make_variant("twice", "v2", [make_answer("Marseille", "fail", 0.7)])]
    third = push_results(changed, **kwargs)
    assert (third.imported, third.already_present) == (1, 2)
    _, tasks = project_tasks(ls_client, prefix, "twice")
    assert len(tasks) == 3


# -- pull ----------------------------------------------------------------------------------------


def test_pull_fills_the_gold_store_with_human_labels(
    label_studio: LabelStudioServer, ls_client: Any, prefix: str, tmp_path: Path
) -> None:
    variants = run_results("pull")
    push_results(
        variants,
        url=label_studio.url,
        token=label_studio.token,
        outbox_path=tmp_path / "outbox.sqlite",
        project_prefix=prefix,
    )
    project_id, tasks = project_tasks(ls_client, prefix, "pull")
    annotate(
        ls_client,
        tasks[ext(variants[1], 0)].id,
        stable=True,
        correct=False,
        fix="Paris",
        why="Lyon is not the capital",
    )
    annotate(ls_client, tasks[ext(variants[1], 1)].id, stable=None, correct=True)  # no choice
    hand_made = ls_client.tasks.create(
        project=project_id, data={**tasks[ext(variants[1], 0)].data, "external_id": "typed by hand"}
    )
    annotate(ls_client, hand_made.id, stable=True, correct=True)

    store = GoldStore(tmp_path / "gold.sqlite")
    report = pull_gold(
        url=label_studio.url, token=label_studio.token, store=store, project_prefix=prefix
    )
    assert report.ok, report.summary()
    assert (report.annotated, report.inserted, report.missing_fields) == (2, 2, 1)
    assert len(report.unknown_tasks) == 1 and "typed by hand" in report.unknown_tasks[0]
    assert "stable" in report.warnings[0]

    wrong = store.lookup(variants[1].uid, variants[1].answers[0].hash)
    assert wrong is not None
    assert (wrong.stable, wrong.correct, wrong.outcome) == (True, False, "fail")
    assert wrong.corrected_answer == "Paris" and wrong.rationale == "Lyon is not the capital"
    assert wrong.annotator == label_studio.username
    unsure = store.lookup(variants[1].uid, variants[1].answers[1].hash)
    assert unsure is not None and (unsure.stable, unsure.correct) == (None, True)
    (correction,) = store.corrections()
    assert (correction.prompt, correction.corrected_answer) == (variants[1].prompt, "Paris")
    record = store.record(variants[1].uid, variants[1].answers[0].hash)
    assert record is not None and record.auto_outcome == "fail" and record.confidence == 0.8


def test_a_changed_annotation_bumps_the_version(
    label_studio: LabelStudioServer, ls_client: Any, prefix: str, tmp_path: Path
) -> None:
    variants = run_results("relabel")
    push_results(
        variants,
        url=label_studio.url,
        token=label_studio.token,
        outbox_path=tmp_path / "outbox.sqlite",
        project_prefix=prefix,
    )
    _, tasks = project_tasks(ls_client, prefix, "relabel")
    task_id = tasks[ext(variants[1], 0)].id
    first = annotate(ls_client, task_id, stable=True, correct=True)
    store = GoldStore(tmp_path / "gold.sqlite")
    pull = dict(url=label_studio.url, token=label_studio.token, store=store, project_prefix=prefix)
    key = (variants[1].uid, variants[1].answers[0].hash)
    assert pull_gold(**pull).inserted == 1 and store.version(*key) == 1
    assert pull_gold(**pull).unchanged == 1 and store.version(*key) == 1  # nothing new

    ls_client.annotations.update(
        id=first.id,
        result=[
            {
                "from_name": lc.STABLE,
                "to_name": lc.TO_NAME,
                "type": "choices",
                "value": {"choices": [lc.STABLE_YES]},
            },
            {
                "from_name": lc.CORRECT,
                "to_name": lc.TO_NAME,
                "type": "choices",
                "value": {"choices": [lc.CORRECT_NO]},
            },
        ],
    )
    assert pull_gold(**pull).changed == 1 and store.version(*key) == 2
    assert store.lookup(*key).correct is False  # type: ignore[union-attr]

    annotate(ls_client, task_id, stable=False, correct=False, fix="Paris")  # a second opinion
    assert pull_gold(**pull).changed == 1 and store.version(*key) == 3
    latest = store.lookup(*key)
    assert latest is not None and latest.stable is False and latest.corrected_answer == "Paris"


# -- faults --------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_parks_tasks_and_the_next_push_drains_them(
    label_studio: LabelStudioServer, ls_client: Any, prefix: str, tmp_path: Path
) -> None:
    variants = run_results("down")
    outbox = tmp_path / "outbox.sqlite"
    down = f"http://127.0.0.1:{_closed_port()}"
    report = push_results(
        variants, url=down, token=label_studio.token, outbox_path=outbox, project_prefix=prefix
    )
    assert not report.ok and report.parked == 2 and report.imported == 0
    assert down in report.error and "unreachable" in report.error and str(outbox) in report.error
    assert len(Outbox(outbox)) == 2
    assert label_studio.token.encode() not in outbox.read_bytes()

    later = [*run_results("down"), make_variant("down", "v2", [make_answer("Nice", "fail", 0.6)])]
    drained = push_results(
        later,
        url=label_studio.url,
        token=label_studio.token,
        outbox_path=outbox,
        project_prefix=prefix,
    )
    assert drained.ok, drained.summary()
    assert (drained.imported, drained.drained, drained.parked) == (3, 2, 0)
    assert len(Outbox(outbox)) == 0
    _, tasks = project_tasks(ls_client, prefix, "down")
    assert len(tasks) == 3


def test_wrong_token_names_the_setting_and_keeps_the_tasks(
    label_studio: LabelStudioServer, prefix: str, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.sqlite"
    wrong = "not-the-token-" + uuid.uuid4().hex
    report = push_results(
        run_results("token"),
        url=label_studio.url,
        token=wrong,
        outbox_path=outbox,
        project_prefix=prefix,
    )
    assert not report.ok and report.parked == 2
    assert "401" in report.error
    assert "LABEL_STUDIO_API_KEY" in report.error and "stab_label_studio_token" in report.error
    assert wrong not in report.error and wrong.encode() not in outbox.read_bytes()
    store = GoldStore(tmp_path / "gold.sqlite")
    pulled = pull_gold(url=label_studio.url, token=wrong, store=store, project_prefix=prefix)
    assert not pulled.ok and "LABEL_STUDIO_API_KEY" in pulled.error and store.latest() == {}
    fixed = push_results(
        [],
        url=label_studio.url,
        token=label_studio.token,
        outbox_path=outbox,
        project_prefix=prefix,
    )
    assert fixed.ok and (fixed.imported, fixed.parked) == (2, 0)


def test_project_deleted_between_push_and_pull_is_reported_and_gold_kept(
    label_studio: LabelStudioServer, ls_client: Any, prefix: str, tmp_path: Path
) -> None:
    variants = run_results("gone")
    store = GoldStore(tmp_path / "gold.sqlite")
    push_results(
        variants,
        url=label_studio.url,
        token=label_studio.token,
        outbox_path=tmp_path / "outbox.sqlite",
        project_prefix=prefix,
        store=store,
    )
    project_id, tasks = project_tasks(ls_client, prefix, "gone")
    annotate(ls_client, tasks[ext(variants[1], 0)].id, stable=True, correct=False, fix="Paris")
    pull = dict(url=label_studio.url, token=label_studio.token, store=store, project_prefix=prefix)
    assert pull_gold(**pull).inserted == 1

    ls_client.projects.delete(project_id)
    report = pull_gold(**pull)
    assert report.ok
    (missing,) = report.missing_projects
    assert f"{prefix}: gone" in missing and "1 gold label(s) are kept" in missing
    kept = store.lookup(variants[1].uid, variants[1].answers[0].hash)
    assert kept is not None and kept.corrected_answer == "Paris"
    assert pull_gold(**pull).missing_projects == []  # reported once, then forgotten
    assert store.lookup(variants[1].uid, variants[1].answers[0].hash) == kept


def test_project_deleted_before_any_pull_is_reported(
    label_studio: LabelStudioServer, ls_client: Any, prefix: str, tmp_path: Path
) -> None:
    store = GoldStore(tmp_path / "gold.sqlite")
    push_results(
        run_results("early"),
        url=label_studio.url,
        token=label_studio.token,
        outbox_path=tmp_path / "outbox.sqlite",
        project_prefix=prefix,
        store=store,
    )
    project_id, _ = project_tasks(ls_client, prefix, "early")
    ls_client.projects.delete(project_id)
    report = pull_gold(
        url=label_studio.url, token=label_studio.token, store=store, project_prefix=prefix
    )
    assert report.ok and len(report.missing_projects) == 1 and store.latest() == {}


# -- metrics from pulled gold ------------------------------------------------------------------


def test_ap_and_calibration_from_pulled_gold(
    label_studio: LabelStudioServer, ls_client: Any, prefix: str, tmp_path: Path
) -> None:
    # (text, shown outcome, leaning, confidence, human stable, human correct)
    plan = [
        ("Lyon", "fail", "fail", 0.9, False, True),
        ("Rome", "fail", "fail", 0.8, True, False),
        ("Paris.", "fail", "fail", 0.6, True, True),  # a false alarm
        ("Paris!", "escalate", "pass", 0.4, True, True),
        ("Paris?", "escalate", "fail", 0.3, True, True),  # would have been a false alarm
        ("Nice", "fail", "fail", 0.7, False, False),
    ]
    answers = [
        make_answer(text, outcome, conf, leaning, sample=i)
        for i, (text, outcome, leaning, conf, _, _) in enumerate(plan)
    ]
    variant = make_variant("calib", "v1", answers)
    push_results(
        [variant],
        url=label_studio.url,
        token=label_studio.token,
        outbox_path=tmp_path / "outbox.sqlite",
        project_prefix=prefix,
    )
    _, tasks = project_tasks(ls_client, prefix, "calib")
    for i, (*_, stable, correct) in enumerate(plan):
        annotate(ls_client, tasks[ext(variant, i)].id, stable=stable, correct=correct)
    store = GoldStore(tmp_path / "gold.sqlite")
    report = pull_gold(
        url=label_studio.url, token=label_studio.token, store=store, project_prefix=prefix
    )
    assert report.inserted == 6

    # Escalated verdicts are left out of AP: 3 of the 4 failures were confirmed.
    assert annotation_precision(store.auto_vs_human()) == pytest.approx(0.75)
    precision = store.precision()
    assert precision["ensemble"] == pytest.approx(0.75)
    assert precision["semantic"] == pytest.approx(4 / 6)  # votes its leaning on all six
    assert precision["reference"] == pytest.approx(3 / 6)  # always says pass

    curve = {p.threshold: p for p in calibration_curve(store.calibration_rows())}
    assert list(curve) == [0.0, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert curve[0.0].ap == pytest.approx(4 / 6) and curve[0.0].escalation_rate == 0
    assert curve[0.4].ap == pytest.approx(4 / 5)
    assert curve[0.6].ap == pytest.approx(3 / 4)  # precision is not monotonic
    assert curve[0.7].ap == 1.0 and curve[0.7].escalation_rate == pytest.approx(0.5)
    chosen = choose_threshold(list(curve.values()), {"ap": 0.9})
    assert chosen is not None and chosen.threshold == 0.7
    assert choose_threshold(list(curve.values()), {"ap": 0.8}).threshold == 0.4


# -- the server itself ---------------------------------------------------------------------------


def test_server_reports_the_port_it_really_bound(
    label_studio: LabelStudioServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Label Studio moves to the next port when the asked one is busy; we must follow."""
    import stabtest.adjudication.server as server

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = int(busy.getsockname()[1])
        monkeypatch.setattr(server, "free_port", lambda: taken)
        template = label_studio.template_dir
        with LabelStudioServer(template_dir=template, log_path=tmp_path / "ls.log") as moved:
            assert moved.port is not None and moved.port != taken
            assert moved.url == f"http://127.0.0.1:{moved.port}"
            report = push_results(
                run_results("moved"),
                url=moved.url,
                token=moved.token,
                outbox_path=tmp_path / "outbox.sqlite",
            )
            assert report.ok and report.imported == 2, report.summary()
        assert moved.data_dir is None  # its temporary data dir is gone
