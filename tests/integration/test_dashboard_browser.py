"""The dashboard in a real browser: headless Chromium, network off, on a page built from
a real run (the plugin, the fake backend, the lexical embedder) whose model answers with
scripts. The plots must render, the injected scripts must not run, the console must stay
silent, and the search box and the "failed or escalated only" toggle must filter.

Chromium: /usr/bin/chromium (Debian's `chromium` package; CI installs it with apt). Without
it these tests skip, unless STABTEST_REQUIRE_BROWSER=1, when they fail. A screenshot goes
to reports/dashboard-screenshot.png under the test run's root directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from stabtest.core.compare import BaselineComparison, Interval, MetricChange, ScopeComparison
from stabtest.core.report import RunReport, read_report
from stabtest.reporting.dashboard import write_dashboard
from stabtest.reporting.history import record_of
from tests.plugin.conftest import Writer, stab_project  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

CASES = ("france", "italy", "spain")
MARKER = "document.title='PWNED';window.__pwned=1;document.documentElement.dataset.pwned='1'"
SUITES = {
    "capitals.yaml": """\
suite: capitals
cases:
  - id: capital-of-france
    prompt: What is the capital of France?
    reference: Paris
    incorrect: [Lyon]
    paraphrases:
      - Which city is the capital of France?
      - Name the capital of France.
    perturbations: {count: 2, operators: [casing, punctuation]}
  - id: capital-of-italy
    prompt: What is the capital of Italy?
    reference: Rome
    sampling: {temperature: 0.7, samples: 3}
    paraphrases:
      - Which city is the capital of Italy?
  - id: capital-of-spain
    prompt: What is the capital of Spain?
    reference: Madrid
    perturbations: {count: 1, operators: [casing]}
""",
}
ANSWERS = {
    # First match wins: the injected answers come before the plain ones.
    "name the capital of france": f"<script>{MARKER}</script> Lyon.",
    "which city is the capital of france": (
        f'</script><img src=x onerror="{MARKER}"><svg onload="{MARKER}"> Paris \u2028"q"'
    ),
    "capital of france": "The capital of France is Paris.",
    "capital of italy": ["Rome.", "Milan, I think.", "Rome, of course."],
    "capital of spain": "Madrid.",
}
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
)
# Run after the page's own scripts in a copy of the page: drives the filter controls and
# records what it saw on <html> data attributes, which --dump-dom then shows.
PROBE = """<script>
(function () {
  var root = document.documentElement;
  function shown() {
    return [].filter.call(document.querySelectorAll("details.case"), function (c) {
      return !c.hidden;
    }).map(function (c) { return c.querySelector("code").textContent; }).join(",");
  }
  root.dataset.pwnedVar = String(typeof window.__pwned);
  var search = document.getElementById("case-search");
  search.value = "MILAN";
  search.dispatchEvent(new Event("input"));
  root.dataset.search = shown();
  root.dataset.count = document.getElementById("case-count").textContent;
  search.value = "";
  search.dispatchEvent(new Event("input"));
  document.getElementById("failed-only").click();
  root.dataset.failedOnly = shown();
})();
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        reason = "no chromium: install Debian's chromium package (apt-get install chromium)"
        if os.environ.get("STABTEST_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def browse(binary: str, page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


def console_lines(stderr: str) -> list[str]:
    """What the page wrote to the console (errors, CSP refusals, uncaught exceptions)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


class Dom(HTMLParser):
    """Elements of the dumped DOM: tags with attributes, and the title's text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.title = ""
        self._in_title = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title" and not self.title

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False if tag == "title" else self._in_title

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def with_class(self, name: str) -> int:
        return sum(name in (attrs.get("class") or "").split() for _, attrs in self.tags)

    def attrs_of(self, tag: str) -> dict[str, str | None]:
        return next(attrs for t, attrs in self.tags if t == tag)


def baseline_of(report: RunReport) -> BaselineComparison:
    """A comparison as the baseline feature stores it: every case against a baseline
    that was a little more stable."""
    scopes = [
        ScopeComparison(
            scope=case.uid,
            level="case",
            answers_before=case.metrics.answers,
            answers_after=case.metrics.answers,
            status="compared",
            metrics=[
                MetricChange(
                    metric="si",
                    before=max(case.metrics.si - 0.1, 0.0),
                    after=case.metrics.si,
                    delta=0.1,
                    interval=Interval(low=-0.05, high=0.25),
                    verdict="within_noise",
                    gated=False,
                )
            ],
        )
        for case in report.cases
    ]
    return BaselineComparison(
        name="main",
        baseline_run_id="20260101-000000-000000",
        baseline_finished_at=report.finished_at - 86_400,
        tolerances={"si": 0.05, "fc": 0.05},
        strict=False,
        seed=0,
        resamples=200,
        scopes=scopes,
    )


@pytest.fixture
def dashboard(
    pytester: pytest.Pytester,
    stab_project: Writer,  # noqa: F811
) -> tuple[Path, RunReport]:
    """The dashboard of a real run, with history, baseline and remediation sections."""
    stab_project(SUITES, ANSWERS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 1  # the injected answers fail their variants
    report = read_report(pytester.path / "reports" / "stabtest.json")
    assert any("<script>" in a.text for v in report.variants for a in v.answers)
    report = report.model_copy(update={"baseline": baseline_of(report)})
    latest = record_of(report, rootdir=pytester.path, label=f"<script>{MARKER}</script>")
    history = [
        latest.model_copy(update={"run_id": f"old-{n}", "time": latest.time - 86_400 * n})
        for n in (3, 2, 1)
    ] + [latest]
    side = {"cases": 1, "answers": 4, "si": 0.5, "fc": 0.5, "rdr": 0.5, "pass_rate": 0.5}
    remediation = {
        "losses": [2.0, 1.6, 1.3, 1.1],
        "treated": {"before": side, "after": {**side, "si": 0.25}},
        "control": {"before": side, "after": side},
        "missed": [],
        "accepted": True,
        "model": "models/fake-r1",
    }
    path = write_dashboard(
        pytester.path / "reports" / "stabtest.html",
        report,
        history=history,
        remediation=remediation,
    )
    return path, report


def test_the_dashboard_renders_its_plots_offline_and_runs_no_injected_script(
    dashboard: tuple[Path, RunReport], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    binary = chromium()
    page, report = dashboard
    figures = json.loads(
        page.read_text(encoding="utf-8")
        .split('<script type="application/json" id="stab-figures">', 1)[1]
        .split("</script>", 1)[0]
    )
    # `repeats`: the run's cases sample, so pass rate, pass^k and pass@k are drawn too
    expected = {"suites", "cases", "trend", "baseline", "remediation", "losses", "repeats"}
    assert set(figures) == expected

    run = browse(binary, page, tmp_path / "profile", "--dump-dom")
    dom = Dom(run.stdout)
    assert console_lines(run.stderr) == []  # no error, no CSP refusal, no exception
    # Every plot div was drawn by plotly: one plot container and its SVG layers each.
    for name in figures:
        plot = next(a for t, a in dom.tags if t == "div" and a.get("id") == f"plot-{name}")
        assert "js-plotly-plot" in (plot.get("class") or "").split(), name
    assert dom.with_class("plot-container") == len(figures)
    assert dom.with_class("main-svg") >= 2 * len(figures)
    # The injected scripts and handlers did nothing.
    assert dom.title == f"stabtest: {report.status} run {report.run_id}"
    assert "data-pwned" not in run.stdout
    assert [t for t, a in dom.tags if "onerror" in a or "onload" in a] == []

    shot = request.config.rootpath / "reports" / "dashboard-screenshot.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    browse(binary, page, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1400,2000")
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1400, 2000)
        pixels = image.convert("RGB")
        colors = pixels.getcolors(maxcolors=1_000_000) or []
        assert len(colors) > 50  # text, badges and plots, not a blank page
        # The SI bars of the metrics plots (#d62728) are on screen.
        red = sum(n for n, rgb in colors if rgb == (214, 39, 40))
        assert red > 500


def test_the_search_box_and_the_failed_toggle_filter_the_cases(
    dashboard: tuple[Path, RunReport], tmp_path: Path
) -> None:
    binary = chromium()
    page, report = dashboard
    probe = page.with_name("probe.html")
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
    )
    run = browse(binary, probe, tmp_path / "profile", "--dump-dom")
    assert console_lines(run.stderr) == []
    root = Dom(run.stdout).attrs_of("html")
    assert root["data-pwned-var"] == "undefined"  # no injected script ran
    france, italy, spain = (f"suites/capitals.yaml::capital-of-{c}" for c in CASES)
    assert root["data-search"] == italy  # only Italy has an answer saying Milan
    assert root["data-count"] == "1 of 3 cases"
    # France and Italy have failing answers (injected, Milan); Spain's are all right.
    assert {c.uid: c.passed for c in report.cases}[spain]
    assert root["data-failed-only"] == f"{france},{italy}"
