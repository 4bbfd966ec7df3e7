"""Release gating through pytest: baselines saved, blessed and compared (exit 6 on a
regression), a changed suite reported rather than compared, and the run history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stabtest.cli import main
from stabtest.core.compare import REGRESSION_EXIT
from stabtest.core.report import read_report
from stabtest.reporting.history import read_history

SUITE = """\
suite: capitals
defaults: {thresholds: {max_si: 0.9, min_fc: 0.3}}
cases:
  - id: france
    prompt: What is the capital of France?
    reference: Paris
    incorrect: [Lyon]
    paraphrases:
      - Which city is the capital of France?
      - Name the capital of France.
      - Tell me the capital of France.
    sampling: {temperature: 1.0, samples: 4}
  - id: italy
    prompt: What is the capital of Italy?
    reference: Rome
    incorrect: [Milan]
    paraphrases:
      - Which city is the capital of Italy?
      - Name the capital of Italy.
      - Tell me the capital of Italy.
    sampling: {temperature: 1.0, samples: 4}
"""
GOOD = {
    "capital of france": "The capital of France is Paris.",
    "capital of italy": "The capital of Italy is Rome.",
}
# Every other sample of France says Lyon: SI 0 -> 0.53, FC 1 -> 0.5 on 16 answers.
WORSE = {**GOOD, "capital of france": ["The capital of France is Paris.", "It is Lyon."]}
INI = "stab_escalate_below = 0\n"
FRANCE = "suites/capitals.yaml::france"
ITALY = "suites/capitals.yaml::italy"


def set_answers(pytester: pytest.Pytester, answers: dict) -> None:
    (pytester.path / "answers.json").write_text(json.dumps(answers), encoding="utf-8")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what in-process pytest runs printed before
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def history(pytester: pytest.Pytester) -> Path:
    return pytester.path / ".stabtest" / "history.jsonl"


def test_same_run_passes_a_worse_one_exits_6_and_names_the_case(pytester, stab_project):
    stab_project({"capitals.yaml": SUITE}, GOOD, ini=INI)
    first = pytester.runpytest("--stab-save-baseline", "main")
    assert first.ret == 0
    first.stdout.fnmatch_lines(["*baseline 'main' saved: *baselines*main.json"])
    assert read_report(pytester.path / "baselines" / "main.json").summary.cases == 2

    same = pytester.runpytest("--stab-baseline", "main")
    assert same.ret == 0
    same.stdout.fnmatch_lines(["baseline main (run *): no regression past tolerance*"])
    compared = read_report(pytester.path / "reports" / "stabtest.json").baseline
    assert compared is not None and compared.passed and compared.name == "main"
    assert {m.verdict for s in compared.scopes for m in s.metrics} == {"unchanged"}

    set_answers(pytester, WORSE)
    worse = pytester.runpytest("--stab-baseline", "main")
    assert worse.ret == REGRESSION_EXIT == 6
    worse.stdout.fnmatch_lines(
        [
            "baseline main (run *): REGRESSION in 3 scope(s) past tolerance*",
            "*suites/capitals.yaml::france*0.000 -> 0.533*REGRESSION: SI, FC",
            "*regressed against baseline 'main': exit status 6",
        ]
    )
    assert ITALY not in worse.stdout.str()  # unchanged cases are counted, not listed
    report = read_report(pytester.path / "reports" / "stabtest.json")
    assert report.exitstatus == 6 and report.baseline is not None
    assert [s.scope for s in report.baseline.regressions] == ["run", "suites/capitals.yaml", FRANCE]
    france = next(s for s in report.baseline.scopes if s.scope == FRANCE)
    assert france.answers_before == france.answers_after == 16
    fc = next(m for m in france.metrics if m.metric == "fc")
    assert fc.delta == -0.5 and fc.interval is not None and fc.interval.high < 0


def test_a_change_within_tolerance_is_shown_not_gated(pytester, stab_project):
    stab_project({"capitals.yaml": SUITE}, GOOD, ini=INI)
    assert pytester.runpytest("--stab-save-baseline", "main").ret == 0
    set_answers(pytester, WORSE)
    tolerant = pytester.runpytest(
        "--stab-baseline=main",
        "--stab-baseline-si-tolerance=0.9",
        "--stab-baseline-fc-tolerance=0.9",
    )
    assert tolerant.ret == 1  # the Lyon variants fail their own checks, nothing gates
    tolerant.stdout.fnmatch_lines(["*::france*worse, within tolerance*"])


def test_a_regressed_run_does_not_overwrite_the_baseline_it_failed(pytester, stab_project):
    stab_project({"capitals.yaml": SUITE}, GOOD, ini=INI)
    pytester.runpytest("--stab-save-baseline", "main")
    before = (pytester.path / "baselines" / "main.json").read_bytes()
    set_answers(pytester, WORSE)
    rolling = pytester.runpytest("--stab-baseline", "main", "--stab-save-baseline", "main")
    assert rolling.ret == 6
    rolling.stdout.fnmatch_lines(["*baseline 'main': not saved, this run regressed against it*"])
    assert (pytester.path / "baselines" / "main.json").read_bytes() == before


def test_bless_promotes_the_last_report(pytester, stab_project, capsys):
    stab_project({"capitals.yaml": SUITE}, WORSE, ini=INI)
    pytester.runpytest()
    code, out, _ = cli(capsys, "baseline", "bless", "main")
    assert code == 0 and "baseline 'main' <- " in out
    run_id = read_report(pytester.path / "reports" / "stabtest.json").run_id
    assert read_report(pytester.path / "baselines" / "main.json").run_id == run_id

    set_answers(pytester, GOOD)  # better than the blessed baseline: passes
    better = pytester.runpytest("--stab-baseline", "main")
    assert better.ret == 0
    better.stdout.fnmatch_lines(["baseline main*no regression*"])

    code, out, _ = cli(capsys, "baseline", "list")
    assert code == 0 and "main" in out and run_id in out
    code, out, _ = cli(capsys, "baseline", "compare", "main")  # the better run vs WORSE
    assert code == 0 and "no regression" in out
    code, out, _ = cli(capsys, "baseline", "show", "main")
    assert code == 0 and "france" in out


def test_a_missing_or_foreign_baseline_is_one_line_with_the_fix(pytester, stab_project, capsys):
    stab_project({"capitals.yaml": SUITE}, GOOD, ini=INI)
    missing = pytester.runpytest("--stab-baseline", "nope")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(
        ["*no baseline 'nope' at *nope.json: store one with `stabtest baseline bless nope`*"]
    )
    assert not (pytester.path / "reports" / "stabtest.json").exists()  # stopped before running
    (pytester.path / "baselines").mkdir()
    (pytester.path / "baselines" / "foreign.json").write_text('{"hello": 1}')
    foreign = pytester.runpytest("--stab-baseline", "foreign")
    assert foreign.ret == pytest.ExitCode.USAGE_ERROR
    foreign.stderr.fnmatch_lines(["*foreign.json is not a stabtest report*baseline bless foreign*"])
    code, _, err = cli(capsys, "baseline", "compare", "nope")
    assert code == 2 and err.count("\n") == 1 and "stabtest baseline bless nope" in err
    bad = pytester.runpytest("--stab-baseline", "../etc")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


def test_a_changed_suite_is_reported_not_compared(pytester, stab_project):
    stab_project({"capitals.yaml": SUITE}, GOOD, ini=INI)
    pytester.runpytest("--stab-save-baseline", "main")
    edited = SUITE.replace("Tell me the capital of France.", "France's capital is?")
    edited += """\
  - id: spain
    prompt: What is the capital of Spain?
    reference: Madrid
"""
    (pytester.path / "suites" / "capitals.yaml").write_text(edited)
    set_answers(pytester, {**WORSE, "capital of spain": "Madrid."})  # France worse, but changed
    result = pytester.runpytest("--stab-baseline", "main")
    assert result.ret == 1  # Lyon answers fail their variants; no baseline regression
    result.stdout.fnmatch_lines(
        [
            "*suites/capitals.yaml::france*changed, not compared",
            "*suites/capitals.yaml::spain*added",
            "cases: 1 compared (1 unchanged); 1 changed, 1 added*",
        ]
    )
    strict = pytester.runpytest("--stab-baseline", "main", "--stab-baseline-strict")
    assert strict.ret == 6
    strict.stdout.fnmatch_lines(["*suites/capitals.yaml::france*CHANGED (strict)"])


def test_history_grows_by_one_line_per_run_and_prints(pytester, stab_project, capsys):
    stab_project({"capitals.yaml": SUITE}, GOOD, ini=INI)
    pytester.runpytest("--stab-label", "round 0")
    pytester.runpytest("--collect-only")  # not a run
    set_answers(pytester, WORSE)
    pytester.runpytest()
    records = read_history(history(pytester))
    assert len(history(pytester).read_text().splitlines()) == len(records) == 2
    first, second = records
    assert (first.label, first.exitstatus, second.exitstatus) == ("round 0", 0, 1)
    assert first.run.si == 0.0 and second.run.si == pytest.approx(0.5333 / 2, abs=1e-3)
    assert first.suite_hashes == second.suite_hashes and len(first.suite_hashes) == 1
    assert first.fingerprint and first.fingerprint != second.fingerprint  # answers changed
    assert first.run.cases == 2 and second.run.cases_failed == 0
    assert first.generation.requests == first.generation.generated == 32  # 8 variants x 4

    code, out, _ = cli(capsys, "history")
    assert code == 0
    lines = out.splitlines()
    assert "round 0" in lines[2] and first.run_id in lines[2] and second.run_id in lines[3]
    assert lines[-1].startswith("2 run(s) from ")
    code, out, _ = cli(capsys, "history", "--limit", "1", "--json")
    assert code == 0 and [r["run_id"] for r in json.loads(out)] == [second.run_id]


def test_a_corrupt_history_line_is_skipped_not_fatal(pytester, stab_project, capsys):
    stab_project({"capitals.yaml": SUITE}, GOOD, ini=INI)
    pytester.runpytest()
    with history(pytester).open("a") as out:
        out.write('{"run_id": "torn", "ti')  # a writer killed mid-line, no newline
    assert pytester.runpytest().ret == 0  # appends after a newline of its own
    lines = history(pytester).read_text().splitlines()
    assert len(lines) == 3 and lines[1].startswith('{"run_id": "torn"')
    code, out, err = cli(capsys, "history")
    assert code == 0 and out.count("\n") == 5  # header, rule, 2 runs, footer
    assert "history.jsonl:2: skipped a line that is not a history record" in err


def test_baseline_settings_come_from_the_ini(pytester, stab_project):
    stab_project(
        {"capitals.yaml": SUITE},
        GOOD,
        ini=INI + "stab_baseline = main\nstab_save_baseline = main\nstab_baseline_dir = gates\n",
    )
    first = pytester.runpytest()  # saves the baseline it compares with: none yet
    assert first.ret == 0
    first.stdout.fnmatch_lines(["*baseline 'main': none yet, this run becomes it"])
    assert (pytester.path / "gates" / "main.json").is_file()
    set_answers(pytester, WORSE)
    assert pytester.runpytest().ret == 6


def test_under_xdist_the_controller_compares_once_and_records_once(pytester, stab_project):
    pytest.importorskip("xdist")
    stab_project({"capitals.yaml": SUITE}, GOOD, ini=INI)
    assert pytester.runpytest("--stab-save-baseline", "main").ret == 0
    set_answers(pytester, WORSE)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "--stab-baseline", "main")
    assert result.ret == 6
    assert result.stdout.str().count("REGRESSION: SI, FC") == 3  # run, suite, france
    records = read_history(history(pytester))
    assert [r.exitstatus for r in records] == [0, 6]
    assert records[1].fingerprint is not None and records[1].regressions == 3


def test_a_comparison_says_it_is_paired(pytester, stab_project):
    stab_project({"capitals.yaml": SUITE}, GOOD, ini=INI)
    assert pytester.runpytest("--stab-save-baseline", "main").ret == 0
    set_answers(pytester, WORSE)
    worse = pytester.runpytest("--stab-baseline", "main")
    assert worse.ret == 6
    worse.stdout.fnmatch_lines(
        [
            "*suites/capitals.yaml::france*paired q *REGRESSION: SI, FC",
            "tests: 2 paired (the same variants resampled on both sides; FC by McNemar*",
            "cases gated at FDR 5% (Benjamini-Hochberg over 2 cases, 4 SI/FC tests)*",
        ]
    )
    comparison = read_report(pytester.path / "reports" / "stabtest.json").baseline
    assert comparison is not None and comparison.fdr == 0.05
    france = next(s for s in comparison.scopes if s.scope == FRANCE)
    fc = next(m for m in france.metrics if m.metric == "fc")
    assert fc.method == "paired-mcnemar" and fc.p_value == pytest.approx(2 / 256, abs=1e-6)
    assert fc.q_value is not None and fc.q_value < 0.05
    assert {m.method for m in france.metrics if m.metric != "fc"} == {"paired-bootstrap"}


NOISY_CASES = 30


def noisy_suite() -> str:
    lines = ["suite: lands", "defaults: {thresholds: {max_si: 1.0, min_fc: 0.0}}", "cases:"]
    for i in range(NOISY_CASES):
        lines += [
            f"  - id: land{i}",
            f"    prompt: What is the capital of Land{i}?",
            f"    reference: Alpha{i}",
            f"    incorrect: [Beta{i}]",
            "    paraphrases:",
            f"      - Which city is the capital of Land{i}?",
            f"      - Name the capital of Land{i}.",
            "    sampling: {temperature: 1.0, samples: 6}",
        ]
    return "\n".join(lines) + "\n"


def noisy_answers(seed: int, regressed: int | None = None) -> dict[str, list[str]]:
    """Each answer right with its case's probability, drawn with `seed`; case 7 is always
    right, unless `regressed`: then it answers wrong 9 times in 10."""
    import random

    rng = random.Random(seed)
    answers = {}
    for i in range(NOISY_CASES):
        right = random.Random(i).uniform(0.6, 0.95)
        if i == 7:
            right = 0.1 if regressed == 7 else 1.0
        prompts = [
            f"What is the capital of Land{i}?",
            f"Which city is the capital of Land{i}?",
            f"Name the capital of Land{i}.",
        ]
        for prompt in prompts:
            answers[prompt] = [
                f"The capital is Alpha{i}." if rng.random() < right else f"It is Beta{i}."
                for _ in range(6)
            ]
    return answers


def test_many_noisy_cases_are_not_flagged_after_fdr_but_a_real_regression_is(
    pytester, stab_project
):
    stab_project({"lands.yaml": noisy_suite()}, noisy_answers(1), ini=INI)
    pytester.runpytest("--stab-save-baseline", "main")  # wrong answers fail their variants
    assert (pytester.path / "baselines" / "main.json").is_file()
    set_answers(pytester, noisy_answers(3, regressed=7))  # another seed; one real drop
    result = pytester.runpytest("--stab-baseline", "main")
    assert result.ret == 6
    result.stdout.fnmatch_lines(
        [
            "*suites/lands.yaml::land7 *REGRESSION: *FC*",
            f"cases gated at FDR 5% (Benjamini-Hochberg over {NOISY_CASES} cases*",
        ]
    )
    comparison = read_report(pytester.path / "reports" / "stabtest.json").baseline
    assert comparison is not None
    gated = [s.scope for s in comparison.regressions if s.level == "case"]
    assert gated == ["suites/lands.yaml::land7"]
    # noise that a case-by-case test at 5% would have flagged, cleared by its q-value
    cleared = [
        m
        for s in comparison.scopes
        if s.level == "case" and s.scope not in gated
        for m in s.metrics
        if m.metric in ("si", "fc") and m.p_value is not None and m.p_value < 0.05
    ]
    assert cleared and all(m.q_value is not None and m.q_value >= 0.05 for m in cleared)
