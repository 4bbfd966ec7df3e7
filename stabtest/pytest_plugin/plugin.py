"""The pytest plugin (entry point `pytest11`): options, configuration, collection,
parametrization, and the hooks around each stability item.

Glue only, loaded in every pytest run of the environment: at module level it imports
pytest, the settings declaration and the stash keys, nothing heavier; the session,
items and reports are imported when a run actually uses them.
"""

from __future__ import annotations

import fnmatch
import random
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stabtest.core.settings import OPTIONS
from stabtest.pytest_plugin.fixtures import stab, stab_case, stab_result, stab_variant
from stabtest.pytest_plugin.keys import (
    MARKER,
    OUTCOME_PROPERTY,
    RECORDER,
    SESSION,
    SUITE_SUFFIXES,
    VARIANT_PARAM,
    WHOLE_CASE,
    Target,
    is_failed_suite,
)

if TYPE_CHECKING:
    from stabtest.annotators.base import Judge
    from stabtest.core.ids import CollectMode
    from stabtest.core.settings import Settings
    from stabtest.session import Session

__all__ = ["stab", "stab_case", "stab_result", "stab_variant"]  # fixtures, found by pytest


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from stabtest.pytest_plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Every setting's flag (`core.flags`, shared with the `stabtest` command) and ini key,
    generated from the one declaration in Settings."""
    from stabtest.core.flags import setting_flags

    group = parser.getgroup("stabtest", "LLM stability testing (stabtest)")
    for names, kwargs in setting_flags():
        group.addoption(*names, **kwargs)
    for option in OPTIONS:
        if option.repeat:
            parser.addini(option.ini, option.help, type="linelist", default=[])
        else:
            parser.addini(option.ini, option.help, default=None)


def _seed(config: pytest.Config) -> int | str | None:
    """`--stab-seed random` is drawn once by the controller and handed to every xdist
    worker, so all workers expand the same variants under the same ids."""
    worker = getattr(config, "workerinput", None)
    if worker is not None and "stab_seed" in worker:
        return int(worker["stab_seed"])
    raw = config.getoption("stab_seed")
    if raw == "random":
        return random.SystemRandom().randrange(2**31)
    return None if raw is None else str(raw)


def _settings(config: pytest.Config) -> Settings:
    from stabtest.core.errors import ConfigError
    from stabtest.core.settings import read_pyproject, resolve_settings

    cli = {o.name: config.getoption(o.ini) for o in OPTIONS if o.flag}
    cli["seed"] = _seed(config)
    ini = {o.name: config.getini(o.ini) for o in OPTIONS}
    try:
        return resolve_settings(cli, ini, read_pyproject(config.rootpath), config.rootpath)
    except ConfigError as error:
        raise pytest.UsageError(f"stabtest: {error}") from None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(prompt, reference=None, paraphrases=(), perturbations=None, ...): "
        "parametrize a test over the prompt's variants and check their stability "
        "(keys as in a YAML suite case; collect='per-case': one [stability] item)",
    )
    config.addinivalue_line("markers", "stabtest: a stability item collected by stabtest")
    from stabtest.session import Session

    settings = _settings(config)
    hook = config.hook

    def extra_judges(settings: Settings) -> list[Judge]:
        found = hook.pytest_stabtest_add_judges(settings=settings) or []
        return [judge for judges in found for judge in judges or []]

    from stabtest.pytest_plugin.progress import TerminalProgress

    progress = TerminalProgress.configure(config, settings.progress)
    session = Session(
        settings,
        modify_variants=hook.pytest_stabtest_modify_variants,  # firstresult: one tuple|None
        extra_judges=extra_judges,
        progress=progress,
    )
    config.stash[SESSION] = session
    config.pluginmanager.register(SuiteErrorGuard(), "stabtest-suite-errors")
    if not hasattr(config, "workerinput"):
        from stabtest.pytest_plugin.report_hooks import ReportHooks
        from stabtest.reporting.recorder import Recorder

        recorder = Recorder(settings)
        config.stash[RECORDER] = recorder
        config.pluginmanager.register(ReportHooks(recorder), "stabtest-report")
        if config.getoption("xmlpath", None):
            from stabtest.pytest_plugin.ci import JunitCompact

            config.pluginmanager.register(JunitCompact(), "stabtest-junit")
    from stabtest.pytest_plugin.label_studio import configure_label_studio  # gold in

    start = configure_label_studio(config, session, controller=RECORDER in config.stash)
    report_hooks = config.pluginmanager.get_plugin("stabtest-report")
    if report_hooks is not None:
        report_hooks.label_studio = start


def pytest_configure_node(node: Any) -> None:
    """xdist hook (called only when xdist is active): pass the session seed to the worker."""
    node.workerinput["stab_seed"] = node.config.stash[SESSION].settings.seed


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in SUITE_SUFFIXES:
        return None
    session = parent.config.stash[SESSION]
    try:
        relative = file_path.relative_to(parent.config.rootpath).as_posix()
    except ValueError:
        return None
    if any(fnmatch.fnmatch(relative, pattern) for pattern in session.settings.suites.split()):
        from stabtest.pytest_plugin.items import SuiteFile

        suite_file: pytest.Collector = SuiteFile.from_parent(parent, path=file_path)
        return suite_file
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None:
        return
    from stabtest.core.errors import SuiteError
    from stabtest.core.ids import CASE_ITEM, PER_CASE
    from stabtest.core.loader import build_case
    from stabtest.variants.perturb import OPERATORS

    if marker.args:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: @pytest.mark.{MARKER} takes keyword arguments only"
        )
    raw = {"id": metafunc.function.__name__, **marker.kwargs}
    raw = {k: list(v) if isinstance(v, tuple) else v for k, v in raw.items()}
    where = f"{metafunc.definition.nodeid} (@pytest.mark.{MARKER})"
    session = metafunc.config.stash[SESSION]
    try:
        whole = _marker_collect(raw.pop("collect", None), where, session.settings) == PER_CASE
        case = build_case(raw, path=where, operators=OPERATORS)
    except SuiteError as error:
        raise pytest.UsageError(str(error)) from None
    scope = metafunc.definition.nodeid
    variants = session.register(scope, case)
    ids = [CASE_ITEM] if whole else [v.id for v in variants] + [CASE_ITEM]
    slots = [WHOLE_CASE] if whole else ids
    if VARIANT_PARAM not in metafunc.fixturenames:
        metafunc.fixturenames.append(VARIANT_PARAM)
    metafunc.parametrize(VARIANT_PARAM, [(scope, case.id, i) for i in slots], ids=ids)


def _marker_collect(value: object, where: str, settings: Settings) -> CollectMode:
    """The marker's `collect=` (as a suite's `collect` key), else the `collect` setting."""
    from stabtest.core.errors import SuiteError
    from stabtest.core.ids import collect_mode

    if value is None:
        return settings.collect
    try:
        return collect_mode(value)
    except ValueError as error:
        raise SuiteError(where, str(error), key="collect") from None


def _marked_target(item: pytest.Item) -> Target | None:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get(VARIANT_PARAM)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    result = yield
    target = _marked_target(item)
    if target is not None:
        from stabtest.core.ids import CASE_ITEM
        from stabtest.pytest_plugin.items import check_case, check_variant, check_whole_case

        scope, case_id, variant_id = target
        if variant_id == CASE_ITEM:
            check_case(item, scope, case_id)
        elif variant_id == WHOLE_CASE:
            check_whole_case(item, scope, case_id)
        else:
            check_variant(item, scope, case_id, variant_id)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.excinfo is not None and isinstance(item, pytest.Function):
        from stabtest.pytest_plugin.items import render_failure

        rendered = render_failure(call.excinfo, item.config.getoption("tbstyle", "auto"))
        if rendered is not None:
            report.longrepr = rendered
    if call.when == "call" and item.config.getoption("htmlpath", None):
        from stabtest.pytest_plugin.ci import attach_html

        attach_html(item, report)  # pytest-html: prompt, answers and votes in the row
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    """Keep in the plan only cases with a selected item, and fail fast (one clear error)
    when the backend cannot be resolved."""
    stab = session.config.stash[SESSION]
    keys = set()
    for item in session.items:
        target = _marked_target(item)
        if target is not None:
            keys.add((target[0], target[1]))
        else:
            case, scope = getattr(item, "case", None), getattr(item, "scope", None)
            if case is not None and scope is not None:
                keys.add((scope, case.id))
    stab.registry.select(keys)
    if keys and not session.config.option.collectonly:
        from stabtest.core.errors import StabtestError

        try:
            stab.fingerprint()
        except StabtestError as error:
            raise pytest.UsageError(f"stabtest: {error}") from None
    if stab.settings.write_plan:
        _write_plan(session, stab, Path(stab.settings.rootdir, stab.settings.write_plan))


def _write_plan(session: pytest.Session, stab: Session, path: Path) -> None:
    """`--stab-write-plan FILE`: the selected cases' plan, for `stabtest execute`; none
    when collection failed (a plan missing a suite would look complete)."""
    from stabtest.core.errors import StabtestError
    from stabtest.scale.planner import write_session_plan

    if session.testsfailed:
        raise pytest.UsageError(f"stabtest: no plan written to {path}: collection failed")
    started = time.perf_counter()
    try:
        counts = write_session_plan(stab, path)
    except StabtestError as error:
        raise pytest.UsageError(f"stabtest: no plan written to {path}: {error}") from None
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"stabtest: wrote the plan {path}: {counts.threads} thread(s), "
            f"{counts.requests} request(s), {counts.texts} reference text(s) to embed"
            + (f", {counts.gradings} answer(s) to grade" if counts.gradings else "")
            + f" ({time.perf_counter() - started:.1f} s)"
        )


class SuiteErrorGuard:
    """A malformed suite fails its own collection only: when every collection error of
    the session comes from a suite file, the other tests still run (an error in a Python
    test module still stops the session, as pytest always does)."""

    def __init__(self) -> None:
        self.broken: list[str] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if is_failed_suite(report):
            self.broken.append(report.nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        if session.testsfailed and session.testsfailed == len(self.broken):
            session.config.option.continue_on_collection_errors = True


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    if (
        report.when == "call"
        and report.skipped
        and (OUTCOME_PROPERTY, "escalate") in (report.user_properties)
    ):
        return "escalated", "?", ("ESCALATED", {"yellow": True})
    return None
