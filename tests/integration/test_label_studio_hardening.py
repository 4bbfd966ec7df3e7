"""Label Studio faults a tester found, against the real server: a credential in the URL is
never printed or stored, a URL with a path gives one clear line (not the server's HTML
page), Ctrl-C during a push loses no task and leaves the report, two concurrent
`stabtest push` of one report create one project and no duplicate task, and a pull reads
every project that carries one title.

Each test uses its own project prefix, so tests share one server without seeing each
other's projects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

# Imported once here, not inside in-process runs: httpx maps httpcore's errors to its own
# through a table built on first use; a re-imported httpcore would escape that table.
import httpcore  # noqa: F401
import httpx  # noqa: F401
import label_studio_sdk  # noqa: F401
import pytest
from label_studio_sdk.projects.client import ProjectsClient

import stabtest.adjudication.actions
import stabtest.pytest_plugin.label_studio  # noqa: F401
from stabtest.adjudication.client import PushInterrupted, pull_gold, push_results
from stabtest.adjudication.gold import GoldStore
from stabtest.adjudication.labeling_config import LABEL_CONFIG
from stabtest.adjudication.outbox import Outbox
from stabtest.adjudication.server import LabelStudioServer
from stabtest.adjudication.tasks import task_for
from stabtest.cli import main
from stabtest.core.report import RunReport, write_report
from stabtest.core.results import GenerationStats, RunSummary, VariantResult
from tests.integration.test_label_studio import (
    annotate,
    ext,
    make_answer,
    make_variant,
    run_results,
)
from tests.plugin.conftest import CAPITALS, Writer, stab_project  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, pytest.mark.labelstudio]
ROOT = Path(__file__).resolve().parents[2]
ANSWERS = {
    "which city": "The capital is Paris; Lyon is the second city.",
    "name the": "Lyon.",
    "capital of france": "Let me think about France. It is Paris.",
}


@pytest.fixture
def prefix() -> str:
    return f"hd{uuid.uuid4().hex[:6]}"


def many_results(suite: str, count: int) -> list[VariantResult]:
    """`count` failed answers of one suite, one variant each."""
    return [
        make_variant(suite, f"v{i}", [make_answer(f"Lyon, take {i}", "fail", 0.7)])
        for i in range(count)
    ]


def server_tasks(client: Any, prefix: str) -> dict[str, list[str]]:
    """Project title -> external ids of its tasks, for every project of the prefix (a
    title twice on the server shows as `title#2`)."""
    found: dict[str, list[str]] = {}
    for project in sorted(client.projects.list(title=prefix), key=lambda p: p.id):
        if not project.title.startswith(f"{prefix}: "):
            continue
        key = project.title if project.title not in found else f"{project.title}#2"
        tasks = client.tasks.list(project=project.id, fields="task_only", page_size=1000)
        found[key] = [t.data["external_id"] for t in tasks]
    return found


def assert_each_once(client: Any, prefix: str, expected: set[str]) -> None:
    """Every expected task on the server exactly once, in one project per title."""
    found = server_tasks(client, prefix)
    assert not [t for t in found if "#2" in t], f"duplicate projects: {sorted(found)}"
    counts = Counter(i for ids in found.values() for i in ids)
    assert {i: n for i, n in counts.items() if n > 1} == {}, "tasks imported twice"
    assert set(counts) == expected


def report_file(path: Path, variants: list[VariantResult]) -> Path:
    write_report(
        path,
        RunReport(
            run_id="hardening",
            status="complete",
            started_at=0.0,
            finished_at=1.0,
            summary=RunSummary(),
            generation=GenerationStats(),
            variants=variants,
        ),
    )
    return path


# -- credentials in the URL and URLs with a path --------------------------------------------


def test_a_credential_in_the_url_is_never_printed_or_stored(
    label_studio: LabelStudioServer,
    pytester: pytest.Pytester,
    stab_project: Writer,  # noqa: F811
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = label_studio.url.removeprefix("http://")
    secrets = ("hunter22pw", "s3cr3t-query-token")
    urls = (f"http://stab:{secrets[0]}@{host}", f"{label_studio.url}/?token={secrets[1]}")
    outbox = pytester.path / "direct-outbox.sqlite"
    for url in urls:
        report = push_results(
            run_results("cred"),
            url=url,
            token=label_studio.token,
            outbox_path=outbox,
            project_prefix=prefix,
        )
        assert not report.ok and report.parked == 2  # neither is a usable base URL
        for secret in secrets:
            assert secret not in report.summary()
    assert not any(s.encode() in outbox.read_bytes() for s in secrets)

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    stab_project(
        {"capitals.yaml": CAPITALS},
        ANSWERS,
        ini=f"stab_label_studio = {urls[0]}?api_key={secrets[1]}\n"
        f"stab_label_studio_prefix = {prefix}\n",
    )
    result = pytester.runpytest("--stab-pull")
    printed = result.stdout.str() + result.stderr.str()
    assert "label studio: pushed 0 task(s)" in printed
    assert f"http://***@{host}?api_key=***" in printed
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    assert report["settings"]["label_studio"] == f"http://***@{host}?api_key=***"
    assert report["label_studio"]["url"] == f"http://***@{host}?api_key=***"
    for path in pytester.path.rglob("*"):  # report, outbox, gold store, lock files
        if path.is_file() and path.name != "tox.ini":  # where the user wrote it
            for secret in secrets:
                assert secret.encode() not in path.read_bytes(), path
    for secret in secrets:
        assert secret not in printed


def test_a_url_with_a_path_gives_one_line_not_the_servers_html_page(
    label_studio: LabelStudioServer, prefix: str, tmp_path: Path
) -> None:
    url = f"{label_studio.url}/some/path"
    report = push_results(
        run_results("path"),
        url=url,
        token=label_studio.token,
        outbox_path=tmp_path / "outbox.sqlite",
        project_prefix=prefix,
    )
    assert not report.ok and report.parked == 2
    error = report.error or ""
    # Before: "rejected the request (HTTP 404: \n\n\n<!doctype html>\n<html lang=...", 300
    # characters of the page over eleven lines.
    assert "\n" not in error and "<" not in error and len(error) < 350, error
    assert f"Label Studio at {url} answered HTTP 404 with a web page" in error
    assert "base URL" in error and "2 task(s) are kept in the outbox" in error
    pulled = pull_gold(url=url, token=label_studio.token, store=GoldStore(tmp_path / "gold.sqlite"))
    assert not pulled.ok and "\n" not in (pulled.error or "") and "HTTP 404" in str(pulled.error)


# -- Ctrl-C during a push --------------------------------------------------------------------


def interrupt_import(monkeypatch: pytest.MonkeyPatch, after: int, sent: bool) -> list[int]:
    """Make the `after`+1-th import request end in Ctrl-C, after the server took it (`sent`:
    the reply never reached us) or before it left. Returns the list of calls made."""
    calls: list[int] = []
    real = ProjectsClient.import_tasks

    def import_tasks(self: Any, id: int, **kwargs: Any) -> Any:
        calls.append(len(kwargs["request"]))
        if len(calls) <= after:
            return real(self, id, **kwargs)
        if sent:
            real(self, id, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(ProjectsClient, "import_tasks", import_tasks)
    return calls


def test_ctrl_c_during_a_push_keeps_the_rest_and_the_next_push_sends_each_once(
    label_studio: LabelStudioServer,
    ls_client: Any,
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    variants = many_results("ctrlc", 9)
    expected = {ext(v, 0) for v in variants}
    outbox = Outbox(tmp_path / "outbox.sqlite")
    kwargs: dict[str, Any] = dict(
        url=label_studio.url,
        token=label_studio.token,
        outbox_path=outbox.path,
        project_prefix=prefix,
        chunk_size=3,
    )
    calls = interrupt_import(monkeypatch, after=1, sent=True)
    with pytest.raises(KeyboardInterrupt) as stopped:
        push_results(variants, **kwargs)
    assert isinstance(stopped.value, PushInterrupted) and calls == [3, 3]
    interrupted = stopped.value.report
    assert interrupted.imported == 3 and interrupted.parked == 6
    assert "interrupted: 3 task(s) sent" in str(stopped.value)
    # The second chunk reached the server, but unconfirmed it stays in the outbox.
    assert len(outbox) == 6 and len(server_tasks(ls_client, prefix)[f"{prefix}: ctrlc"]) == 6

    monkeypatch.undo()
    again = push_results(variants, **kwargs)
    assert again.ok, again.summary()
    assert (again.imported, again.already_present, again.drained, again.parked) == (3, 6, 6, 0)
    assert len(outbox) == 0
    assert_each_once(ls_client, prefix, expected)


def test_ctrl_c_during_a_runs_push_leaves_the_report_and_stabtest_push_sends_the_rest(
    label_studio: LabelStudioServer,
    ls_client: Any,
    pytester: pytest.Pytester,
    stab_project: Writer,  # noqa: F811
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    stab_project(
        {"capitals.yaml": CAPITALS},
        ANSWERS,
        ini=f"stab_label_studio = {label_studio.url}\nstab_label_studio_prefix = {prefix}\n"
        "stab_escalate_below = 0.94\n",
    )
    report_path = pytester.path / "reports" / "stabtest.json"
    seen: list[str] = []
    real = ProjectsClient.import_tasks

    def import_tasks(self: Any, id: int, **kwargs: Any) -> Any:
        seen.append(json.loads(report_path.read_text())["status"])  # on disk before the push
        real(self, id, **kwargs)  # the server takes it, the reply is lost to Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(ProjectsClient, "import_tasks", import_tasks)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED and seen == ["running"]
    result.stdout.fnmatch_lines(
        [
            f"label studio: push to {label_studio.url} interrupted: 0 task(s) sent. 5 task(s) "
            "are kept in the outbox *; the next push sends them. (`stabtest push`*)"
        ]
    )
    report = json.loads(report_path.read_text())
    assert report["status"] == "interrupted" and report["exitstatus"] == 2
    push = report["label_studio"]["push"]
    assert len(report["variants"]) == 5 and (push["parked"], push["interrupted"]) == (5, True)
    outbox = Outbox(pytester.path / ".stabtest" / "label_studio" / "outbox.sqlite")
    assert len(outbox) == 5
    expected = {
        task["data"]["external_id"] for tasks in outbox.pending().values() for task in tasks
    }

    monkeypatch.undo()
    monkeypatch.chdir(pytester.path)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.token)
    assert main(["push"]) == 0  # the report and the outbox: already there, nothing twice
    assert len(outbox) == 0
    assert_each_once(ls_client, prefix, expected)


# -- concurrent pushes, and pulls over duplicate projects --------------------------------------

RACE = """\
import sys, time
from pathlib import Path
import label_studio_sdk  # loaded before the start signal, as is all the push needs
import label_studio_sdk.projects.client
import stabtest.adjudication.actions, stabtest.adjudication.client, stabtest.core.report
from stabtest.cli import main
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.001)
sys.exit(main(sys.argv[3:]))
"""


def test_two_concurrent_pushes_of_one_report_create_one_project_and_no_duplicate(
    label_studio: LabelStudioServer, ls_client: Any, prefix: str, tmp_path: Path
) -> None:
    suites = ("race-a", "race-b", "race-c")
    variants = [v for suite in suites for v in many_results(suite, 40)]
    report = report_file(tmp_path / "reports" / "stabtest.json", variants)
    env = {**os.environ, "LABEL_STUDIO_API_KEY": label_studio.token, "PYTHONPATH": str(ROOT)}
    go = tmp_path / "go"
    push = ["push", str(report), "--url", label_studio.url, "--prefix", prefix]
    push += ["--cache-dir", str(tmp_path / ".stabtest")]
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(tmp_path / f"ready{i}"), str(go), *push],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline and all(r.poll() is None for r in runs)
        time.sleep(0.01)
    go.touch()  # both pushes start at this instant, their imports done
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    # Before the lock: 2 or 3 of the 3 projects twice (three tries), tasks in both.
    assert_each_once(ls_client, prefix, {ext(v, 0) for v in variants})
    pushed = sorted(int(out.split("pushed ")[1].split(" ")[0]) for out in outputs)
    assert pushed == [0, 120], outputs  # one pushed everything, the other found it there
    assert any("120 already there" in out for out in outputs)


def test_pull_reads_every_project_that_carries_the_title(
    label_studio: LabelStudioServer, ls_client: Any, prefix: str, tmp_path: Path
) -> None:
    """Two projects titled alike, as two concurrent pushes of older versions left them: a
    label made in either one is pulled, and a push adds to neither twice."""
    variants = run_results("dup")
    push_results(
        variants,
        url=label_studio.url,
        token=label_studio.token,
        outbox_path=tmp_path / "outbox.sqlite",
        project_prefix=prefix,
    )
    title = f"{prefix}: dup"
    (first,) = [p for p in ls_client.projects.list(title=prefix) if p.title == title]
    second = ls_client.projects.create(title=title, label_config=LABEL_CONFIG)
    late = make_variant("dup", "v2", [make_answer("Marseille", "fail", 0.7)])
    copies = [
        task_for(variants[1], variants[1].answers[0], "q", "r"),
        task_for(late, late.answers[0], "q", "r"),
    ]
    ls_client.projects.import_tasks(second.id, request=copies)
    in_first = {t.data["external_id"]: t.id for t in ls_client.tasks.list(project=first.id)}
    in_second = {t.data["external_id"]: t.id for t in ls_client.tasks.list(project=second.id)}
    annotate(ls_client, in_second[ext(late, 0)], stable=False, correct=False, fix="Paris")
    annotate(ls_client, in_first[ext(variants[1], 0)], stable=True, correct=True)
    time.sleep(1.1)  # a later annotation of the same answer, in the other project
    annotate(ls_client, in_second[ext(variants[1], 0)], stable=True, correct=False)

    store = GoldStore(tmp_path / "gold.sqlite")
    pull: dict[str, Any] = dict(
        url=label_studio.url, token=label_studio.token, store=store, project_prefix=prefix
    )
    report = pull_gold(**pull)
    assert report.ok, report.summary()
    assert report.inserted == 2  # before: the label in the second project was missed
    assert any("2 projects are titled" in w for w in report.warnings)
    label = store.lookup(late.uid, late.answers[0].hash)
    assert label is not None and label.corrected_answer == "Paris"
    latest = store.lookup(variants[1].uid, variants[1].answers[0].hash)
    assert latest is not None and latest.correct is False  # the later annotation wins
    again = pull_gold(**pull)
    assert (again.inserted, again.changed, again.unchanged) == (0, 0, 2)  # no flip-flop

    pushed = push_results(
        [*variants, late],
        url=label_studio.url,
        token=label_studio.token,
        outbox_path=tmp_path / "outbox.sqlite",
        project_prefix=prefix,
    )
    assert (pushed.imported, pushed.already_present) == (0, 3) and pushed.created_projects == []
