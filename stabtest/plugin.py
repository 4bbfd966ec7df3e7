"""The pytest plugin: options, collection, parametrization, fixtures, summary.

Glue only. Loaded in every pytest run of the environment, so it imports nothing heavy at
module level; the engine and reports are imported when a session actually uses them.
"""

from __future__ import annotations

import fnmatch
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stabtest.core.settings import OPTIONS

if TYPE_CHECKING:
    from stabtest.reporting.recorder import Recorder

ENGINE = pytest.StashKey["Engine"]()
RECORDER = pytest.StashKey["Recorder"]()
MARKER = "stability"
VARIANT_PARAM = "stab_variant"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from stabtest import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stabtest", "LLM stability testing (stabtest)")
    for option in OPTIONS:
        if option.flag:
            if option.default is False:
                group.addoption(
                    option.cli,
                    action="store_const",
                    const=True,
                    default=None,
                    dest=option.ini,
                    help=option.help,
                )
            else:
                group.addoption(
                    option.cli,
                    action="store",
                    default=None,
                    dest=option.ini,
                    metavar=option.metavar,
                    help=f"{option.help} (ini: {option.ini}; default: {option.default})",
                )
        parser.addini(option.ini, option.help, default=None)


def _seed(config: pytest.Config) -> int | None:
    """`--stab-seed random` is drawn once by the controller and handed to every xdist
    worker, so all workers expand the same variants under the same ids."""
    worker = getattr(config, "workerinput", None)
    if worker is not None and "stab_seed" in worker:
        return int(worker["stab_seed"])
    raw = config.getoption("stab_seed")
    if raw == "random":
        return random.SystemRandom().randrange(2**31)
    return None if raw is None else raw


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(prompt, reference=None, paraphrases=(), perturbations=None, ...): "
        "parametrize a test over the prompt's variants and check their stability "
        "(keys as in a YAML suite case)",
    )
    config.addinivalue_line("markers", "stabtest: a stability item collected by stabtest")
    from stabtest.core.errors import ConfigError
    from stabtest.core.settings import read_pyproject, resolve_settings
    from stabtest.engine import Engine

    cli = {o.name: config.getoption(o.ini) for o in OPTIONS if o.flag}
    cli["seed"] = _seed(config)
    ini = {o.name: config.getini(o.ini) for o in OPTIONS}
    try:
        settings = resolve_settings(cli, ini, read_pyproject(config.rootpath), config.rootpath)
    except ConfigError as error:
        raise pytest.UsageError(f"stabtest: {error}") from None
    engine = Engine(settings)
    engine.variant_hook = config.hook.pytest_stabtest_modify_variants  # firstresult: one tuple|None
    engine.judge_hook = config.hook.pytest_stabtest_add_judges  # a list of every impl's list
    config.stash[ENGINE] = engine
    config.pluginmanager.register(SuiteErrorGuard(), "stabtest-suite-errors")
    if not hasattr(config, "workerinput"):
        from stabtest.reporting.recorder import Recorder

        recorder = Recorder(settings)
        config.stash[RECORDER] = recorder
        config.pluginmanager.register(ReportHooks(recorder), "stabtest-report")
    from stabtest.plugin_label_studio import configure_label_studio  # gold in, push out

    configure_label_studio(config, config.stash[ENGINE], config.stash.get(RECORDER, None))


def pytest_configure_node(node: Any) -> None:
    """xdist hook (called only when xdist is active): pass the session seed to the worker."""
    node.workerinput["stab_seed"] = node.config.stash[ENGINE].settings.seed


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in {".yaml", ".yml"}:
        return None
    engine = parent.config.stash[ENGINE]
    try:
        relative = file_path.relative_to(parent.config.rootpath).as_posix()
    except ValueError:
        return None
    if any(fnmatch.fnmatch(relative, pattern) for pattern in engine.settings.suites.split()):
        from stabtest.items import SuiteFile

        return SuiteFile.from_parent(parent, path=file_path)
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None:
        return
    from stabtest.core.errors import SuiteError
    from stabtest.core.loader import build_case
    from stabtest.items import CASE_ITEM

    if marker.args:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: @pytest.mark.{MARKER} takes keyword arguments only"
        )
    raw = {"id": metafunc.function.__name__, **marker.kwargs}
    raw = {k: list(v) if isinstance(v, tuple) else v for k, v in raw.items()}
    try:
        case = build_case(raw, path=f"{metafunc.definition.nodeid} (@pytest.mark.{MARKER})")
    except SuiteError as error:
        raise pytest.UsageError(str(error)) from None
    engine = metafunc.config.stash[ENGINE]
    scope = metafunc.definition.nodeid
    variants = engine.register(scope, case)
    ids = [v.id for v in variants] + [CASE_ITEM]
    if VARIANT_PARAM not in metafunc.fixturenames:
        metafunc.fixturenames.append(VARIANT_PARAM)
    metafunc.parametrize(VARIANT_PARAM, [(scope, case.id, i) for i in ids], ids=ids)


def _marked_target(item: pytest.Item) -> tuple[str, str, str] | None:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get(VARIANT_PARAM)


@pytest.fixture
def stab_variant(request: pytest.FixtureRequest) -> tuple[str, str, str]:
    """(scope, case id, variant id) of a `stability`-marked test's current item."""
    return request.param


@pytest.fixture
def stab_result(request: pytest.FixtureRequest, stab_variant: tuple[str, str, str]) -> Any:
    """The VariantResult of this item of a `stability`-marked test (None on the
    `[stability]` item, which checks the whole case)."""
    scope, case_id, variant_id = stab_variant
    outcome = request.config.stash[ENGINE].outcome(scope, case_id)
    return outcome.variants.get(variant_id)


@pytest.fixture
def stab_case(request: pytest.FixtureRequest, stab_variant: tuple[str, str, str]) -> Any:
    """The CaseResult (SI, FC, RDR and thresholds) of a `stability`-marked test."""
    scope, case_id, _ = stab_variant
    return request.config.stash[ENGINE].outcome(scope, case_id).case


@pytest.fixture
def stab(request: pytest.FixtureRequest) -> Any:
    """Imperative API: `stab.check(prompt, ...)` / `stab.assert_stable(prompt, ...)` inside
    any test. Each call runs its own small plan: prefer suites or the marker for many cases."""
    from stabtest.api import StabChecker

    return StabChecker(request.config.stash[ENGINE], request.node)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    result = yield
    target = _marked_target(item)
    if target is not None:
        from stabtest.items import CASE_ITEM, check_case, check_variant

        scope, case_id, variant_id = target
        if variant_id == CASE_ITEM:
            check_case(item, scope, case_id)
        else:
            check_variant(item, scope, case_id, variant_id)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.excinfo is not None and isinstance(item, pytest.Function):
        from stabtest.items import render_failure

        rendered = render_failure(call.excinfo, item.config.getoption("tbstyle", "auto"))
        if rendered is not None:
            report.longrepr = rendered
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    """Keep in the plan only cases with a selected item, and fail fast (one clear error)
    when the backend cannot be resolved."""
    engine = session.config.stash[ENGINE]
    keys = set()
    for item in session.items:
        target = _marked_target(item)
        if target is not None:
            keys.add(target[:2])
        elif hasattr(item, "case") and hasattr(item, "scope"):
            keys.add((item.scope, item.case.id))
    engine.select(keys)
    if keys and not session.config.option.collectonly:
        from stabtest.core.errors import StabtestError

        try:
            engine.backend_fingerprint()
        except StabtestError as error:
            raise pytest.UsageError(f"stabtest: {error}") from None


class SuiteErrorGuard:
    """A malformed suite fails its own collection only: when every collection error of
    the session comes from a suite file, the other tests still run (an error in a Python
    test module still stops the session, as pytest always does)."""

    def __init__(self) -> None:
        self.broken: list[str] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and report.nodeid.endswith((".yaml", ".yml")):
            self.broken.append(report.nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        if session.testsfailed and session.testsfailed == len(self.broken):
            session.config.option.continue_on_collection_errors = True


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    if (
        report.when == "call"
        and report.skipped
        and "escalated to human review" in str(report.longrepr)
    ):
        return "escalated", "?", ("ESCALATED", {"yellow": True})
    return None


class ReportHooks:
    """Controller-side hooks (registered once, not in xdist workers): gather the results
    that items attached to their reports, print the table, write the JSON report."""

    def __init__(self, recorder: Recorder):
        self.recorder = recorder

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":  # the teardown report carries the same properties again
            return
        for name, value in report.user_properties:
            if name == "stabtest":
                self.recorder.add(report.nodeid, json.loads(value))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        failure = terminalreporter.config.stash[ENGINE].failure
        if not self.recorder.has_results() and failure is None:
            return
        from stabtest.reporting.terminal import render_summary

        terminalreporter.section("stabtest")
        if self.recorder.has_results():
            report = self.recorder.written or self.recorder.report()  # written: sessionfinish
            terminalreporter.write_line(render_summary(report))
        if failure is not None:
            terminalreporter.write_line(
                f"generation failed: {failure}; answers generated before it are cached, "
                "a rerun resumes from them",
                red=True,
            )
        if self.recorder.report_path is not None:
            terminalreporter.write_line(f"report: {self.recorder.report_path}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the JSON report, also for failed or interrupted runs (marked so), even
        when they produced no result yet: the report then says what went wrong."""
        engine = session.config.stash[ENGINE]
        interrupted = exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR)
        # A run that used no stability item (deselected, collect-only) keeps the last report.
        used = self.recorder.has_results() or engine.failure is not None
        if session.config.option.collectonly or not (
            used or (interrupted and any(engine.registered()))
        ):
            return
        if engine.failure is not None:
            self.recorder.extra["error"] = f"generation failed: {engine.failure}"
        path = self.recorder.write(
            status="interrupted" if interrupted else "complete", exitstatus=int(exitstatus)
        )
        report = json.loads(path.read_text(encoding="utf-8"))  # exactly what was written
        session.config.hook.pytest_stabtest_report_written(path=path, report=report)
