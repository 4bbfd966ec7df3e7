"""What stabtest prints is safe for a terminal and short, whatever the model answered: control
sequences (clear screen, window title, hyperlinks, bell, NUL) are shown as escapes, long
texts are shortened to head and tail, and credentials in a Label Studio URL are redacted.
The JSON report keeps every text whole."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stabtest.adjudication.client import describe_error
from stabtest.cli import main
from stabtest.core.report import RunReport, read_report, write_report
from stabtest.core.results import (
    AnswerResult,
    CaseMetrics,
    CaseResult,
    GenerationStats,
    RunSummary,
    VariantResult,
    Verdict,
    Vote,
)
from stabtest.core.settings import Settings
from stabtest.core.text import (
    SHOWN_CHARS,
    redact_url,
    scrub_url,
    shorten_middle,
    terminal_safe,
)
from stabtest.reporting.failure import (
    case_headline,
    render_case,
    render_variant,
    variant_headline,
)
from stabtest.reporting.terminal import render_summary
from tests.plugin.conftest import Writer, stab_project  # noqa: F401 - the fixture

HOSTILE = (
    "Paris\x1b[2J\x1b[H"  # clear the screen, cursor home
    "\x1b]0;pwned\x07"  # OSC: window title, BEL
    "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\"  # OSC 8 hyperlink
    "\x00\x07\x9b31m\u202eevil"  # NUL, BEL, C1 CSI, right-to-left override
)
# Anything that drives a terminal: C0 but newline and tab, DEL, C1, bidi controls.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
BIG = ("The capital of France is Paris. " * 7000)[:200_000]


def answer(text: str, sample: int = 0, reason: str = "does not match") -> AnswerResult:
    votes = (
        Vote("semantic", "fail", 0.8, 0.1, f"diverges from {text[:500]}"),
        Vote("reference", "fail", 0.9, None, "names Lyon"),
    )
    verdict = Verdict("fail", 0.8, votes, "hallucination", reason)
    return AnswerResult(sample=sample, text=text, cluster=sample, verdict=verdict)


def variant(
    vid: str, texts: list[str], family: str = "paraphrase", prompt: str = ""
) -> VariantResult:
    return VariantResult(
        uid=f"suites/geo.yaml::capital::{vid}",
        suite="geo",
        case_id="capital",
        variant_id=vid,
        family=family,
        prompt=prompt or f"[{vid}] What is the capital of France?",
        operators=("paraphrase",) if family != "original" else (),
        reference="Paris",
        answers=tuple(answer(t, i) for i, t in enumerate(texts)),
    )


def case(suite: str = "geo", case_id: str = "capital") -> CaseResult:
    return CaseResult(
        uid=f"suites/{suite}.yaml::{case_id}",
        suite=suite,
        case_id=case_id,
        metrics=CaseMetrics(0.9, 0.0, 1.0, 4, 4),
        max_si=0.5,
        min_fc=0.5,
        failures=("SI 0.900 > max_si 0.500",),
    )


def assert_terminal_safe(text: str) -> None:
    found = RAW_CONTROL.findall(text)
    assert not found, f"raw control characters reach the terminal: {found!r}"


# -- the helpers -----------------------------------------------------------------------------


def test_control_characters_are_shown_as_escapes_and_layout_is_kept() -> None:
    shown = terminal_safe(HOSTILE + "\nline two\tcolumn\r")
    assert_terminal_safe(shown)
    assert "Paris\\x1b[2J\\x1b[H\\x1b]0;pwned\\x07" in shown
    assert "\\x00" in shown and "\\x9b31m" in shown and "\\u202eevil" in shown
    assert "\nline two\tcolumn\\r" in shown  # newline and tab kept, carriage return not
    one_line = terminal_safe("a\nb\tc", layout=False)
    assert one_line == "a\\nb\\tc"
    assert terminal_safe("Zürich — 東京 ✓") == "Zürich — 東京 ✓"  # printable text untouched
    assert terminal_safe(shown) == shown  # escaping twice changes nothing


def test_long_text_keeps_head_and_tail_and_says_how_much_is_left_out() -> None:
    text = "A" * 150_000 + "B" * 50_000
    short = shorten_middle(text)
    assert len(short) < SHOWN_CHARS + 40
    assert short.startswith("A" * 700) and short.endswith("B" * 200)
    assert f"[+{200_000 - SHOWN_CHARS} chars]" in short
    assert shorten_middle("short") == "short"


@pytest.mark.parametrize(
    ("url", "shown", "secrets"),
    [
        ("http://user:hunter22@ls.example:8080", "http://***@ls.example:8080", ["hunter22"]),
        ("http://tokenonly@ls:8080/", "http://***@ls:8080/", ["tokenonly"]),
        (
            "https://ls/?token=abc123&project=7&api_key=k3y9",
            "https://ls/?token=***&project=7&api_key=***",
            ["abc123", "k3y9"],
        ),
        (
            "http://ls?Password=p%40ss1&access_token=t0k3n#secret=s3cr3t",
            "http://ls?Password=***&access_token=***#secret=***",
            ["p%40ss1", "p@ss1", "t0k3n", "s3cr3t"],
        ),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080", []),
    ],
)
def test_credentials_in_urls_are_redacted(url: str, shown: str, secrets: list[str]) -> None:
    assert redact_url(url) == shown
    message = f"cannot reach {url} (asked with {' '.join(secrets)})"
    scrubbed = scrub_url(message, url)
    assert shown in scrubbed
    for secret in secrets:
        assert secret not in scrubbed


def test_the_report_settings_keep_the_url_without_its_credentials() -> None:
    settings = Settings(label_studio="http://me:hunter22@ls:8080/?token=abc123")
    public = settings.public()
    assert public["label_studio"] == "http://***@ls:8080/?token=***"
    assert "hunter22" not in json.dumps(public) and "abc123" not in json.dumps(public)
    assert str(settings.label_studio).endswith("abc123")  # the push itself still has it


# -- failure explanations ----------------------------------------------------------------------


def test_failure_explanations_escape_model_output() -> None:
    original = variant("v0", ["Paris"], family="original", prompt="Capital of France?")
    bad = variant("v1", [HOSTILE], prompt="Which city\x1b[31m is it?")
    bad_case = case(case_id="capital\x1b]0;x\x07")
    texts = [
        render_variant(bad, original),
        variant_headline(bad),
        render_case(bad_case, [original, bad]),
        case_headline(bad_case),
    ]
    for text in texts:
        assert_terminal_safe(text)
    assert "\\x1b[2J" in texts[0] and "\\x1b]0;pwned\\x07" in texts[0]
    assert "\\x1b[31m" in texts[0]  # in the prompt too
    assert "\n" not in texts[1] and "\n" not in texts[3]  # headlines stay one line


def test_a_200kb_answer_is_shortened_in_the_explanation_and_whole_in_the_report(
    tmp_path: Path,
) -> None:
    original = variant("v0", [BIG], family="original")
    bad = variant("v1", [BIG, BIG + " Lyon", BIG[:-1]])
    explained = render_variant(bad, original)
    table = render_case(case(), [original, bad])
    # Before: 1.58 MB (the answer about eight times over); now a few KB per answer.
    assert len(explained) < 20_000 and len(table) < 20_000
    assert re.search(rf"\[\+{len(BIG) - SHOWN_CHARS}\s+chars\]", explained)  # maybe wrapped
    report = RunReport(
        run_id="r",
        status="complete",
        started_at=0.0,
        finished_at=1.0,
        summary=RunSummary(),
        generation=GenerationStats(),
        cases=[case()],
        variants=[original, bad],
    )
    path = tmp_path / "stabtest.json"
    write_report(path, report)
    assert read_report(path).variants[0].answers[0].text == BIG


def test_summary_table_and_report_command_escape_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile_case = case(suite="geo\x1b[2J", case_id="capital\x07\x1b]8;;http://x\x1b\\")
    bad = variant("v1", [HOSTILE])
    report = RunReport(
        run_id="r",
        status="complete",
        started_at=0.0,
        finished_at=1.0,
        summary=RunSummary(cases=1, cases_failed=1, variants=1, variants_failed=1),
        generation=GenerationStats(),
        cases=[hostile_case],
        variants=[bad],
    )
    summary = render_summary(report)
    assert_terminal_safe(summary)
    assert "geo\\x1b[2J" in summary
    path = tmp_path / "stabtest.json"
    write_report(path, report)
    assert main(["report", str(path)]) == 0
    printed = capsys.readouterr().out
    assert_terminal_safe(printed)
    assert "capital\\x07\\x1b]8;;http://x\\x1b\\" in printed
    assert read_report(path).cases[0].suite == "geo\x1b[2J"  # the report keeps it as it was


def test_server_errors_are_one_short_line_without_html_or_credentials() -> None:
    from label_studio_sdk.core.api_error import ApiError

    page = "\n\n<!doctype html>\n<html><head><title>Not Found</title></head>" + "x" * 50_000
    url = "http://me:hunter22@ls:8080/some/path?token=abc123"
    token = "tok-" + "5e" * 16
    text = describe_error(ApiError(status_code=404, body=page), url, token, "2 kept.")
    assert "\n" not in text and "<" not in text and len(text) < 400
    assert "HTTP 404" in text and "http://***@ls:8080/some/path?token=***" in text
    assert "base URL" in text and "2 kept." in text
    assert "hunter22" not in text and "abc123" not in text
    noisy = ApiError(status_code=400, body="line one\nline two\x1b[2J " + "y" * 5_000)
    short = describe_error(noisy, "http://ls:8080", token, "Kept.")
    assert "\n" not in short and len(short) < 400 and "line one line two\\x1b[2J" in short
    assert_terminal_safe(short)


# -- a whole run ---------------------------------------------------------------------------------


CAPITAL = """\
suite: capitals
cases:
  - id: capital-of-france
    prompt: What is the capital of France?
    reference: Paris
    paraphrases:
      - Which city is the capital of France?
"""


def test_a_run_prints_hostile_and_huge_answers_safely_and_reports_them_whole(
    pytester: pytest.Pytester,
    stab_project: Writer,  # noqa: F811
) -> None:
    hostile = HOSTILE.replace("Paris", "Lyon")
    huge = BIG.replace("Paris", "Lyon")
    answers = {"which city": hostile, "capital of france": huge}
    stab_project({"capitals.yaml": CAPITAL}, answers)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str() + result.stderr.str()
    assert_terminal_safe(out)
    assert "\\x1b[2J" in out and "\\x1b]0;pwned\\x07" in out
    assert "chars] …" in out
    assert len(out) < 60_000, len(out)  # the 200 KB answer, shortened wherever it is shown
    report = json.loads((pytester.path / "reports" / "stabtest.json").read_text())
    texts = {a["text"] for v in report["variants"] for a in v["answers"]}
    assert hostile in texts and huge in texts
