"""The whole human loop through the plugin and the `stabtest` command, against a real
Label Studio server: a run pushes its failed and escalated answers (once), a down server
parks them until a later push, a human annotates through the API, `stabtest pull` and
`--stab-pull` bring the labels back, the next run is judged by them and reports AP, and
`stabtest calibrate --write` sets the threshold the next run uses. The token is never
printed or written.

Runs are in-process (pytester) with the fake backend and the lexical embedder; all tests
share the session's server and keep apart by project prefix.
"""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path
from typing import Any

# Imported once here, not inside in-process runs: httpx maps httpcore's errors to its own
# through a table built on first use; a re-imported httpcore would escape that table.
import httpcore  # noqa: F401
import httpx  # noqa: F401
import label_studio_sdk  # noqa: F401
import pytest

import stabtest.adjudication.actions
import stabtest.pytest_plugin.label_studio  # noqa: F401
from stabtest.adjudication.server import LabelStudioServer
from stabtest.cli import main
from stabtest.core.ids import variant_uid
from stabtest.core.results import answer_hash
from tests.integration.test_label_studio import annotate, project_tasks
from tests.plugin.conftest import CAPITALS, stab_project  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, pytest.mark.labelstudio]
try:
    import xdist  # noqa: F401

    XDIST = True
except ImportError:
    XDIST = False

SUITE = "suites/capitals.yaml"
ANSWERS = {
    # v1: a false alarm (Lyon after Paris reads as a competing claim; a human says right)
    "which city": "The capital is Paris; Lyon is the second city.",
    "name the": "Lyon.",  # v2: a real failure
    # v0, v3, v4: right, but only in the second sentence (confidence 0.92 < 0.94)
    "capital of france": "Let me think about France. It is Paris.",
}


def ext(variant: str, text: str) -> str:
    return f"{variant_uid(SUITE, 'capital-of-france', variant)}#{answer_hash(text)}"


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    """Test outcomes (escalated included); warnings are the environment's, not ours."""
    return {k: v for k, v in result.parseoutcomes().items() if k not in ("warnings", "warning")}


def report_of(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / "reports" / "stabtest.json").read_text())


def verdicts(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        v["variant_id"]: (a["verdict"]["outcome"], a["verdict"]["source"])
        for v in report["variants"]
        for a in v["answers"]
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def no_token_anywhere(token: str, root: Path, *texts: str) -> None:
    for text in texts:
        assert token not in text
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".sqlite", ".ini", ".txt", ""}:
            if path.name == "tox.ini":
                continue  # where the user put it, in the ini-token test
            assert token.encode() not in path.read_bytes(), path


@pytest.fixture
def prefix() -> str:
    return f"pl{uuid.uuid4().hex[:6]}"


@pytest.fixture
def project(
    pytester: pytest.Pytester,
    stab_project,  # noqa: F811
    label_studio: LabelStudioServer,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """A project whose ini points at the server; the token comes from the environment."""
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)

    def write(ini: str = "") -> None:
        stab_project(
            {"capitals.yaml": CAPITALS},
            ANSWERS,
            ini=f"stab_label_studio = {label_studio.url}\nstab_label_studio_prefix = {prefix}\n"
            + ini,
        )

    return write


def test_a_run_pushes_failed_and_escalated_answers_once(
    pytester: pytest.Pytester, project: Any, label_studio: LabelStudioServer, ls_client: Any
) -> None:
    project("stab_escalate_below = 0.94\n")
    first = pytester.runpytest()
    assert outcomes(first) == {"failed": 3, "escalated": 3}  # v1, v2, case; v0, v3, v4
    url = label_studio.url
    first.stdout.fnmatch_lines(
        [
            "*capital-of-france*",
            f"label studio: pushed 5 task(s) to 1 project(s) at {url}, 0 already there, "
            "0 parked in the outbox",
        ]
    )
    prefix = report_of(pytester)["settings"]["label_studio_prefix"]
    _, tasks = project_tasks(ls_client, prefix, SUITE)
    same = ANSWERS["capital of france"]
    assert set(tasks) == {
        ext("v0", same),
        ext("v1", ANSWERS["which city"]),
        ext("v2", ANSWERS["name the"]),
        ext("v3", same),
        ext("v4", same),
    }
    failed = tasks[ext("v2", "Lyon.")]
    assert failed.data["auto_outcome"] == "fail" and failed.data["answer"] == "Lyon."
    assert failed.data["prompt"] == "What is the capital of France?"
    assert tasks[ext("v0", same)].data["auto_outcome"] == "escalate"

    second = pytester.runpytest()
    second.stdout.fnmatch_lines(
        [f"label studio: pushed 0 task(s) to 1 project(s) at {url}, 5 already there, 0 parked*"]
    )
    assert len(project_tasks(ls_client, prefix, SUITE)[1]) == 5
    push = report_of(pytester)["label_studio"]["push"]
    assert (push["imported"], push["already_present"], push["error"]) == (0, 5, None)
    no_token_anywhere(
        label_studio.token,
        pytester.path,
        first.stdout.str(),
        first.stderr.str(),
        second.stdout.str(),
        second.stderr.str(),
    )


def test_a_down_server_parks_tasks_until_a_later_push(
    pytester: pytest.Pytester,
    project: Any,
    label_studio: LabelStudioServer,
    ls_client: Any,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project()
    down = f"http://127.0.0.1:{closed_port()}"
    result = pytester.runpytest("--stab-label-studio", down)
    assert outcomes(result) == {"passed": 3, "failed": 3}
    result.stdout.fnmatch_lines(
        [
            f"label studio: pushed 0 task(s) to 0 project(s) at {down}, 0 already there, "
            "2 parked in the outbox *outbox.sqlite",
            f"Label Studio at {down} is unreachable*",
            f"fix: start Label Studio at {down}*",
        ]
    )
    assert report_of(pytester)["status"] == "complete"
    capsys.readouterr()

    assert main(["push", "--url", down]) == 1  # still down: still parked
    captured = capsys.readouterr()
    assert "2 parked" in captured.out and "Traceback" not in captured.err
    assert main(["push"]) == 0  # the ini's URL: the real server
    captured = capsys.readouterr()
    assert captured.out.startswith(
        f"label studio: pushed 2 task(s) (2 from the outbox) to 1 project(s) at "
        f"{label_studio.url}, 0 already there, 0 parked"
    )
    assert len(project_tasks(ls_client, prefix, SUITE)[1]) == 2

    again = pytester.runpytest()
    again.stdout.fnmatch_lines(["label studio: pushed 0 task(s) to 1 project(s)*2 already there*"])
    no_token_anywhere(label_studio.token, pytester.path, result.stdout.str(), captured.out)


def test_human_labels_override_verdicts_show_ap_and_calibrate_the_threshold(
    pytester: pytest.Pytester,
    project: Any,
    label_studio: LabelStudioServer,
    ls_client: Any,
    prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project("stab_escalate_below = 0.94\n")
    pytester.runpytest()
    assert verdicts(report_of(pytester))["v1"] == ("fail", "auto")
    _, tasks = project_tasks(ls_client, prefix, SUITE)
    same = ANSWERS["capital of france"]
    annotate(ls_client, tasks[ext("v1", ANSWERS["which city"])].id, True, True, why="right")
    annotate(ls_client, tasks[ext("v2", "Lyon.")].id, True, False, fix="Paris.")
    annotate(ls_client, tasks[ext("v0", same)].id, True, True)

    capsys.readouterr()
    assert main(["pull"]) == 0
    out = capsys.readouterr().out
    assert (
        f"label studio: pulled 3 annotated task(s) from 1 project(s) at {label_studio.url}: "
        "3 new, 0 changed, 0 unchanged gold label(s)"
    ) in out
    assert "gold.sqlite (3 label(s))" in out

    relabelled = pytester.runpytest()
    # v0 and v1 pass and v2 fails by a human's word, v3 and v4 wait for one; the case passes
    assert outcomes(relabelled) == {"passed": 3, "failed": 1, "escalated": 2}
    relabelled.stdout.fnmatch_lines(
        [
            "label studio: 3 human label(s) from *gold.sqlite override automatic verdicts",
            "*AP 0.500",
            "human labels: 3 answer(s) | ensemble AP 0.500 | correct: precision *, recall * | "
            "incorrect: precision *, recall * | balanced accuracy * (2 verdicts)",
            "AP per judge: contradiction 0.000 (*), reference 0.667 (*), semantic 0.667 (*)",
            "label studio: pushed 0 task(s) to 1 project(s)*2 already there*",
        ]
    )
    report = report_of(pytester)
    seen = verdicts(report)
    assert seen["v1"] == ("pass", "human") and seen["v2"] == ("fail", "human")
    assert seen["v0"] == ("pass", "human") and seen["v3"] == ("escalate", "auto")
    # v0 was escalated: AP counts the two verdicts the machine issued (v1 wrong, v2 right),
    # exactly as the gold store and calibration count them
    assert report["summary"]["ap"] == pytest.approx(1 / 2)
    assert report["summary"]["ap_per_judge"]["reference"] == pytest.approx(2 / 3)

    # a label added later comes in with --stab-pull at the start of a run, before the
    # xdist workers start: they judge with it too
    annotate(ls_client, tasks[ext("v3", same)].id, True, True)
    pulled = pytester.runpytest("--stab-pull", *(["-n", "2"] if XDIST else []))
    pulled.stdout.fnmatch_lines(
        [
            "label studio: pulled 4 annotated task(s) from 1 project(s) at *: 1 new, "
            "0 changed, 3 unchanged gold label(s)",
            "label studio: 4 human label(s) from *",
        ]
    )
    assert verdicts(report_of(pytester))["v3"] == ("pass", "human")
    assert report_of(pytester)["label_studio"]["pull"]["inserted"] == 1

    # the labels say the escalations were not needed: calibrate lowers the threshold
    capsys.readouterr()
    assert main(["calibrate", "--target", "0.6", "--write", "tox.ini"]) == 0
    out = capsys.readouterr().out
    assert "escalate_below = 0: AP 0.750 on the 4 verdict(s) kept, 0.0% escalated" in out
    assert "wrote tox.ini [pytest] stab_escalate_below = 0" in out
    ini = (pytester.path / "tox.ini").read_text()
    assert "stab_escalate_below = 0.0" in ini and "0.94" not in ini
    assert "stab_backend = fake" in ini
    calibrated = pytester.runpytest()
    assert report_of(pytester)["settings"]["escalate_below"] == 0.0
    assert outcomes(calibrated) == {"passed": 5, "failed": 1}  # v4 no longer escalated
    no_token_anywhere(label_studio.token, pytester.path, relabelled.stdout.str(), out)


def test_token_and_project_errors_are_named_and_recoverable(
    pytester: pytest.Pytester,
    stab_project,  # noqa: F811
    label_studio: LabelStudioServer,
    ls_client: Any,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    wrong = "wrong-" + uuid.uuid4().hex

    def write(token: str) -> None:
        stab_project(
            {"capitals.yaml": CAPITALS},
            ANSWERS,
            ini=f"stab_label_studio = {label_studio.url}\nstab_label_studio_prefix = {prefix}\n"
            f"stab_label_studio_token = {token}\n",
        )

    write(wrong)
    refused = pytester.runpytest()
    assert outcomes(refused) == {"passed": 3, "failed": 3}
    refused.stdout.fnmatch_lines(
        [
            "label studio: pushed 0 task(s)*2 parked*",
            f"Label Studio at {label_studio.url} refused the token (HTTP 401): set "
            "LABEL_STUDIO_API_KEY (environment) or the ini key stab_label_studio_token*",
        ]
    )
    capsys.readouterr()
    assert main(["pull"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused the token" in err and label_studio.url in err
    no_token_anywhere(wrong, pytester.path, refused.stdout.str(), refused.stderr.str(), err)

    write(label_studio.token)  # the fix: the right token in the ini
    assert main(["push"]) == 0
    assert "pushed 2 task(s) (2 from the outbox)" in capsys.readouterr().out
    project_id, _ = project_tasks(ls_client, prefix, SUITE)

    ls_client.projects.delete(project_id)
    assert main(["pull"]) == 1
    err = capsys.readouterr().err
    assert f"project '{prefix}: {SUITE}' (id {project_id}) is gone from {label_studio.url}" in err
    assert "Traceback" not in err
    assert main(["pull"]) == 0  # reported once
    rerun = pytester.runpytest()  # the push recreates the project
    rerun.stdout.fnmatch_lines(["label studio: pushed 2 task(s) to 1 project(s)*0 parked*"])
    no_token_anywhere(label_studio.token, pytester.path, rerun.stdout.str())
