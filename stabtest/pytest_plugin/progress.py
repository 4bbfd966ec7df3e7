"""Progress of long work (generating, paraphrasing, embedding, judging) on pytest's
terminal, without breaking pytest's own output.

`--stab-progress` (ini `stab_progress`):

- `auto` (default): on a terminal, one status line drawn after what pytest has written on
  the current line (`suites/qa.yaml stabtest: generating 320/955 answers (33%), 41 s, ~85 s
  left`), redrawn at most 5 times a second and erased before pytest writes again; it
  appears once a stage has run half a second. In a log (CI, a pipe) a line per tenth of a
  stage that runs over 2 s, and one a minute while a tenth takes longer; never a line per
  batch. `-q` keeps the terminal line (it leaves nothing behind) and drops the log lines.
- `always`: as `auto` without the delays (short work shows too), also under `-q`.
- `never`: nothing.

xdist workers never write (the controller owns the terminal; their output is captured);
pytest's own progress shows how the workers advance. Progress is written with pytest's
capture suspended, as its live logging is. On a terminal the status is erased with
backspaces, so pytest's text before it keeps its colours; in a log, pytest's unfinished
line (`suites/qa.yaml ..`) is repeated after ours and pytest carries on there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Literal

import pytest

from stabtest.core.progress import Pace, describe

if TYPE_CHECKING:
    from _pytest._io import TerminalWriter

Mode = Literal["live", "log"]
LIVE_DELAY, LIVE_INTERVAL = 0.5, 0.2
LOG_DELAY, LOG_INTERVAL, LOG_STEPS = 2.0, 60.0, 10
MIN_ROOM = 16
"""Columns a live line needs after pytest's text on the line; with fewer it is not drawn."""
PREFIX = "stabtest: "


def display_mode(setting: str, *, interactive: bool, verbosity: int) -> Mode | None:
    """How progress shows: a live line on a terminal, lines in a log, or not at all."""
    if setting == "never":
        return None
    if interactive:
        return "live"
    if setting == "always" or verbosity >= 0:
        return "log"
    return None


class TerminalProgress:
    """The session's progress sink in a pytest run (`progress(stage, done, total)`), and
    the hooks that clear its line before pytest writes."""

    def __init__(self, config: pytest.Config, setting: str, clock: Callable[[], float]):
        self.config = config
        self.setting = setting
        self.clock = clock
        self._mode: Mode | Literal["unknown"] | None = "unknown"
        self.stage: str | None = None
        self.pace = Pace()
        self._drawn = 0  # live: characters of status after pytest's text
        self._width = 0  # live: pytest's line width when it was drawn
        self._kept: str | None = None  # log: pytest's line, written again after ours

    @classmethod
    def configure(
        cls, config: pytest.Config, setting: str, clock: Callable[[], float] = time.monotonic
    ) -> TerminalProgress | None:
        """The sink for this process, registered for its hooks; None in xdist workers and
        with `never`."""
        if setting == "never" or hasattr(config, "workerinput"):
            return None
        progress = cls(config, setting, clock)
        config.pluginmanager.register(progress, "stabtest-progress")
        return progress

    @property
    def mode(self) -> Mode | None:
        """Decided on first use: pytest's terminal reporter is configured after us."""
        if self._mode == "unknown":
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            self._mode = None
            if reporter is not None:
                self._mode = display_mode(
                    self.setting,
                    interactive=bool(reporter.isatty),
                    verbosity=int(self.config.option.verbose),
                )
        return self._mode

    def __call__(self, stage: str, done: int, total: int) -> None:
        mode = self.mode
        if mode is None:
            return
        now = self.clock()
        if stage != self.stage or done == 0:
            self.close()
            self.stage = stage
            quick = self.setting == "always"
            if mode == "live":
                self.pace = Pace(0.0 if quick else LIVE_DELAY, LIVE_INTERVAL, None)
            else:
                self.pace = Pace(0.0 if quick else LOG_DELAY, LOG_INTERVAL, LOG_STEPS)
            self.pace.start(now)
        if total <= 0:
            return
        ended = done >= total
        if self.pace.due(done, total, now):
            text = PREFIX + describe(stage, done, total, now - self.pace.started)
            if mode == "live" and not ended:  # the line goes at the end anyway
                self._draw(text)
            elif mode == "log":
                self._log(text)
        if ended:
            self.close()
            self.stage = None

    # -- writing -------------------------------------------------------------------------
    @property
    def _writer(self) -> TerminalWriter:
        return self.config.get_terminal_writer()

    @contextmanager
    def _uncaptured(self) -> Iterator[None]:
        """pytest captures output while an item runs (and while it collects): write to
        the terminal as its live logging does, with capture suspended."""
        capture: Any = self.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
            yield

    def _write(self, text: str) -> None:
        """Raw: pytest's idea of its current line stays what it wrote itself."""
        with self._uncaptured():
            self._writer.write_raw(text, flush=True)

    def _draw(self, text: str) -> None:
        """Replace the status after pytest's text (backspaces keep pytest's colours).
        While pytest itself rewrites its line with carriage returns (`collecting ...`) the
        column is unknown: the status then takes the whole line, as pytest's does."""
        writer = self._writer
        width = writer.width_of_current_line
        if self._drawn and width != self._width:  # someone else wrote: ours scrolled away
            self._drawn = 0
        if width < 0:
            self._write("\r" + text[: writer.fullwidth - 1].ljust(writer.fullwidth - 1))
            self._drawn, self._width = -1, width
            return
        room = writer.fullwidth - width - 1
        text = text[:room] if room >= MIN_ROOM else ""
        blank = max(0, self._drawn - len(text))
        if text or self._drawn:
            self._write("\b" * self._drawn + text + " " * blank + "\b" * blank)
        self._drawn, self._width = len(text), width

    def _log(self, text: str) -> None:
        """A whole line below pytest's; `close` writes pytest's line again after ours."""
        writer = self._writer
        if self._kept is None:
            self._kept = getattr(writer, "_current_line", None)
            if self._kept is None:  # an unknown pytest: let it start its line afresh
                reporter = self.config.pluginmanager.get_plugin("terminalreporter")
                if reporter is not None:
                    reporter.currentfspath = None
                self._kept = ""
            self._write(("\n" if writer.width_of_current_line else "") + text + "\n")
        else:
            self._write(text + "\n")

    def close(self) -> None:
        """Erase the live line, or give pytest its line back after log lines."""
        if self._drawn and self._writer.width_of_current_line == self._width:
            if self._drawn < 0:  # a whole line: pytest's next rewrite fills it again
                self._write("\r" + " " * (self._writer.fullwidth - 1) + "\r")
            else:
                self._write("\b" * self._drawn + " " * self._drawn + "\b" * self._drawn)
        self._drawn = 0
        if self._kept is not None:
            kept, self._kept = self._kept, None
            if kept and getattr(self._writer, "_current_line", None) == kept:
                self._write(kept)

    # -- hooks: pytest is about to write -------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self) -> None:
        self.close()

    @pytest.hookimpl(tryfirst=True)
    def pytest_collectreport(self) -> None:
        self.close()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self.close()

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self) -> None:
        self.close()

    @pytest.hookimpl(tryfirst=True)
    def pytest_internalerror(self) -> None:
        self.close()
