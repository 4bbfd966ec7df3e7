"""The plugin's Label Studio edges without a server: a gold store in the cache dir
overrides verdicts (also in xdist workers), and a push to a server that is down parks the
tasks, says so, and leaves the run and its report intact. The real-server loop is in
tests/integration/test_label_studio_plugin.py."""

from __future__ import annotations

import json
import socket

# Imported once here, not inside in-process runs: httpx maps httpcore's errors to its own
# through a table built on first use; a re-imported httpcore would escape that table.
import httpcore  # noqa: F401
import httpx  # noqa: F401
import label_studio_sdk  # noqa: F401
import pytest

import stabtest.adjudication.actions
import stabtest.pytest_plugin.label_studio  # noqa: F401
from stabtest.adjudication.gold import GoldStore
from stabtest.adjudication.paths import default_gold_path
from stabtest.core.ids import variant_uid
from stabtest.core.results import GoldLabel, answer_hash
from tests.plugin.conftest import CAPITALS

TOKEN = "tok-" + "9f3a" * 8
ANSWERS = {
    # a false alarm: Lyon after Paris reads as a competing claim, a human says it is right
    "which city": "The capital is Paris; Lyon is the second city.",
    "name the": "Lyon.",  # a real failure
    "capital of france": "The capital of France is Paris.",
}


def uid(variant: str) -> str:
    return variant_uid("suites/capitals.yaml", "capital-of-france", variant)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def report_of(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "reports" / "stabtest.json").read_text())


def variant_outcomes(report: dict) -> dict[str, tuple[str, str]]:
    return {
        v["variant_id"]: (a["verdict"]["outcome"], a["verdict"]["source"])
        for v in report["variants"]
        for a in v["answers"]
    }


def test_a_down_server_parks_the_tasks_and_the_run_still_reports(
    pytester: pytest.Pytester, stab_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    stab_project({"capitals.yaml": CAPITALS}, ANSWERS)
    url = f"http://127.0.0.1:{closed_port()}"
    result = pytester.runpytest("--stab-label-studio", url)
    result.assert_outcomes(passed=3, failed=3)
    outbox = pytester.path / ".stabtest" / "label_studio" / "outbox.sqlite"
    result.stdout.fnmatch_lines(
        [
            "*stabtest*",
            "*capital-of-france*",
            f"label studio: pushed 0 task(s) to 0 project(s) at {url}, 0 already there, "
            f"2 parked in the outbox {outbox}",
            f"Label Studio at {url} is unreachable*2 task(s) are kept in the outbox*",
            f"fix: start Label Studio at {url} or correct --stab-label-studio URL*`stabtest push`*",
        ]
    )
    report = report_of(pytester)
    assert report["status"] == "complete"
    push = report["label_studio"]["push"]
    assert (push["selected"], push["imported"], push["parked"]) == (2, 0, 2)
    assert "unreachable" in push["error"]
    for text in (result.stdout.str(), result.stderr.str(), json.dumps(report)):
        assert TOKEN not in text
    assert TOKEN.encode() not in outbox.read_bytes()
    assert "label_studio_token" not in report["settings"]


def test_pull_without_a_url_is_a_usage_error(pytester: pytest.Pytester, stab_project) -> None:
    stab_project({"capitals.yaml": CAPITALS}, ANSWERS)
    result = pytester.runpytest("--stab-pull")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--stab-pull needs a Label Studio URL*--stab-label-studio*"])


def _label(pytester: pytest.Pytester) -> None:
    """What `stabtest pull` leaves behind: the false alarm judged right, the failure
    confirmed, and a label for an answer the model no longer gives (ignored)."""
    GoldStore(default_gold_path(pytester.path / ".stabtest")).upsert(
        [
            GoldLabel(uid("v1"), answer_hash(ANSWERS["which city"]), True, True, annotator="ann"),
            GoldLabel(uid("v2"), answer_hash(ANSWERS["name the"]), True, False),
            GoldLabel(uid("v0"), answer_hash("an older answer"), False, False),
        ]
    )


def test_an_existing_gold_store_overrides_verdicts_and_shows_ap(
    pytester: pytest.Pytester, stab_project
) -> None:
    stab_project({"capitals.yaml": CAPITALS}, ANSWERS)
    before = pytester.runpytest()
    before.assert_outcomes(passed=3, failed=3)
    assert variant_outcomes(report_of(pytester))["v1"] == ("fail", "auto")
    _label(pytester)
    result = pytester.runpytest()
    result.assert_outcomes(passed=5, failed=1)  # v1 passes by a human's word, so the case
    gold = pytester.path / ".stabtest" / "label_studio" / "gold.sqlite"
    result.stdout.fnmatch_lines(
        [
            f"label studio: 3 human label(s) from {gold} override automatic verdicts",
            "human labels: 2 answer(s) | ensemble AP 0.500 | correct: precision *, recall * | "
            "incorrect: precision *, recall * | balanced accuracy * (2 verdicts)",
            "AP per judge: contradiction 0.000 (*), reference 0.500 (*), semantic 0.500 (*)",
        ]
    )
    report = report_of(pytester)
    outcomes = variant_outcomes(report)
    assert outcomes["v1"] == ("pass", "human") and outcomes["v2"] == ("fail", "human")
    assert outcomes["v0"] == ("pass", "auto")  # its label is for another answer
    summary = report["summary"]
    assert summary["ap"] == 0.5 and summary["human_labelled"] == 2
    assert summary["ap_per_judge"] == {"contradiction": 0.0, "reference": 0.5, "semantic": 0.5}
    assert report["label_studio"]["gold_labels"] == 3
    assert report["label_studio"]["push"] is None  # no URL, no push


def test_a_failed_pull_is_reported_and_the_run_uses_the_labels_it_has(
    pytester: pytest.Pytester, stab_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    stab_project({"capitals.yaml": CAPITALS}, ANSWERS)
    _label(pytester)
    url = f"http://127.0.0.1:{closed_port()}"
    result = pytester.runpytest("--stab-pull", "--stab-label-studio", url)
    result.assert_outcomes(passed=5, failed=1)
    unreachable = (
        f"Label Studio at {url} is unreachable*No labels were pulled; the gold store is unchanged."
    )
    result.stdout.fnmatch_lines(
        [unreachable, "label studio: 3 human label(s) from * override automatic verdicts"]
    )
    result.stdout.fnmatch_lines(["*human labels: 2 answer(s)*", unreachable])  # again at the end
    assert "pulled 0" not in result.stdout.str()
    report = report_of(pytester)
    assert "unreachable" in report["label_studio"]["pull"]["error"]
    assert TOKEN not in result.stdout.str() + json.dumps(report)


def test_xdist_workers_read_the_gold_store_too(pytester: pytest.Pytester, stab_project) -> None:
    pytest.importorskip("xdist")
    stab_project({"capitals.yaml": CAPITALS}, ANSWERS)
    _label(pytester)
    result = pytester.runpytest("-n", "2")
    result.assert_outcomes(passed=5, failed=1)
    outcomes = variant_outcomes(report_of(pytester))
    assert outcomes["v1"] == ("pass", "human") and outcomes["v2"] == ("fail", "human")
