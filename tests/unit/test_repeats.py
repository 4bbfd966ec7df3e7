"""Repeats as figures: pass rate, pass^k and pass@k with Wilson intervals on hand-made
samples, their gate, their thresholds in a suite and in the settings, where they are
shown, and that every sample of a sampled case is an independent request."""

from __future__ import annotations

import json
from dataclasses import replace
from math import comb

import pytest

from stabtest.annotators.base import Answer
from stabtest.annotators.case_outcome import with_repeats
from stabtest.core.errors import ConfigError, SuiteError
from stabtest.core.gate import gate_case
from stabtest.core.loader import parse_suite
from stabtest.core.metrics import (
    pass_at_k,
    pass_hat_k,
    repeat_figures,
    wilson_interval,
)
from stabtest.core.plan import GenerationParams, GenerationRequest
from stabtest.core.report import RunReport
from stabtest.core.results import CaseMetrics, CaseResult, Verdict
from stabtest.core.settings import resolve_settings
from stabtest.core.suite import Case, Sampling, Thresholds
from stabtest.core.variant import Variant
from stabtest.generation.fake import FakeBackend
from stabtest.generation.openai_backend import request_seed
from stabtest.generation.sampling import row_seed
from stabtest.reporting import dashboard_figures as figures
from stabtest.reporting.dashboard import render_dashboard
from stabtest.reporting.failure import render_case
from stabtest.reporting.properties import case_properties
from stabtest.reporting.summary import summarize
from stabtest.reporting.terminal import render_summary
from stabtest.variants.registry import Registered
from tests.unit.test_dashboard import make_report


def test_wilson_interval_of_a_textbook_case() -> None:
    low, high = wilson_interval(8, 10) or (0.0, 0.0)
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(0, 5) or (1.0, 1.0)
    assert low == 0.0 and 0.0 < high < 0.5
    with pytest.raises(ValueError):
        wilson_interval(6, 5)


@pytest.mark.parametrize(("hits", "total"), [(0, 1), (1, 1), (3, 7), (8, 10), (17, 40), (99, 100)])
def test_wilson_interval_is_scipys_on_whole_counts(hits: int, total: int) -> None:
    from scipy.stats import binomtest

    expected = binomtest(hits, total).proportion_ci(0.95, method="wilson")
    assert wilson_interval(hits, total) == pytest.approx((expected.low, expected.high))


def test_pass_hat_k_and_pass_at_k_on_known_counts() -> None:
    # n = 5 samples, c = 3 pass, k = 2: C(3,2)/C(5,2) and 1 - C(2,2)/C(5,2).
    assert pass_hat_k(3, 5, 2) == pytest.approx(0.3)
    assert pass_at_k(3, 5, 2) == pytest.approx(0.9)
    # k = n: pass^n is "all n passed", pass@n "one passed".
    assert pass_hat_k(5, 5, 5) == 1.0 and pass_hat_k(4, 5, 5) == 0.0
    assert pass_at_k(1, 5, 5) == 1.0 and pass_at_k(0, 5, 5) == 0.0
    # k = 1: both are the variant's pass rate.
    assert pass_hat_k(2, 5, 1) == pytest.approx(0.4) == pass_at_k(2, 5, 1)
    with pytest.raises(ValueError):
        pass_hat_k(3, 2, 2)
    with pytest.raises(ValueError):
        pass_at_k(1, 2, 3)


@pytest.mark.parametrize(("c", "n", "k"), [(3, 5, 2), (2, 6, 3), (4, 4, 2), (0, 3, 1)])
def test_pass_hat_k_is_the_mean_over_every_k_subset(c: int, n: int, k: int) -> None:
    """Unbiased: the exact mean, over every k-subset of the n samples, of "all pass"."""
    from itertools import combinations

    outcomes = [True] * c + [False] * (n - c)
    subsets = list(combinations(outcomes, k))
    assert len(subsets) == comb(n, k)
    assert pass_hat_k(c, n, k) == pytest.approx(sum(all(s) for s in subsets) / len(subsets))
    assert pass_at_k(c, n, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))


def test_repeat_figures_average_over_variants_with_k_samples() -> None:
    figures = repeat_figures([(3, 5), (5, 5), (0, 5), (1, 1)], 2)
    assert (figures.passing, figures.judged) == (9, 16)
    assert figures.pass_rate == pytest.approx(9 / 16)
    assert figures.pass_rate_ci == pytest.approx(wilson_interval(9, 16))
    assert figures.variants_k == 3  # the variant with one judged sample has no pass^2
    assert figures.pass_hat_k == pytest.approx((0.3 + 1.0 + 0.0) / 3)
    assert figures.pass_at_k == pytest.approx((0.9 + 1.0 + 0.0) / 3)
    assert figures.pass_hat_k_ci == pytest.approx(wilson_interval(1.3, 3))


def test_with_k_equal_to_n_the_interval_is_wilson_on_the_variant_count() -> None:
    # 10 variants of 3 samples: 8 pass all three, 2 pass two.
    figures = repeat_figures([(3, 3)] * 8 + [(2, 3)] * 2, 3)
    assert figures.pass_hat_k == pytest.approx(0.8)
    assert figures.pass_hat_k_ci == pytest.approx((0.490, 0.943), abs=5e-4)
    assert figures.pass_at_k == 1.0


def test_nothing_judged_leaves_the_figures_undefined() -> None:
    figures = repeat_figures([(0, 0), (0, 0)], 3)
    assert figures.pass_rate is None and figures.pass_rate_ci is None
    assert figures.pass_hat_k is None and figures.pass_at_k is None
    assert figures.variants_k == 0


CASE = Case(id="c", prompt="Capital of France?", reference="Paris", sampling=Sampling(samples=3))


def variant(index: int) -> Variant:
    return Variant("c", index, f"Capital of France {index}?", "original" if not index else "suite")


def verdicts(outcomes: str) -> list[Verdict]:
    names = {"p": "pass", "f": "fail", "e": "escalate"}
    return [Verdict(names[o], 0.9) for o in outcomes]  # type: ignore[arg-type]


def judged_case(
    per_variant: list[str], case: Case = CASE, default_k: int | None = None
) -> CaseMetrics:
    """Metrics after `with_repeats`: per variant a string of outcomes, one per sample."""
    answers = [
        Answer(variant(v), s, "Paris.")
        for v, outcomes in enumerate(per_variant)
        for s in range(len(outcomes))
    ]
    flat = [o for outcomes in per_variant for o in outcomes]
    return with_repeats(
        CaseMetrics(0.0, 1.0, 0.5, len(flat), 1), case, default_k, answers, verdicts("".join(flat))
    )


def test_escalated_answers_are_left_out_of_the_pass_figures() -> None:
    m = judged_case(["ppp", "pfe", "eee"])
    assert (m.passing, m.judged, m.samples, m.k) == (4, 5, 3, 3)
    assert m.pass_rate == pytest.approx(4 / 5)
    assert m.variants_k == 1  # only v0 has three judged samples
    assert m.pass_hat_k == 1.0 and m.pass_at_k == 1.0


def test_k_is_the_cases_own_then_the_sessions_then_its_samples() -> None:
    assert judged_case(["ppf", "ppp"]).k == 3
    assert judged_case(["ppf", "ppp"], default_k=2).k == 2
    own = CASE.model_copy(update={"thresholds": Thresholds(pass_k=1)})
    m = judged_case(["ppf", "ppp"], own, default_k=2)
    assert m.k == 1 and m.pass_hat_k == pytest.approx(5 / 6)
    # a session k beyond the case's samples: no pass^k for that case, no error
    assert judged_case(["ppf", "ppp"], default_k=5).pass_hat_k is None


def test_a_conversation_sample_passes_when_every_turn_does() -> None:
    v0 = variant(0)
    answers = [Answer(v0, s, "Paris.") for _ in range(2) for s in range(3)]  # turn 0, turn 1
    m = with_repeats(CaseMetrics(0.0, 1.0, 0.5, 6, 1), CASE, None, answers, verdicts("ppp" + "pfe"))
    assert (m.passing, m.judged) == (1, 2)  # sample 1 failed its turn 1; sample 2 escalated


def metrics(**figures: object) -> CaseMetrics:
    return CaseMetrics(0.1, 0.9, 0.5, 9, 2, samples=3, **figures)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("m", "thresholds", "defaults", "failures"),
    [
        (metrics(pass_rate=0.6), Thresholds(), (None, None), ()),
        (
            metrics(pass_rate=0.6),
            Thresholds(min_pass_rate=0.8),
            (None, None),
            ("pass rate 0.600 < min_pass_rate 0.800",),
        ),
        (
            metrics(pass_rate=0.6),
            Thresholds(),
            (0.8, None),
            ("pass rate 0.600 < min_pass_rate 0.800",),
        ),
        (metrics(pass_rate=0.6), Thresholds(min_pass_rate=0.5), (0.8, None), ()),
        (
            metrics(k=3, pass_hat_k=0.62),
            Thresholds(min_pass_k=0.9),
            (None, None),
            ("pass^3 0.620 < min_pass_k 0.900",),
        ),
        (metrics(k=3, pass_hat_k=0.62), Thresholds(), (None, 0.5), ()),
        (metrics(k=3, pass_hat_k=None), Thresholds(min_pass_k=0.9), (None, None), ()),  # undefined
    ],
)
def test_gate_on_pass_rate_and_pass_hat_k(
    m: CaseMetrics,
    thresholds: Thresholds,
    defaults: tuple[float | None, float | None],
    failures: tuple[str, ...],
) -> None:
    gate = gate_case(m, thresholds, 0.5, 0.5, *defaults)
    assert gate.failures == failures
    assert (gate.min_pass_k is None) == (
        m.pass_hat_k is None or (thresholds.min_pass_k, defaults[1]) == (None, None)
    )


SUITE = """\
suite: s
cases:
  - id: sampled
    prompt: Capital of France?
    reference: Paris
    sampling: {temperature: 0.7, samples: 3}
    thresholds: {min_pass_rate: 0.8, pass_k: 3, min_pass_k: 0.9}
"""


def test_a_suite_states_repeat_thresholds() -> None:
    case = parse_suite(SUITE, "s.yaml").cases[0]
    assert case.thresholds == Thresholds(min_pass_rate=0.8, pass_k=3, min_pass_k=0.9)


def test_pass_k_beyond_the_samples_is_an_error_at_its_line() -> None:
    with pytest.raises(SuiteError) as error:
        parse_suite(SUITE.replace("pass_k: 3,", "pass_k: 4,"), "s.yaml")
    text = str(error.value)
    assert "s.yaml" in text and ":7" in text and "pass^4 needs at least 4 samples" in text
    assert error.value.key == "cases[0].thresholds.pass_k"


@pytest.mark.parametrize(("bad", "line"), [("min_pass_rate: 1.5", 7), ("pass_k: 0", 7)])
def test_bad_repeat_thresholds_name_file_and_line(bad: str, line: int) -> None:
    text = SUITE.replace(
        "thresholds: {min_pass_rate: 0.8, pass_k: 3, min_pass_k: 0.9}", f"thresholds: {{{bad}}}"
    )
    with pytest.raises(SuiteError) as error:
        parse_suite(text, "s.yaml")
    assert error.value.line == line and "s.yaml" in str(error.value)


def test_repeat_settings_default_off_and_parse() -> None:
    plain = resolve_settings({}, {}, {})
    assert (plain.min_pass_rate, plain.pass_k, plain.min_pass_k) == (None, None, None)
    given = resolve_settings(
        {"min_pass_rate": "0.8", "pass_k": "3"}, {"stab_min_pass_k": "0.9"}, {}
    )
    assert (given.min_pass_rate, given.pass_k) == (0.8, 3)
    given = resolve_settings({}, {"min_pass_k": "0.9"}, {"min_pass_rate": 0.7})
    assert (given.min_pass_rate, given.min_pass_k) == (0.7, 0.9)
    with pytest.raises(ConfigError):
        resolve_settings({"min_pass_rate": "2"}, {}, {})
    with pytest.raises(ConfigError):
        resolve_settings({"pass_k": "0"}, {}, {})


def test_junit_properties_show_the_repeat_figures_only_for_sampled_cases() -> None:
    m = metrics(pass_rate=0.8, pass_rate_ci=(0.49, 0.943), k=3, pass_hat_k=0.5, pass_at_k=1.0)
    result = CaseResult("s::c", "s", "c", m, 0.5, 0.5, min_pass_rate=0.9)
    props = dict(case_properties(result))
    assert props["stab_pass_rate"] == "0.800"
    assert props["stab_pass_rate_ci"] == "0.490-0.943"
    assert (props["stab_k"], props["stab_pass_hat_k"], props["stab_pass_at_k"]) == (
        "3",
        "0.500",
        "1.000",
    )
    assert props["stab_pass_hat_k_ci"] == "-" and props["stab_min_pass_rate"] == "0.900"
    single = CaseResult("s::c", "s", "c", CaseMetrics(0.1, 0.9, 0.5, 3, 2), 0.5, 0.5)
    assert not any("pass" in name for name, _ in case_properties(single) if name != "stab_passed")


def test_old_case_metrics_read_without_the_repeat_figures() -> None:
    from pydantic import TypeAdapter

    old = {"si": 0.1, "fc": None, "rdr": 0.5, "answers": 3, "clusters": 2}
    read = TypeAdapter(CaseMetrics).validate_json(json.dumps(old))
    assert read.samples == 1 and read.pass_rate is None and read.pass_hat_k_ci is None
    full = metrics(pass_rate=0.5, pass_rate_ci=(0.2, 0.8))
    again = TypeAdapter(CaseMetrics).validate_json(TypeAdapter(CaseMetrics).dump_json(full))
    assert again == full


# Independence of repeats: each sample its own cache key and its own seed.


def sampled_requests(case: Case, k: int) -> list[GenerationRequest]:
    reg = Registered(
        "s",
        case.model_copy(update={"sampling": Sampling(temperature=0.7, samples=k)}),
        (variant(0),),
    )
    return [request for _, _, request in reg.requests(seed=0)]


def test_k_samples_of_one_prompt_are_k_requests_with_k_keys_and_k_seeds() -> None:
    requests = sampled_requests(CASE, 5)
    assert [r.sample for r in requests] == [0, 1, 2, 3, 4]
    assert len({r.prompt for r in requests}) == 1
    assert len({r.key("model") for r in requests}) == 5
    assert len({row_seed(r) for r in requests}) == 5  # the hf backend's noise per row
    assert len({request_seed(r) for r in requests}) == 5  # the seed an HTTP server gets
    # the fake backend, like a model, answers each sample by its own index
    fake = FakeBackend({"Capital of France": ["Paris.", "Lyon.", "Nice."]})
    assert fake.generate(requests) == ["Paris.", "Lyon.", "Nice.", "Paris.", "Lyon."]


def test_another_run_seed_moves_every_sample() -> None:
    reg = Registered(
        "s",
        CASE.model_copy(update={"sampling": Sampling(temperature=0.7, samples=3)}),
        (variant(0),),
    )
    first = {r.key("model") for _, _, r in reg.requests(seed=0)}
    second = {r.key("model") for _, _, r in reg.requests(seed=1)}
    assert len(first) == len(second) == 3 and not first & second


def test_greedy_samples_share_one_key_deliberately() -> None:
    """A temperature-0 decode is deterministic: its samples are one answer, generated once."""
    greedy = [GenerationRequest("Q?", GenerationParams(), seed=7, sample=s) for s in range(3)]
    assert len({r.key("model") for r in greedy}) == 1


# Where the figures are shown.


def sampled_report() -> RunReport:
    """The dashboard tests' report with its `clean` case sampled three times a variant."""
    base = make_report()
    clean = base.cases[2]
    m = replace(
        clean.metrics,
        samples=3,
        passing=5,
        judged=6,
        pass_rate=5 / 6,
        pass_rate_ci=wilson_interval(5, 6),
        k=3,
        variants_k=2,
        pass_hat_k=0.5,
        pass_hat_k_ci=wilson_interval(1, 2),
        pass_at_k=1.0,
        pass_at_k_ci=wilson_interval(2, 2),
    )
    failing = replace(
        clean, metrics=m, min_pass_k=0.9, failures=("pass^3 0.500 < min_pass_k 0.900",)
    )
    cases = [*base.cases[:2], failing]
    return make_report(cases=cases, summary=summarize(cases, base.variants))


def test_the_terminal_shows_repeat_columns_only_when_a_case_samples() -> None:
    plain = render_summary(make_report())
    assert "pass^k" not in plain and "pass rate" not in plain
    out = render_summary(sampled_report())
    header = next(line for line in out.splitlines() if line.startswith("suite"))
    assert "pass rate" in header and "pass^k" in header and "pass@k" in header
    assert "0.833 [0.44, 0.97] " in out and "0.500 [0.09, 0.91] (k=3)" in out
    assert "pass rate 0.833 (mean over cases)" in out
    # the one-sample cases read "-" in the new columns
    hostile = next(line for line in out.splitlines() if " hostile " in line)
    assert hostile.count(" - ") >= 3


def test_the_failure_message_gives_the_figures_with_their_intervals() -> None:
    report = sampled_report()
    text = render_case(report.cases[2], [])
    assert "pass^3 0.500 < min_pass_k 0.900" in text
    assert "pass rate 0.833 [0.44, 0.97] (5/6 judged), pass^3 0.500 [0.09, 0.91]" in text
    assert "3 samples per variant" in text


def test_the_dashboard_draws_repeats_per_sampled_case() -> None:
    import plotly.graph_objects as go

    assert figures.repeat_rates(make_report()) is None
    text = figures.repeat_rates(sampled_report())
    assert text is not None
    data = json.loads(text)
    assert json.loads(go.Figure(data).to_json()) == data  # a valid plotly figure
    assert [t["y"] for t in data["data"]] == [[pytest.approx(5 / 6)], [0.5], [1.0]]
    assert data["data"][1]["error_y"]["arrayminus"] == [pytest.approx(0.5 - wilson_low(1, 2))]
    page = render_dashboard(sampled_report())
    assert 'data-figure="repeats"' in page
    assert "pass rate 0.833 [0.44, 0.97] (5/6 judged)" in page and "min_pass_k 0.900" in page
    assert 'data-figure="repeats"' not in render_dashboard(make_report())


def wilson_low(hits: int, total: int) -> float:
    interval = wilson_interval(hits, total)
    assert interval is not None
    return interval[0]
