"""Label Studio around a run, without a server: settings files (read and written back),
the gold snapshot every process reads, messages, and the `stabtest calibrate/push/pull`
commands' offline paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from stabtest.adjudication.actions import (
    load_gold,
    push_fix,
    variants_of_report,
)
from stabtest.adjudication.client import PushReport
from stabtest.adjudication.gold import GoldRecord, GoldStore
from stabtest.adjudication.paths import default_gold_path
from stabtest.cli import main
from stabtest.core.configfiles import find_inifile, load_settings, read_ini, write_setting
from stabtest.core.errors import ConfigError, StabtestError
from stabtest.core.results import GoldLabel, Vote
from stabtest.core.settings import Settings
from stabtest.reporting.terminal import render_summary

# -- finding and reading settings files ----------------------------------------------------


def test_inifile_discovery_follows_pytest_order(tmp_path: Path) -> None:
    (tmp_path / "setup.cfg").write_text("[tool:pytest]\nstab_seed = 3\n")
    (tmp_path / "tox.ini").write_text("[tox]\nenvlist = py\n")  # no [pytest]: not it
    assert find_inifile(tmp_path).path.name == "setup.cfg"  # type: ignore[union-attr]
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\nstab_seed = '4'\n")
    found = find_inifile(tmp_path)
    assert found is not None and found.section == "tool.pytest.ini_options"
    assert read_ini(found) == {"seed": "4"}
    (tmp_path / "pytest.ini").write_text("")
    assert find_inifile(tmp_path).path.name == "pytest.ini"  # type: ignore[union-attr]


def test_settings_come_from_the_ini_of_a_parent_dir_and_flags_win(tmp_path: Path) -> None:
    (tmp_path / "tox.ini").write_text(
        "[pytest]\nstab_label_studio = http://ls:8080\nstab_cache_dir = cache\n"
        "stab_label_studio_token = t0k\nstab_label_studio_prefix = team\n"
    )
    (tmp_path / "pyproject.toml").write_text("[tool.stabtest]\nescalate_below = 0.4\n")
    below = tmp_path / "sub" / "dir"
    below.mkdir(parents=True)
    settings = load_settings(below)
    assert Path(settings.rootdir) == tmp_path.resolve()
    assert settings.label_studio == "http://ls:8080"
    assert settings.cache_path == tmp_path.resolve() / "cache"
    assert (settings.label_studio_prefix, settings.escalate_below) == ("team", 0.4)
    assert settings.label_studio_token == "t0k" and "t0k" not in repr(settings)
    assert load_settings(below, {"label_studio": "http://other"}).label_studio == "http://other"


# -- writing one setting back --------------------------------------------------------------


def test_write_to_pyproject_keeps_comments_and_other_tables(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        "# top comment\n[project]\nname = 'x'  # the name\n\n"
        "[tool.stabtest]\nseed = 1  # seeded\nescalate_below = 0.1\n\n"
        "[tool.ruff]\nline-length = 99\n"
    )
    where = write_setting(path, "escalate_below", 0.7)
    assert where.endswith("[tool.stabtest] escalate_below")
    text = path.read_text()
    assert "# top comment" in text and "# the name" in text and "seed = 1  # seeded" in text
    assert "escalate_below = 0.7" in text and "0.1" not in text
    assert "line-length = 99" in text
    assert load_settings(tmp_path).escalate_below == 0.7


def test_write_to_pyproject_without_the_table_adds_it(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.ruff]\nline-length = 99\n")
    write_setting(path, "escalate_below", 0.25)
    assert load_settings(tmp_path).escalate_below == 0.25
    assert "line-length = 99" in path.read_text()
    fresh = tmp_path / "new" / "pyproject.toml"
    fresh.parent.mkdir()
    write_setting(fresh, "escalate_below", 0.5)
    assert load_settings(fresh.parent).escalate_below == 0.5


@pytest.mark.parametrize(
    ("name", "before", "after"),
    [
        (
            "pytest.ini",
            "[pytest]\n# keep me\nstab_escalate_below = 0.1\naddopts = -q\n",
            "[pytest]\n# keep me\nstab_escalate_below = 0.6\naddopts = -q\n",
        ),
        (
            "tox.ini",
            "[tox]\nenvlist = py\n\n[pytest]\naddopts = -q\n\n# next\n[testenv]\ndeps = x\n",
            "[tox]\nenvlist = py\n\n[pytest]\naddopts = -q\nstab_escalate_below = 0.6\n\n"
            "# next\n[testenv]\ndeps = x\n",
        ),
        (
            "setup.cfg",
            "[metadata]\nname = x\n",
            "[metadata]\nname = x\n\n[tool:pytest]\nstab_escalate_below = 0.6\n",
        ),
        (
            "pytest.ini",
            "[pytest]\nstab_escalate_below =\n    0.1\naddopts = -q\n",
            "[pytest]\nstab_escalate_below = 0.6\naddopts = -q\n",
        ),
    ],
    ids=["replace", "add-to-section", "add-section", "multi-line-value"],
)
def test_write_to_ini_files_is_a_line_edit(
    tmp_path: Path, name: str, before: str, after: str
) -> None:
    path = tmp_path / name
    path.write_text(before)
    write_setting(path, "escalate_below", 0.6)
    assert path.read_text() == after
    assert load_settings(tmp_path).escalate_below == 0.6


def test_write_rejects_unknown_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a stabtest setting"):
        write_setting(tmp_path / "pytest.ini", "nope", 1)


# -- the gold snapshot and messages --------------------------------------------------------


def _record(uid: str, text_hash: str, stable: bool, correct: bool, **kw: object) -> GoldRecord:
    return GoldRecord(label=GoldLabel(uid, text_hash, stable, correct), **kw)  # type: ignore[arg-type]


def test_gold_snapshot_reads_the_store_once(tmp_path: Path) -> None:
    settings = Settings(rootdir=str(tmp_path))
    assert load_gold(settings) is None  # no file
    path = default_gold_path(settings.cache_path)
    store = GoldStore(path)
    store.record_project("http://ls", "stabtest: s", 1)
    assert path.is_file() and load_gold(settings) is None  # a file without labels
    store.upsert([_record("u1", "a" * 16, True, False)])
    gold = load_gold(settings)
    assert gold is not None and len(gold) == 1
    label = gold.lookup("u1", "a" * 16)
    assert label is not None and label.outcome == "fail"
    assert gold.lookup("u1", "b" * 16) is None


def test_a_corrupt_gold_store_is_named(tmp_path: Path) -> None:
    settings = Settings(rootdir=str(tmp_path))
    path = default_gold_path(settings.cache_path)
    path.parent.mkdir(parents=True)
    path.write_text("not a database" * 100)
    with pytest.raises(StabtestError, match="cannot read the gold store"):
        load_gold(settings)


def test_push_messages_say_what_happened_and_how_to_fix_it() -> None:
    report = PushReport(url="http://ls", outbox_path="/c/outbox.sqlite", imported=3, drained=1)
    report.projects = {"stabtest: a": 1, "stabtest: b": 2}
    report.already_present = 4
    assert report.line() == (
        "label studio: pushed 3 task(s) (1 from the outbox) to 2 project(s) at http://ls, "
        "4 already there, 0 parked in the outbox"
    )
    assert push_fix(report, "x") == []
    down = PushReport(url="http://ls", outbox_path="/c/o.sqlite", parked=2)
    down.error = "Label Studio at http://ls is unreachable (ConnectError: refused). 2 kept"
    line = down.line()
    assert "0 task(s)" in line and "2 parked in the outbox /c/o.sqlite" in line
    error, fix = push_fix(down, "`stabtest push`", "--url")
    assert error == down.error and "--url" in fix and "`stabtest push`" in fix


def test_report_variants_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(StabtestError, match=r"no report at .*missing\.json"):
        variants_of_report(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(StabtestError, match="cannot read the report"):
        variants_of_report(bad)
    bad.write_text("{}")
    with pytest.raises(StabtestError, match="not a stabtest report"):
        variants_of_report(bad)


def test_terminal_summary_shows_ap_per_judge_only_with_human_labels() -> None:
    from stabtest.core.report import RunReport
    from stabtest.core.results import Agreement, GenerationStats, RunSummary

    def report(summary: RunSummary) -> RunReport:
        return RunReport(
            run_id="r",
            status="complete",
            started_at=0.0,
            finished_at=1.0,
            summary=summary,
            generation=GenerationStats(),
        )

    summary = RunSummary(cases=1, variants=2, si=0.0, fc=1.0, rdr=0.5)
    assert "AP per judge" not in render_summary(report(summary))
    labelled = RunSummary(
        cases=1,
        variants=2,
        si=0.0,
        fc=1.0,
        rdr=0.5,
        ap=0.5,
        ap_per_judge={"semantic": 0.5, "reference": None},
        agreement=Agreement(pass_correct=1, pass_incorrect=1),
        agreement_per_judge={
            "semantic": Agreement(pass_correct=1, fail_incorrect=1, fail_correct=2),
            "reference": Agreement(),
        },
        human_labelled=2,
    )
    text = render_summary(report(labelled))
    assert (
        "human labels: 2 answer(s) | ensemble AP 0.500 | correct: precision 0.500, "
        "recall 1.000 | incorrect: precision -, recall 0.000 | balanced accuracy 0.500 "
        "(2 verdicts)"
    ) in text
    assert "AP per judge: reference - (bal. acc. -), semantic 0.500 (bal. acc. 0.667)" in text


# -- the commands, offline -----------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    (tmp_path / "pyproject.toml").write_text("# settings\n[tool.stabtest]\nseed = 0\n")
    return tmp_path


def _fill_gold(root: Path) -> GoldStore:
    """Labels with the machine's side: leaning, confidence, votes."""
    store = GoldStore(default_gold_path(root / ".stabtest"))
    plan = [  # (leaning, confidence, shown outcome, human stable, human correct)
        ("fail", 0.9, "fail", False, False),
        ("fail", 0.8, "fail", True, False),
        ("fail", 0.6, "fail", True, True),  # a false alarm
        ("pass", 0.4, "escalate", True, True),
        ("fail", 0.3, "escalate", True, True),
    ]
    store.upsert(
        _record(
            f"u{i}",
            f"{i:016x}",
            stable,
            correct,
            auto_outcome=shown,
            auto_leaning=leaning,
            confidence=conf,
            votes=(Vote("semantic", leaning, conf),),  # type: ignore[arg-type]
        )
        for i, (leaning, conf, shown, stable, correct) in enumerate(plan)
    )
    return store


def test_calibrate_prints_the_curve_and_writes_the_choice(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill_gold(project)
    assert main(["calibrate", "--target", "0.9", "--write", "pyproject.toml"]) == 0
    out = capsys.readouterr().out
    assert "escalate_below" in out and "escalated" in out and "P correct" in out
    assert "0.8  " in out and "<- chosen" in out
    assert "escalate_below = 0.8: AP 1.000 on the 2 verdict(s) kept, 60.0% escalated" in out
    assert "AP of the pushed verdicts: ensemble 0.667, semantic 0.600" in out
    assert "wrote pyproject.toml [tool.stabtest] escalate_below = 0.8" in out
    text = (project / "pyproject.toml").read_text()
    assert text.startswith("# settings\n") and "escalate_below = 0.8" in text
    assert load_settings(project).escalate_below == 0.8


def test_calibrate_warns_when_an_ini_key_overrides_what_it_wrote(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill_gold(project)
    (project / "pytest.ini").write_text("[pytest]\nstab_escalate_below = 0.2\n")
    assert main(["calibrate", "--write", "pyproject.toml"]) == 0
    assert "still uses escalate_below = 0.2" in capsys.readouterr().err
    assert main(["calibrate", "--write", "pytest.ini"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert load_settings(project).escalate_below == 0.8


def test_calibrate_errors_are_one_line_and_nonzero(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no gold store at" in err and "gold.sqlite" in err
    assert "stabtest pull" in err and "Traceback" not in err
    store = _fill_gold(project)
    assert main(["calibrate", "--target", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "--target" in err and "'1.5'" in err and "between 0 and 1" in err
    store.upsert([_record("u9", "9" * 16, True, True, auto_leaning="fail", confidence=1.0)])
    assert main(["calibrate", "--target", "1.0", "--write", "pyproject.toml"]) == 1
    captured = capsys.readouterr()
    assert "no threshold reaches ap >= 1 (best AP: 0.667" in captured.err
    assert "nothing written" in captured.err
    assert "escalate_below = " not in (project / "pyproject.toml").read_text()


def test_push_and_pull_need_a_url_and_a_readable_report(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pull"]) == 2
    assert "no Label Studio URL: pass --url URL" in capsys.readouterr().err
    assert main(["push", "--url", "http://127.0.0.1:9"]) == 2
    assert "no report at reports/stabtest.json" in capsys.readouterr().err.replace(
        str(project) + "/", ""
    )
    assert main(["pull", "--url", "http://127.0.0.1:9"]) == 1  # no token
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "LABEL_STUDIO_API_KEY" in err


def test_push_from_a_report_parks_tasks_when_the_server_is_down(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stabtest.core.report import RunReport, write_report
    from stabtest.core.results import GenerationStats, RunSummary
    from tests.unit.test_adjudication import answer, variant, verdict

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "s3cret-cli-token")
    report = project / "reports" / "stabtest.json"
    report.parent.mkdir()
    variants = [variant("v1", [answer("Lyon", verdict("fail"))])]
    write_report(
        report,
        RunReport(
            run_id="r1",
            status="complete",
            started_at=0.0,
            finished_at=1.0,
            summary=RunSummary(),
            generation=GenerationStats(),
            variants=variants,
        ),
    )
    assert main(["push", "--url", "http://127.0.0.1:9"]) == 1
    captured = capsys.readouterr()
    assert "pushed 0 task(s)" in captured.out and "1 parked" in captured.out
    assert captured.err.startswith("stabtest: error: Label Studio at http://127.0.0.1:9 is")
    assert "fix: start Label Studio at http://127.0.0.1:9 or correct --url" in captured.err
    assert "s3cret-cli-token" not in captured.out + captured.err
    outbox = project / ".stabtest" / "label_studio" / "outbox.sqlite"
    assert outbox.is_file() and b"s3cret-cli-token" not in outbox.read_bytes()
