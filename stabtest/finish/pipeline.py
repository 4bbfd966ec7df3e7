"""How every run ends, in one place and one order, outside pytest:

    record -> compare -> push -> explore -> remediate -> history -> write -> dashboard -> hook

Each step reads the report as the steps before it left it and adds its section; the exit
status is settled before `write`, so the stored report carries the status the process
exits with, and `hook` (`pytest_stabtest_report_written`) sees the final report. The
report is written once, at `write`. A step that leaves the process or runs long (push,
explore, remediate) is preceded by one `running` checkpoint, so a process killed there
still leaves its results on disk. Ctrl-C or a crash in any step skips the steps that
would act on the run (compare, push, explore, remediate) and still records it, writes it
as `interrupted` with the steps that finished, and draws it; the crash is handed back to
the caller to show (`Finished.crash`). Only a failing write or hook is raised at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stabtest.core.compare import REGRESSION_EXIT
from stabtest.core.report import REPORT_NAME, RunReport, Status, write_report
from stabtest.core.settings import Settings
from stabtest.reporting.recorder import Recorder

if TYPE_CHECKING:
    from stabtest.adjudication.client import PullReport, PushReport
    from stabtest.remediation.loop import Plan
    from stabtest.session import Session

OK, TESTS_FAILED, INTERRUPTED, INTERNAL_ERROR, USAGE_ERROR = 0, 1, 2, 3, 4
"""pytest's exit codes (`pytest.ExitCode`), which the `stabtest` command shares."""
GATED = (OK, TESTS_FAILED)
"""A regression overrides these: "worse than the baseline" is the news, also when known
failures fail their thresholds again. Interrupted, internal and usage errors stay."""
RERUN_PUSH = "`stabtest push` (or the next run with --stab-label-studio)"
STEPS = (
    "record",
    "compare",
    "push",
    "explore",
    "remediate",
    "history",
    "write",
    "dashboard",
    "hook",
)
ACTING = frozenset({"compare", "explore", "remediate"})
"""Steps that act on a run's results: skipped once the run is interrupted (the push
says why it sent nothing)."""
LONG = frozenset({"push", "explore", "remediate"})
"""Steps a `running` checkpoint of the report precedes."""


@dataclass(frozen=True)
class LabelStudioStart:
    """What the run's start did with Label Studio, for the report's section."""

    gold_labels: int = 0
    gold_path: str | None = None
    pulled: PullReport | None = None


@dataclass
class RunEnd:
    """What finishing a run needs: the results and how the run itself ended."""

    settings: Settings
    recorder: Recorder
    exitstatus: int
    interrupted: bool = False
    session: Session | None = None
    """The run's session: its cost left over, its failure, and explore's cases."""
    baseline: RunReport | None = None
    """The baseline to compare with, read when the run started."""
    label_studio: LabelStudioStart | None = None
    """Given when Label Studio or a gold store is in use: the report gets its section."""
    remediate: Plan | None = None
    on_written: Callable[[Path, RunReport], None] | None = None
    fingerprint: Callable[[], str | None] = lambda: None
    """The model's fingerprint for the history (None when unknown)."""
    progress: Callable[[str], None] | None = None
    """Told each line of a long step (remediation) as it happens."""


@dataclass
class Finished:
    """What the run's end did, for the terminal and the exit status."""

    exitstatus: int
    report: RunReport | None = None
    path: Path | None = None
    steps: list[str] = field(default_factory=list)
    interrupted_at: str | None = None
    regressed: bool = False
    gate_lines: list[str] = field(default_factory=list)
    pushed: PushReport | None = None
    push_lines: list[str] = field(default_factory=list)
    """The push's summary, its error and what to do: said after the table."""
    explore_lines: list[str] = field(default_factory=list)
    remediation_lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Said after the report's path: a dashboard not drawn, history not written."""
    dashboard: Path | None = None
    checkpoints: int = 0
    crash: BaseException | None = None
    """The error a step failed with (the report says it too): the caller shows it."""


@dataclass
class _Run:
    end: RunEnd
    done: Finished
    report: RunReport
    interrupted: bool
    crash: BaseException | None = None

    @property
    def settings(self) -> Settings:
        return self.end.settings

    def update(self, **sections: Any) -> None:
        self.report = self.report.model_copy(update=sections)


def finish_run(end: RunEnd) -> Finished:
    """Every step in order (see the module docstring); the result says what each did."""
    if end.session is not None:
        leftover = end.session.take_stats()  # an interrupted plan's cost reached no item
        if leftover:
            end.recorder.add_cost(leftover)
    status: Status = "interrupted" if end.interrupted else "complete"
    report = end.recorder.report(status)
    run = _Run(end, Finished(exitstatus=end.exitstatus), report, end.interrupted)
    checkpointed = False  # one `running` report at most, before the first long step
    for name in STEPS:
        step = _STEP[name]
        if run.interrupted and name in ACTING:
            continue
        if name in LONG and not checkpointed and _applies(run, name):
            _checkpoint(run)
            checkpointed = True
        try:
            step(run)
        except KeyboardInterrupt:
            _interrupt(run, name, INTERRUPTED)
            continue
        except Exception as error:
            if name in ("write", "hook"):
                raise
            run.crash = error
            run.update(error=f"{name} failed: {type(error).__name__}: {error}")
            _interrupt(run, name, INTERNAL_ERROR)
            continue
        run.done.steps.append(name)
    run.done.crash = run.crash
    return run.done


def _interrupt(run: _Run, step: str, exitstatus: int) -> None:
    run.interrupted = True
    run.done.interrupted_at = run.done.interrupted_at or step
    run.done.exitstatus = exitstatus


def _applies(run: _Run, name: str) -> bool:
    settings = run.settings
    if run.interrupted:
        return False
    if name == "push":
        return bool(settings.label_studio) and run.end.label_studio is not None
    if name == "explore":
        return settings.explore > 0 and run.end.session is not None
    return run.end.remediate is not None


# -- the steps --------------------------------------------------------------------------


def _record(run: _Run) -> None:
    """Why the session's generation failed, if it did (its results are recorded)."""
    session = run.end.session
    if session is not None and session.failure is not None:
        run.update(error=f"generation failed: {session.failure}")


def _compare(run: _Run) -> None:
    baseline, settings = run.end.baseline, run.settings
    if settings.baseline is None:
        return
    if baseline is None:
        return  # the first run of a baseline that it saves (said when the run started)
    from stabtest.finish.baseline_gate import compare_with_baseline

    comparison, lines = compare_with_baseline(settings, baseline, run.report, settings.baseline)
    run.done.gate_lines += lines
    run.update(baseline=comparison)
    run.done.regressed = not comparison.passed
    if run.done.regressed and run.done.exitstatus in GATED:
        run.done.exitstatus = REGRESSION_EXIT


def _push(run: _Run) -> None:
    """Failed and escalated answers to Label Studio; the outbox keeps what the server has
    not confirmed. Ctrl-C stops the push and interrupts the run; any other failure is
    said, and the run goes on."""
    start = run.end.label_studio
    if start is None:
        return
    try:
        if not run.settings.label_studio or not run.report.variants:
            pass
        elif run.interrupted:
            run.done.push_lines.append("label studio: nothing pushed, the run was interrupted")
        else:
            _push_variants(run)
    finally:
        _label_studio_section(run, start)


def _push_variants(run: _Run) -> None:
    from stabtest.adjudication.actions import push, push_fix
    from stabtest.adjudication.client import PushInterrupted, scrub

    settings = run.settings
    try:
        run.done.pushed = push(settings, run.report.variants, run_id=run.report.run_id)
    except PushInterrupted as stop:
        run.done.pushed = stop.report
        run.done.push_lines.append(f"label studio: {stop.report.error} ({RERUN_PUSH})")
        run.done.push_lines.append(stop.report.line())
        raise KeyboardInterrupt from None
    except Exception as error:  # the run's report must still be written
        message = f"label studio: push failed: {type(error).__name__}: {error}"
        run.done.push_lines.append(scrub(message, settings.token, settings.label_studio))
        return
    run.done.push_lines.append(run.done.pushed.line())
    run.done.push_lines += push_fix(run.done.pushed, RERUN_PUSH)


def _label_studio_section(run: _Run, start: LabelStudioStart) -> None:
    from stabtest.adjudication.actions import pull_record, push_record
    from stabtest.core.text import redact_url

    url = run.settings.label_studio
    pushed = run.done.pushed
    run.update(
        label_studio={
            "url": redact_url(url) if url else None,
            "gold_labels": start.gold_labels,
            "gold_store": start.gold_path,
            "pull": pull_record(start.pulled) if start.pulled else None,
            "push": push_record(pushed) if pushed is not None else None,
        }
    )


def _explore(run: _Run) -> None:
    session = run.end.session
    if run.settings.explore <= 0 or session is None:
        return
    if run.report.status != "complete" or session.failure is not None:
        return
    from stabtest.explore.after_run import explore_passed

    results, lines = explore_passed(session, run.report, run.settings.explore)
    run.done.explore_lines += lines
    if results:
        run.update(explore=results)


def _remediate(run: _Run) -> None:
    """One remediation round on the report just recorded; its gate sets the exit status."""
    plan = run.end.remediate
    if plan is None:
        return
    from stabtest.core.errors import StabtestError
    from stabtest.remediation.loop import remediate

    lines = run.done.remediation_lines

    def said(line: str) -> None:
        lines.append(line)
        if run.end.progress is not None:
            run.end.progress(line)

    try:
        result = remediate(run.settings, plan, progress=said, report=run.report)
    except StabtestError as error:
        lines.append(f"remediation: error: {error}")
        run.done.exitstatus = USAGE_ERROR
        return
    last = result.last
    if last is not None:
        before, after = last.treated["before"], last.treated["after"]
        lines.append(
            f"remediation: held-out SI {before.si} -> {after.si}, FC {before.fc} -> "
            f"{after.fc}; model {last.model}: {result.status.upper()}"
        )
        lines += [f"remediation: missed: {line}" for line in last.missed]
        lines += [f"remediation: to do: {c.advice}" for c in last.criteria if c.advice]
    run.done.exitstatus = OK if result.accepted else TESTS_FAILED


def _history(run: _Run) -> None:
    """The baseline saved (when asked and deserved) and one history line; trouble with
    either is said, never fatal."""
    _save_baseline(run)
    path = run.settings.history_file
    if path is None:
        return
    from stabtest.reporting.history import append_history, record_of

    record = record_of(
        _final(run),
        rootdir=Path(run.settings.rootdir),
        fingerprint=run.end.fingerprint(),
        label=run.settings.label,
    )
    try:
        append_history(path, record)
    except OSError as error:
        run.done.notes.append(f"history: not written to {path}: {error}")


def _save_baseline(run: _Run) -> None:
    settings, lines = run.settings, run.done.gate_lines
    if settings.baseline is not None and run.end.baseline is not None and run.interrupted:
        lines.append(f"baseline {settings.baseline!r}: not compared, run interrupted")
    name = settings.save_baseline
    if name is None:
        return
    if run.interrupted:
        lines.append(f"baseline {name!r}: not saved, the run was interrupted")
        return
    if run.done.regressed and name == settings.baseline:
        lines.append(
            f"baseline {name!r}: not saved, this run regressed against it "
            f"(bless it on purpose: stabtest baseline bless {name})"
        )
        return
    from stabtest.reporting.baseline import BaselineError, save_baseline

    try:
        saved = save_baseline(settings.baseline_path, name, _final(run))
    except (BaselineError, OSError) as error:
        lines.append(f"baseline {name!r}: not saved: {error}")
        return
    lines.append(f"baseline {name!r} saved: {saved}")


def _as_of(run: _Run, status: Status, steps: list[str]) -> RunReport:
    """The report with the run's exit status as it stands and the steps done."""
    return run.report.model_copy(
        update={"status": status, "exitstatus": run.done.exitstatus, "steps": steps}
    )


def _final(run: _Run) -> RunReport:
    """The report as it will be written: its status and exit status settled."""
    status = run.report.status
    if run.interrupted:
        status = "interrupted"
    elif status == "running":
        status = "incomplete" if run.report.problems else "complete"
    return _as_of(run, status, list(run.done.steps))


def _write(run: _Run) -> None:
    path = run.settings.report_path / REPORT_NAME
    run.report = _final(run).model_copy(update={"steps": [*run.done.steps, "write"]})
    write_report(path, run.report)
    run.done.report, run.done.path = run.report, path


def _checkpoint(run: _Run) -> None:
    """A `running` report before a long step: what a killed process leaves behind."""
    path = run.settings.report_path / REPORT_NAME
    write_report(path, _as_of(run, "running", list(run.done.steps)))
    run.done.checkpoints += 1


def _dashboard(run: _Run) -> None:
    """The HTML dashboard beside the report (with the history and any remediation round):
    a failure to draw it is said, never a failed run."""
    if not run.settings.html or run.done.path is None:
        return
    from stabtest.core.errors import StabtestError
    from stabtest.reporting.dashboard import write_run_dashboard

    try:
        run.done.dashboard = write_run_dashboard(
            run.done.path,
            run.report,
            history_file=run.settings.history_file,
            on_skip=run.done.notes.append,
        )
    except (StabtestError, OSError, ValueError) as error:
        run.done.notes.append(f"dashboard not written: {error}")


def _hook(run: _Run) -> None:
    if run.end.on_written is not None and run.done.path is not None:
        run.end.on_written(run.done.path, run.report)


_STEP: dict[str, Callable[[_Run], None]] = {
    "record": _record,
    "compare": _compare,
    "push": _push,
    "explore": _explore,
    "remediate": _remediate,
    "history": _history,
    "write": _write,
    "dashboard": _dashboard,
    "hook": _hook,
}
