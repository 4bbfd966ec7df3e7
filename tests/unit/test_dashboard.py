"""The HTML dashboard: one self-contained page, hostile model text escaped everywhere,
sections present exactly when their data is."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stabtest.core.compare import BaselineComparison, Interval, MetricChange, ScopeComparison
from stabtest.core.report import RunReport
from stabtest.core.results import (
    AnswerResult,
    CaseMetrics,
    CaseResult,
    GenerationStats,
    VariantResult,
    Verdict,
    Vote,
)
from stabtest.reporting.dashboard import render_dashboard, script_json, write_dashboard
from stabtest.reporting.history import Figures, HistoryRecord
from stabtest.reporting.summary import by_suite, summarize

SCRIPT = "<script>window.__pwned=1</script>"
BREAKOUT = '</script><img src=x onerror="window.__pwned=2">'
QUOTES = "\"double\" 'single' `back` &amp; \u2028line\u2029para"
HOSTILE = (SCRIPT, BREAKOUT, QUOTES)
SUITE = "suites/geo.yaml"


class Page(HTMLParser):
    """The elements of a page as a browser's tokenizer sees them (script bodies are raw
    text, so nothing inside a script counts as an element)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)

    def ids(self) -> set[str]:
        return {str(attrs["id"]) for _, attrs in self.tags if attrs.get("id")}

    def figures(self) -> dict[str, Any]:
        (body,) = [
            s
            for (tag, a), s in zip(self.script_tags(), self.scripts, strict=True)
            if a.get("id") == "stab-figures"
        ]
        figures: dict[str, Any] = json.loads(body)
        return figures

    def script_tags(self) -> list[tuple[str, dict[str, str | None]]]:
        return [(tag, attrs) for tag, attrs in self.tags if tag == "script"]


def vote(judge: str, outcome: str, reason: str, confidence: float = 0.9) -> Vote:
    return Vote(judge, outcome, confidence, None, reason)  # type: ignore[arg-type]


def variant(case: str, vid: str, prompt: str, answers: list[tuple[str, Verdict]]) -> VariantResult:
    return VariantResult(
        uid=f"{SUITE}::{case}[{vid}]",
        suite=SUITE,
        case_id=case,
        variant_id=vid,
        family="rule" if vid != "v0" else "original",
        prompt=prompt,
        operators=("casing",) if vid != "v0" else (),
        reference="Paris",
        answers=tuple(
            AnswerResult(n, text, n, verdict, verdict.outcome == "pass")
            for n, (text, verdict) in enumerate(answers)
        ),
    )


PASS = Verdict("pass", 0.95, (vote("reference", "pass", "contains the reference 'Paris'"),))
FAIL = Verdict(
    "fail",
    0.9,
    (
        vote("reference", "fail", f"answers {BREAKOUT}, not 'Paris'"),
        vote("semantic", "fail", "agrees with 0% of the other answers"),
    ),
    "hallucination",
)
ESCALATE = Verdict("escalate", 0.4, (vote("semantic", "abstain", "unsure", 0.4),))
HUMAN = Verdict("fail", 1.0, FAIL.votes, "hallucination", "", "human", "pass")


def make_report(**extra: Any) -> RunReport:
    """Three cases: `hostile` fails with hostile answers, `mixed` passes its gate with one
    failing and one escalated variant, `clean` passes."""
    variants = [
        variant("hostile", "v0", f"What is the capital of France? {SCRIPT}", [(SCRIPT, FAIL)]),
        variant("hostile", "v1", QUOTES, [(BREAKOUT, HUMAN), (QUOTES, FAIL)]),
        variant("mixed", "v0", "Capital of France?", [("Paris.", PASS)]),
        variant("mixed", "v1", "capital of france?", [("Lyon.", FAIL)]),
        variant("mixed", "v2", "CAPITAL OF FRANCE?", [("Hmm.", ESCALATE)]),
        variant("clean", "v0", "France's capital?", [("Paris.", PASS), ("Paris!", PASS)]),
    ]
    cases = [
        CaseResult(
            f"{SUITE}::hostile",
            SUITE,
            "hostile",
            CaseMetrics(1.0, 0.0, 1.0, 3, 3),
            0.5,
            0.5,
            ("SI 1.000 > max_si 0.500", f"FC 0.000 < min_fc 0.500 {SCRIPT}"),
        ),
        CaseResult(
            f"{SUITE}::mixed", SUITE, "mixed", CaseMetrics(0.4, 0.67, 0.5, 3, 2), 0.5, 0.5, (), 1
        ),
        CaseResult(f"{SUITE}::clean", SUITE, "clean", CaseMetrics(0.0, 1.0, 0.5, 2, 1), 0.5, 0.5),
    ]
    fields: dict[str, Any] = {
        "run_id": "20260101-000000-abcdef",
        "status": "complete",
        "exitstatus": 1,
        "started_at": 1_767_225_600.0,
        "finished_at": 1_767_225_660.0,
        "settings": {"backend": "fake", "model": f"model-{SCRIPT}", "seed": 7},
        "summary": summarize(cases, variants),
        "generation": GenerationStats(6, 2, 4, 1.5, 0.2),
        "suites": by_suite(cases, variants),
        "cases": cases,
        "variants": variants,
    }
    return RunReport(**{**fields, **extra})


def change(metric: str, before: float, after: float, low: float, high: float) -> MetricChange:
    delta = after - before
    verdict = "within_noise" if low <= 0 <= high else ("worse" if delta > 0 else "better")
    return MetricChange(
        metric=metric,  # type: ignore[arg-type]
        before=before,
        after=after,
        delta=delta,
        interval=Interval(low=low, high=high),
        verdict=verdict,  # type: ignore[arg-type]
        gated=verdict == "worse",
    )


BASELINE = BaselineComparison(
    name=f"main{SCRIPT}",
    baseline_run_id="20251231-000000-000000",
    baseline_finished_at=1_767_139_200.0,
    tolerances={"si": 0.05, "fc": 0.05},
    strict=False,
    seed=0,
    resamples=1000,
    scopes=[
        ScopeComparison(
            scope="run",
            level="run",
            answers_before=8,
            answers_after=8,
            status="compared",
            metrics=[change("si", 0.2, 0.5, 0.1, 0.45)],
        ),
        ScopeComparison(
            scope=f"{SUITE}::hostile",
            level="case",
            answers_before=3,
            answers_after=3,
            status="compared",
            metrics=[change("si", 0.2, 1.0, 0.5, 0.9), change("fc", 0.5, 0.0, -0.7, -0.2)],
        ),
        ScopeComparison(
            scope=f"{SUITE}::clean",
            level="case",
            answers_before=2,
            answers_after=2,
            status="compared",
            metrics=[change("si", 0.1, 0.0, -0.3, 0.1)],
        ),
        ScopeComparison(
            scope=f"{SUITE}::gone",
            level="case",
            answers_before=2,
            answers_after=0,
            status="removed",
            metrics=[],
        ),
    ],
)


def history() -> list[HistoryRecord]:
    return [
        HistoryRecord(
            run_id=f"run-{n}",
            time=1_767_225_600.0 - 86_400 * n,
            status="complete",
            label=f"nightly {SCRIPT}" if n == 0 else None,
            model="smollm2",
            run=Figures(si=0.1 * n, fc=1 - 0.1 * n, rdr=0.3, ap=None, cases=3),
            suites={SUITE: Figures(si=0.2 * n)},
        )
        for n in (2, 0, 1)  # not in time order
    ]


REMEDIATION: dict[str, Any] = {
    "round": 1,
    "method": "sft",
    "examples": 12,
    "steps": 3,
    "losses": [2.0, 1.5, 1.25],
    "treated": {
        "before": {"cases": 1, "answers": 4, "si": 0.5, "fc": 0.25, "rdr": 0.5, "pass_rate": 0.2},
        "after": {"cases": 1, "answers": 4, "si": 0.25, "fc": 0.75, "rdr": 0.5, "pass_rate": 0.6},
    },
    "control": {
        "before": {"cases": 2, "answers": 6, "si": 0.0, "fc": 1.0},
        "after": {"cases": 2, "answers": 6, "si": 0.0, "fc": 1.0},
    },
    "missed": [f"control FC dropped {SCRIPT}"],
    "accepted": False,
    "model": "models/smollm2-r1-abcdef12",
    "per_case": [
        {"case": f"{SUITE}::hostile", "trained": True, "before": {"si": 0.5}, "after": {"si": 0.25}}
    ],
}


def full_page() -> str:
    return render_dashboard(
        make_report(baseline=BASELINE, problems={"suites/broken.yaml": f"bad key {SCRIPT}"}),
        history=history(),
        remediation=REMEDIATION,
    )


# -- one self-contained file -----------------------------------------------------------------


def test_the_page_inlines_plotly_once_and_loads_nothing_from_anywhere() -> None:
    from plotly.offline import get_plotlyjs

    page = full_page()
    parsed = Page(page)
    assert page.count(get_plotlyjs()[:2000]) == 1  # once, not once per figure
    assert len(parsed.figures()) == 6  # ... for six figures
    # Three scripts: figures (data), plotly.js, the page's own; none loaded from a URL.
    assert [a.get("type") for _, a in parsed.script_tags()] == ["application/json", None, None]
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "action", "data", "poster"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//")), (tag, name, value)
            assert tag != "a" or name != "href" or value.startswith("#")
        assert tag not in ("link", "iframe", "img", "object", "embed"), tag
    csp = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv")]
    assert "default-src 'none'" in str(csp[0]["content"])  # the browser refuses any fetch


def test_write_dashboard_replaces_the_file_atomically(tmp_path: Path) -> None:
    target = tmp_path / "out" / "stabtest.html"
    target.parent.mkdir()
    target.write_text("old page")
    report = make_report()
    assert write_dashboard(target, report) == target
    assert target.read_text(encoding="utf-8") == render_dashboard(report)
    assert sorted(p.name for p in target.parent.iterdir()) == ["stabtest.html"]
    lone = make_report(variants=[variant("clean", "v0", "Q?", [("bad \ud800 text", PASS)])])
    write_dashboard(target, lone)  # a report read from JSON may hold a lone surrogate
    assert "bad ? text" in target.read_text(encoding="utf-8")


def test_importing_the_dashboard_imports_neither_plotly_nor_jinja() -> None:
    probe = (
        "import sys, stabtest.reporting.dashboard; "
        "print(sorted(m for m in ('plotly', 'jinja2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- hostile text ----------------------------------------------------------------------------


def test_hostile_answers_prompts_and_names_are_text_never_markup() -> None:
    page = full_page()
    parsed = Page(page)
    assert len(parsed.script_tags()) == 3  # no injected script element
    assert not any(tag == "img" for tag, _ in parsed.tags)
    handlers = [(t, k) for t, a in parsed.tags for k in a if k.startswith("on")]
    assert handlers == []
    data, *code = parsed.scripts  # the figures' JSON, then plotly.js and the page's code
    assert "window.__pwned" not in "".join(code)
    assert "<" not in data and "\u2028" not in data  # names in plots: escaped JSON strings
    assert "<script>window" not in page and "<img" not in page
    text = "".join(parsed.text)
    for hostile in HOSTILE:  # shown as written: answers, prompts and reasons
        assert hostile in text
    assert text.count(SCRIPT) >= 8  # answer, prompt, failure, problem, model, label, baseline...


def test_the_figures_json_survives_any_text_in_a_name() -> None:
    names = [SCRIPT, BREAKOUT, "a\u2028b\u2029c", "<!--", "]]>"]
    cases = [
        CaseResult(f"{n}::c{k}", n, f"c{k}", CaseMetrics(0.1, 0.2, 0.3, 2, 1), 0.5, 0.5)
        for k, n in enumerate(names)
    ]
    report = make_report(cases=cases, variants=[], suites=by_suite(cases, []))
    figures = Page(render_dashboard(report)).figures()
    ticks = figures["cases"]["data"][0]["x"]
    assert ticks == [f"c{k}" for k in range(len(names))]  # unique ids: the short name
    hover = figures["cases"]["data"][0]["customdata"]
    assert hover[0].startswith("&lt;script&gt;")  # escaped for plotly's label markup
    assert set(figures["suites"]["data"][0]["x"]) == {
        n.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for n in names
    }


@given(st.text())
def test_script_json_keeps_the_value_and_cannot_end_a_script(value: str) -> None:
    encoded = script_json(json.dumps({"k": value, "l": [value]}, ensure_ascii=False))
    assert json.loads(encoded) == {"k": value, "l": [value]}
    assert not set(encoded) & {"<", ">", "&", "\u2028", "\u2029"}


# -- sections follow the data ----------------------------------------------------------------


def test_a_plain_run_has_no_history_baseline_or_remediation_section() -> None:
    parsed = Page(render_dashboard(make_report()))
    assert {"history", "baseline", "remediation", "problems", "run-error"}.isdisjoint(parsed.ids())
    assert {"summary", "metrics", "cases", "plot-suites", "plot-cases"} <= parsed.ids()
    assert set(parsed.figures()) == {"suites", "cases"}


def test_history_baseline_and_remediation_add_their_sections_and_plots() -> None:
    parsed = Page(full_page())
    assert {"history", "baseline", "remediation", "problems"} <= parsed.ids()
    expected = {"plot-trend", "plot-baseline", "plot-remediation", "plot-losses"}
    expected |= {"baseline-regressions", "baseline-table", "history-table"}
    assert expected <= parsed.ids()
    assert set(parsed.figures()) == {
        "suites",
        "cases",
        "trend",
        "baseline",
        "remediation",
        "losses",
    }
    text = " ".join(" ".join(parsed.text).split())
    assert "2 regression(s)" in text  # the run's SI and the hostile case
    assert "rejected" in text and "control FC dropped" in text


def test_the_trend_plots_the_history_in_time_order() -> None:
    trend = Page(full_page()).figures()["trend"]
    si = next(t for t in trend["data"] if t["name"] == "SI")
    assert si["y"] == [0.2, 0.1, 0.0]  # runs 2, 1, 0: oldest first
    assert si["x"] == sorted(si["x"])
    suite = next(t for t in trend["data"] if t["name"] == f"SI {SUITE}")
    assert suite["visible"] == "legendonly" and suite["y"] == [0.4, 0.2, 0.0]


def test_baseline_error_bars_are_each_deltas_interval() -> None:
    baseline = Page(full_page()).figures()["baseline"]
    si = next(t for t in baseline["data"] if t["name"].startswith("Δ SI"))
    assert si["x"] == ["hostile", "clean"]  # cases only, compared only, by case id
    assert si["customdata"][0].startswith(f"{SUITE}::hostile<br>worse (gated)")
    assert [round(y, 9) for y in si["y"]] == [0.8, -0.1]
    ups, downs = si["error_y"]["array"], si["error_y"]["arrayminus"]
    assert [round(u, 9) for u in ups] == [0.1, 0.2]  # high - delta
    assert [round(d, 9) for d in downs] == [0.3, 0.2]  # delta - low
    assert si["marker"]["color"] == ["#d62728", "#7f7f7f"]  # worse, within noise


def test_remediation_bars_loss_curve_and_a_malformed_file_still_render() -> None:
    figures = Page(full_page()).figures()
    treated_before, treated_after = figures["remediation"]["data"][:2]
    assert treated_before["y"][:2] == [0.5, 0.25] and treated_after["y"][:2] == [0.25, 0.75]
    assert figures["losses"]["data"][0]["y"] == [2.0, 1.5, 1.25]
    broken = {"treated": "nope", "losses": ["x", None], "per_case": [1, {"case": 2}]}
    parsed = Page(render_dashboard(make_report(), remediation=broken))
    assert "remediation" in parsed.ids() and "plot-losses" not in parsed.ids()


def side(cases: int, si: float, fc: float) -> dict[str, Any]:
    return {"cases": cases, "answers": 4 * cases, "si": si, "fc": fc, "rdr": 0.5, "pass_rate": fc}


def trial(lr: float, step: int, objective: float, chosen: bool) -> dict[str, Any]:
    return {
        **{"learning_rate": lr, "retain_weight": 0.5, "lora_r": 8, "epochs": 2.0},
        **{"step": step, "objective": objective, "admissible": True, "chosen": chosen},
        **{"si_before": 0.5, "si_after": 0.2, "fc_before": 0.4, "fc_after": 0.7, "kept": 1.0},
        "prompts": 6,
    }


SI_LINE = "held-out SI 0.500 -> 0.250 (drop 50%), 95% CI [0.100, 0.450]"
FC_LINE = "control FC 1.000 -> 0.900 (change -0.100), 95% CI [-0.250, 0.000]"
REMEDIATION_V2: dict[str, Any] = {
    **{k: v for k, v in REMEDIATION.items() if k not in ("missed", "per_case")},
    "schema_version": 2,
    "status": "rejected",
    "steps": 6,
    "chosen_step": 4,
    "criteria": [
        {
            "name": "held-out SI",
            "statistic": "relative drop",
            "estimate": 0.5,
            "interval": {"low": 0.1, "high": 0.45},
            "threshold": 0.4,
            "passed": True,
            "line": SI_LINE,
            "advice": "",
        },
        {
            "name": "control FC",
            "statistic": "change",
            "estimate": -0.1,
            "interval": {"low": -0.25, "high": 0.0},
            "threshold": -0.02,
            "passed": False,
            "line": FC_LINE,
            "advice": f"train fewer steps or raise --retain-weight {SCRIPT}",
        },
        {"name": ["not", "text"], "estimate": "high", "interval": None, "passed": "yes"},
    ],
    "missed": [FC_LINE],
    "advice": [f"train fewer steps or raise --retain-weight {SCRIPT}", "add control cases"],
    "roles": {"treated": 3, "retain": 2, "control": 4, "validation_prompts": 7},
    "example_families": {"correction": 9, "retain": 3},
    "search": {
        "budget_minutes": 30.0,
        "seconds": 95.5,
        "configs_tried": 2,
        "stopped_by_budget": False,
        "interrupted": False,
        "trials": [
            trial(1e-4, 2, 0.3, False),
            trial(1e-4, 4, 0.6, True),
            trial(3e-4, 6, 0.1, False),
        ],
    },
    "per_suite": [
        {
            "suite": SUITE,
            "role": "treated",
            "before": side(3, 0.5, 0.4),
            "after": side(3, 0.25, 0.7),
        },
        {"suite": "suites/math.yaml", "role": "control", "before": side(4, 0.0, 1.0), "after": "x"},
    ],
    "per_case": [
        {
            "case": f"{SUITE}::hostile",
            "suite": SUITE,
            "role": "retain",
            "trained": True,
            "before": {"si": 0.5},
            "after": {"si": 0.25},
        }
    ],
    "rounds": [
        {"round": 1, "accepted": True, "model": "models/smollm2-r1-aaaa", "examples": 8},
        {"round": 2, "accepted": False, "model": "models/smollm2-r2-abcdef12", "missed": [FC_LINE]},
    ],
    "accepted_model": "models/smollm2-r1-aaaa",
}


def table_text(page: str, table_id: str) -> list[str]:
    """The rows of one table as whitespace-normalised text."""
    start = page.index(f'id="{table_id}"')
    body = page[start : page.index("</table>", start)]
    return [" ".join(" ".join(Page(row).text).split()) for row in body.split("<tr>")[2:]]


def test_a_v2_remediation_shows_status_criteria_advice_search_suites_and_rounds() -> None:
    page = render_dashboard(make_report(), remediation=REMEDIATION_V2)
    parsed = Page(page)
    text = " ".join(" ".join(parsed.text).split())
    assert '<span class="badge rejected">rejected</span>' in page
    assert "model to ship (the last accepted round) models/smollm2-r1-aaaa" in text
    criteria = table_text(page, "remediation-criteria")
    assert criteria[0] == f"held-out SI relative drop 0.500 [0.100, 0.450] 0.400 pass {SI_LINE}"
    assert criteria[1] == (
        f"control FC change -0.100 [-0.250, 0.000] -0.020 miss {FC_LINE} "
        f"to do: train fewer steps or raise --retain-weight {SCRIPT}"
    )
    assert criteria[2] == ""  # mistyped: blank, not "['not', 'text']" or "high"
    assert "to do: add control cases" in text  # advice no criterion carries
    assert "gate missed:" not in text  # its one line is in the criteria table already
    assert "treated cases 3 · retain cases 2 · control cases 4 · validation wordings 7" in text
    assert "chosen on the validation wordings: lr 0.0001, retain weight 0.5, LoRA r 8, " in text
    assert "2 epoch(s), step 4 of 6" in text and "configurations tried 2" in text
    trials = table_text(page, "remediation-trials")
    assert trials[1] == "0.0001 0.5 8 2 4 0.600 0.500 → 0.200 0.400 → 0.700 1.000 yes chosen"
    suites = table_text(page, "remediation-suites")
    assert suites == [
        f"{SUITE} treated 3 0.500 → 0.250 0.400 → 0.700 0.500 → 0.500 0.400 → 0.700",
        "suites/math.yaml control 4 0.000 → 1.000 → 0.500 → 1.000 →",
    ]
    assert f"{SUITE}::hostile retain yes 0.500 → 0.250" in text  # per case, with its role
    rounds = table_text(page, "remediation-rounds")
    assert rounds[0].startswith("1 accepted models/smollm2-r1-aaaa 8")
    assert rounds[1] == f"2 rejected models/smollm2-r2-abcdef12 {FC_LINE}"
    assert len(parsed.script_tags()) == 3 and SCRIPT in text  # advice is text, not markup
    assert "plot-remediation" in parsed.ids()


def test_a_v1_remediation_renders_without_the_v2_parts() -> None:
    parsed = Page(full_page())
    text = " ".join(" ".join(parsed.text).split())
    assert "gate missed: control FC dropped" in text and "rejected" in text
    assert "training seconds" not in text and "round seconds" not in text
    assert {"remediation-criteria", "remediation-trials", "remediation-suites"}.isdisjoint(
        parsed.ids()
    )
    assert "remediation-rounds" not in parsed.ids() and "role" not in text
    assert f"{SUITE}::hostile yes 0.500 → 0.250" in text  # no role column


def test_a_report_with_problems_escalations_and_human_labels_renders() -> None:
    report = make_report(
        status="incomplete",
        error="generation failed: out of memory",
        problems={"suites/broken.yaml": "line 3: unknown key 'promt'"},
    )
    parsed = Page(render_dashboard(report))
    text = " ".join(" ".join(parsed.text).split())
    assert "generation failed: out of memory" in text
    assert "suites/broken.yaml : line 3: unknown key 'promt'" in text
    assert "escalated to humans 1" in text
    assert "human label: fail automatic: pass" in text
    details = {a["id"]: a for t, a in parsed.tags if t == "details" and a.get("data-status")}
    statuses = [(a["data-status"], a["data-attention"]) for a in details.values()]
    # hostile failed; mixed passed its gate with a failed and an escalated variant; clean
    assert statuses == [("fail", "1"), ("escalate", "1"), ("pass", "0")]


def test_an_interrupted_run_without_results_renders_its_problems() -> None:
    report = make_report(
        status="interrupted",
        cases=[],
        variants=[variant("orphan", "v0", "Q?", [("A.", PASS)])],
        suites={},
        problems={"suites/x.yaml::slow": "prompt beyond the context"},
    )
    parsed = Page(render_dashboard(report))
    assert "plot-cases" not in parsed.ids() and "plot-suites" not in parsed.ids()
    text = " ".join(" ".join(parsed.text).split())
    assert "No case was judged in this run." in text
    assert "no case result: the run did not judge this case" in text  # the orphan variant


# -- stabtest report --html ------------------------------------------------------------------


def test_stabtest_report_html_rebuilds_the_dashboard_from_saved_files(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    from stabtest.cli import main
    from stabtest.core.report import write_report
    from stabtest.reporting.history import append_history, record_of

    monkeypatch.chdir(tmp_path)
    report = make_report()
    saved = tmp_path / "artifacts" / "stabtest.json"
    write_report(saved, report)
    (saved.parent / "remediation.json").write_text(json.dumps(REMEDIATION))
    append_history(tmp_path / ".stabtest" / "history.jsonl", record_of(report, rootdir=tmp_path))

    assert main(["report", str(saved), "--html"]) == 0
    page = saved.with_name("stabtest.html")
    assert f"dashboard: {page}" in capsys.readouterr().out
    parsed = Page(page.read_text(encoding="utf-8"))
    assert {"history", "remediation", "plot-trend", "plot-losses"} <= parsed.ids()

    (saved.parent / "remediation.json").write_text("{not json")
    out = tmp_path / "elsewhere" / "dash.html"
    assert main(["report", str(saved), "--html", str(out)]) == 0
    assert "remediation.json: not shown (JSONDecodeError" in capsys.readouterr().err
    assert "remediation" not in Page(out.read_text(encoding="utf-8")).ids()


def test_many_cases_open_on_a_window_with_a_range_slider() -> None:
    from stabtest.reporting.dashboard_figures import WINDOW

    def cases(count: int) -> list[CaseResult]:
        metrics = CaseMetrics(0.1, 0.9, 0.2, 2, 1)
        return [
            CaseResult(f"{SUITE}::c{k}", SUITE, f"c{k}", metrics, 0.5, 0.5) for k in range(count)
        ]

    few = Page(render_dashboard(make_report(cases=cases(WINDOW)))).figures()["cases"]
    assert "rangeslider" not in few["layout"]["xaxis"] and len(few["data"][0]["x"]) == WINDOW
    many = Page(render_dashboard(make_report(cases=cases(WINDOW + 1)))).figures()["cases"]
    assert len(many["data"][0]["x"]) == WINDOW + 1  # every case is in the plot...
    assert many["layout"]["xaxis"]["range"] == [-0.5, WINDOW - 0.5]  # ... WINDOW at a time
    assert many["layout"]["xaxis"]["rangeslider"]["visible"] is True


def test_a_conversation_shows_every_turn_and_its_drift() -> None:
    from dataclasses import replace

    drift = Verdict(
        "fail", 0.9, (), "session_drift", 'turn 2 answered "Lyon." but turn 1 answered "Paris."'
    )
    talk = variant("talk", "v0", "What is the capital of France?", [])
    talk = replace(
        talk,
        turns=("What is the capital of France?", f"Remind me? {SCRIPT}"),
        answers=(
            AnswerResult(0, "Paris.", 0, PASS, True, turn=0),
            AnswerResult(0, "Lyon.", 1, drift, False, turn=1),
        ),
    )
    page = render_dashboard(make_report(variants=[talk]))
    assert '<ol class="turns">' in page
    assert "Remind me? &lt;script&gt;" in page and f"Remind me? {SCRIPT}" not in page
    assert "turn 1 · sample 0" in page and "turn 2 · sample 0" in page
    assert "turn 2 answered &#34;Lyon.&#34; but turn 1 answered &#34;Paris.&#34;" in page
