"""The LLM judge's work in a plan: `stabtest execute` asks the judge for every answer the
run will grade (the model under test as its own judge, or another model with workers of
its own), under the keys the judge itself uses, so the `pytest` that follows asks no
model anything and its verdicts are those of a run that judged for itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.plugin.conftest import Writer
from tests.plugin.test_plan_execute import SUITES, generations, report, stabtest

VERDICT = "VERDICT: yes\nCONFIDENCE: 80"
ANSWERS = {
    "answer to grade": VERDICT,  # first: every judge prompt holds it, no user prompt does
    "capital of france": "Paris.",
    "river": "The Seine.",
    "italy": ["Rome.", "It is Rome.", "Rome, of course."],
}
JUDGED = "stab_judges = semantic,reference,numeric,llm_judge\n"


def judge_votes(data: dict[str, object]) -> list[str]:
    """The reasons of every llm_judge vote in a report."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("judge") == "llm_judge" and isinstance(node.get("reason"), str):
                found.append(node["reason"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    return found


def planned_then_run(pytester: pytest.Pytester, *flags: str) -> tuple[dict[str, object], dict]:
    """plan, execute, then pytest: the execute summary and the report of the run."""
    planned = stabtest(pytester, "plan", "-o", "plan.jsonl", *flags)
    assert planned.ret == 0, planned.stderr.str()
    planned.stdout.fnmatch_lines(["*wrote the plan*answer(s) to grade*"])
    executed = stabtest(pytester, "execute", "plan.jsonl", "--json")
    assert executed.ret == 0, executed.stderr.str()
    summary = json.loads(executed.stdout.str())
    # context=1 (words) refuses every prompt, the judge's too: the run can only pass as the
    # direct one did by finding everything in the cache (the option is not in the key)
    run = pytester.runpytest("-p", "no:cacheprovider", "--stab-backend-option=context=1", *flags)
    assert run.ret in (0, 1)
    return summary, report(pytester)


def test_the_judges_requests_are_executed_with_the_plan(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project(SUITES, ANSWERS, JUDGED)
    direct = pytester.runpytest("-p", "no:cacheprovider", "--stab-cache-dir=direct")
    assert direct.ret in (0, 1)
    direct_report = report(pytester)
    expected = generations(pytester.path / "direct")
    assert any(VERDICT in text for text in expected.values())  # the direct run judged

    summary, after = planned_then_run(pytester)
    # 12 sampled answers (4 variants x 3), the conversation's 2 threads at its 2 turns
    # with a reference; 6 distinct judge requests (the judge shows the original question)
    assert summary["gradings"] == 16
    assert (summary["graded"], summary["grades_cached"]) == (6, 0)
    assert generations(pytester.path / ".stabtest") == expected  # same keys, same texts
    assert after["generation"]["generated"] == 0  # type: ignore[index]
    assert after["summary"] == direct_report["summary"]
    votes = judge_votes(after)
    assert votes and votes == judge_votes(direct_report)
    assert all("agrees with the reference" in reason for reason in votes)

    again = stabtest(pytester, "execute", "plan.jsonl", "--json")
    repeat = json.loads(again.stdout.str())
    assert (repeat["generated"], repeat["graded"]) == (0, 0)
    assert repeat["grades_cached"] == summary["graded"]


def test_another_judge_model_is_asked_by_workers_of_its_own(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    answers = {k: v for k, v in ANSWERS.items() if k != "answer to grade"}
    judge = pytester.path / "judge.json"
    judge.write_text(json.dumps({"answer to grade": "VERDICT: no\nCONFIDENCE: 70"}))
    stab_project(SUITES, answers, JUDGED + f"stab_judge_model = {judge}\n")
    pytester.runpytest("-p", "no:cacheprovider", "--stab-cache-dir=direct")
    direct_report = report(pytester)
    expected = generations(pytester.path / "direct")

    summary, after = planned_then_run(pytester)
    assert summary["graded"] > 0
    assert generations(pytester.path / ".stabtest") == expected
    header = json.loads((pytester.path / "plan.jsonl").read_text().splitlines()[0])
    assert header["judge"]["model"] == str(judge)
    assert header["judge"]["fingerprint"] != header["fingerprint"]
    votes = judge_votes(after)
    assert votes and all("contradicts the reference" in reason for reason in votes)
    assert after["summary"] == direct_report["summary"]


def test_a_plan_without_the_llm_judge_grades_nothing(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    stab_project(SUITES, ANSWERS)
    assert stabtest(pytester, "plan", "-o", "plan.jsonl").ret == 0
    lines = Path(pytester.path, "plan.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["judge"] is None
    assert not any('"j"' in line for line in lines)
    executed = stabtest(pytester, "execute", "plan.jsonl", "--json")
    assert json.loads(executed.stdout.str())["gradings"] == 0


def test_execute_takes_the_judge_model_at_another_path_but_not_another_model(
    pytester: pytest.Pytester, stab_project: Writer
) -> None:
    answers = {k: v for k, v in ANSWERS.items() if k != "answer to grade"}
    judge = pytester.path / "judge.json"
    judge.write_text(json.dumps({"answer to grade": VERDICT}))
    stab_project(SUITES, answers, JUDGED + f"stab_judge_model = {judge}\n")
    assert stabtest(pytester, "plan", "-o", "plan.jsonl").ret == 0
    moved = pytester.path / "elsewhere.json"
    judge.rename(moved)  # as on a cluster's nodes: the same weights, another path
    executed = stabtest(pytester, "execute", "plan.jsonl", "--json", f"--stab-judge-model={moved}")
    assert executed.ret == 0, executed.stderr.str()
    assert json.loads(executed.stdout.str())["graded"] == 6

    other = pytester.path / "other.json"
    other.write_text(json.dumps({"answer to grade": "VERDICT: no"}))
    (pytester.path / ".stabtest").rename(pytester.path / "first")
    refused = stabtest(pytester, "execute", "plan.jsonl", f"--stab-judge-model={other}")
    assert refused.ret == 2
    refused.stderr.fnmatch_lines([f"*fake model {other} is *the model changed since*"])
    answered = generations(pytester.path / ".stabtest")  # the model's answers are kept
    assert len(answered) == 18 and not any(VERDICT in text for text in answered.values())
