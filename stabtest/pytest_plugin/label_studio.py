"""pytest glue for Label Studio: human labels in before a run, verdicts out after it.

- Every process (xdist workers too) reads the gold store of the cache dir, if there is
  one, and human labels override the automatic verdicts of the same answers. With
  `--stab-pull` the controller first pulls the server's annotations into it; workers are
  started after the controller's `pytest_configure`, so they read the pulled file.
- With `--stab-label-studio URL`, the controller pushes failed and escalated answers at
  session finish; a server that is down or refuses parks them in the outbox, and the run
  goes on. The JSON report is written before the push starts (status `running`), and again
  after it, saying what the push did. Ctrl-C during the push stops it: what the server has
  not confirmed stays in the outbox, the report is written (`interrupted`) and the run
  exits with pytest's "interrupted" status.

The token goes to the SDK only: never to the terminal, the report or the outbox; a
credential in the URL is redacted wherever the URL is shown or stored. Every line printed
here is escaped (a server's message cannot drive the terminal).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from stabtest.adjudication.client import PullReport, PushReport
    from stabtest.core.settings import Settings
    from stabtest.reporting.recorder import Recorder
    from stabtest.session import Session

RERUN = "`stabtest push` (or the next run with --stab-label-studio)"


def configure_label_studio(
    config: pytest.Config, session: Session, recorder: Recorder | None
) -> None:
    """Called from the plugin's pytest_configure in every process; costs a stat() when
    Label Studio is not configured and no gold store exists."""
    settings = session.settings
    if config.option.help or config.option.version:
        return
    if settings.pull and not settings.label_studio:
        raise pytest.UsageError(
            "stabtest: --stab-pull needs a Label Studio URL: --stab-label-studio URL "
            "(ini stab_label_studio, [tool.stabtest] label_studio)"
        )
    from stabtest.adjudication.paths import default_gold_path

    controller = recorder is not None
    if not settings.label_studio and not default_gold_path(settings.cache_path).is_file():
        return
    hooks = LabelStudioHooks(settings, recorder) if controller else None
    if hooks is not None and settings.pull:
        hooks.pull()
    from stabtest.adjudication.actions import GoldSnapshot, load_gold
    from stabtest.core.errors import StabtestError

    gold: GoldSnapshot | None = None
    try:
        gold = load_gold(settings)
    except StabtestError as error:
        if hooks is not None:
            hooks.notes.append(f"label studio: {error}")
    if gold is not None:
        session.gold = gold
    if hooks is not None:
        hooks.gold_labels = len(gold) if gold is not None else 0
        hooks.gold_path = str(gold.path) if gold is not None else None
        config.pluginmanager.register(hooks, "stabtest-label-studio")


class LabelStudioHooks:
    """Controller-side: the pull's and push's messages, and the push itself."""

    def __init__(self, settings: Settings, recorder: Recorder | None):
        self.settings = settings
        self.recorder = recorder
        self.pulled: PullReport | None = None
        self.pushed: PushReport | None = None
        self.gold_labels = 0
        self.gold_path: str | None = None
        self.notes: list[str] = []

    def pull(self) -> None:
        from stabtest.adjudication.actions import pull

        self.pulled = pull(self.settings)
        if self.pulled.error:
            self.notes.append(self.pulled.error)
            return
        self.notes.append(self.pulled.line())
        self.notes += self.pulled.missing_projects

    def _record(self, push: dict[str, Any] | None = None) -> None:
        """What the report keeps of Label Studio; `push` stands in for a push under way."""
        if self.recorder is None:
            return
        from stabtest.adjudication.actions import pull_record, push_record
        from stabtest.core.text import redact_url

        if self.pushed is not None:
            push = push_record(self.pushed)
        url = self.settings.label_studio
        self.recorder.label_studio = {
            "url": redact_url(url) if url else None,
            "gold_labels": self.gold_labels,
            "gold_store": self.gold_path,
            "pull": pull_record(self.pulled) if self.pulled else None,
            "push": push,
        }

    def _push(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the report, then push. Ctrl-C during the push ends the run as interrupted
        (the report hook reads `session.exitstatus`); the outbox holds what is unsent."""
        from stabtest.adjudication.actions import outbox_path, push
        from stabtest.adjudication.client import PushInterrupted, scrub
        from stabtest.core.text import redact_url

        assert self.recorder is not None
        self._record(
            {
                "url": redact_url(self.settings.label_studio or ""),
                "outbox": str(outbox_path(self.settings)),
                "error": "the push did not finish: what the server has not confirmed is in "
                "the outbox",
            }
        )
        self.recorder.write(status="running", exitstatus=int(exitstatus))
        variants = list(self.recorder.variants.values())
        try:
            self.pushed = push(self.settings, variants, run_id=self.recorder.run_id)
        except PushInterrupted as stop:
            self.pushed = stop.report
            self.notes.append(f"label studio: {stop.report.error} ({RERUN})")
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        except Exception as error:  # the run's report must still be written
            message = f"label studio: push failed: {type(error).__name__}: {error}"
            self.notes.append(scrub(message, self.settings.token, self.settings.label_studio))

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        from stabtest.core.text import terminal_safe

        lines = list(self.notes)
        if self.gold_labels:
            lines.append(
                f"label studio: {self.gold_labels} human label(s) from {self.gold_path} "
                f"override automatic verdicts"
            )
        return [terminal_safe(line, layout=False) for line in lines]

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, Any, Any]:
        """Push before the plugin's report hook writes the final JSON report (a wrapper runs
        around every plain implementation), so the report says what the push did; a report
        is on disk before the push starts, in case the process dies during it."""
        if self.settings.label_studio and self.recorder is not None:
            if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR):
                self.notes.append("label studio: nothing pushed, the run was interrupted")
            elif self.recorder.has_results():
                self._push(session, exitstatus)
        if self.recorder is not None and self.recorder.has_results():
            self._record()
        return (yield)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """After the stabtest table (trylast): the push summary, and a failed pull's
        message again where it cannot be missed."""
        lines: list[str] = []
        if self.pulled is not None and self.pulled.error:
            lines.append(self.pulled.error)
        lines += [n for n in self.notes if "interrupted" in n or "push failed" in n]
        if self.pushed is not None:
            from stabtest.adjudication.actions import push_fix

            lines.append(self.pushed.line())
            if not self.pushed.interrupted:  # said above, with what to run
                lines += push_fix(self.pushed, RERUN)
        if not lines:
            return
        from stabtest.core.text import terminal_safe

        if self.recorder is None or not self.recorder.has_results():
            terminalreporter.section("stabtest")
        for line in lines:
            terminalreporter.write_line(
                terminal_safe(line, layout=False), yellow=bool(self.pushed and not self.pushed.ok)
            )
