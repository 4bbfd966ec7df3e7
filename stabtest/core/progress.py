"""Progress of long work (generating, embedding, judging), as one plain callable.

The work only reports; it never prints. `progress(stage, done, total)` says that `done` of
`total` units of `stage` are finished (`done == 0` starts the stage, `done == total` ends
it). Whoever runs the work decides how to show it: the pytest plugin rewrites a status
line on a terminal and prints a few throttled lines in a CI log (`Pace`); a script may
pass `print`-like callables or nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Progress = Callable[[str, int, int], None]
"""`progress(stage, done, total)`; see the module docstring."""

UNITS = {
    "generating": "answers",
    "paraphrasing": "paraphrases",
    "embedding": "texts",
    "judging": "answers",
}
"""What a stage counts, for the status line ("generating 320/955 answers")."""


def duration(seconds: float) -> str:
    """`0.4 s`, `41 s`, `2 min 6 s`, `1 h 5 min`: short enough for a status line."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def describe(stage: str, done: int, total: int, elapsed: float) -> str:
    """`generating 320/955 answers (33%), 41 s, ~85 s left`: the time left is the time
    so far per finished unit, times the units to go (said once there is a unit to go by)."""
    unit = UNITS.get(stage)
    share = done / total if total else 1.0
    text = f"{stage} {done}/{total}{' ' + unit if unit else ''} ({share:.0%})"
    if done <= 0:
        return text
    text += f", {duration(elapsed)}"
    if done < total:
        text += f", ~{duration(elapsed / done * (total - done))} left"
    return text


@dataclass
class Pace:
    """When a stage's progress is worth showing: never before `delay` seconds into the
    stage (short work shows nothing), then whenever another 1/`steps` of it is done (a CI
    log: a line per tenth) or `interval` seconds passed since the last time, or since the
    start (a heartbeat in a log; the redraw rate of a terminal line). Once something of a
    stage was shown, its end is shown too. Pure: the caller passes the clock."""

    delay: float = 0.0
    interval: float = 60.0
    steps: int | None = 10
    started: float = 0.0
    _shown_at: float | None = field(default=None, repr=False)
    _step: int = field(default=-1, repr=False)

    def start(self, now: float) -> None:
        self.started, self._shown_at, self._step = now, None, -1

    @property
    def shown(self) -> bool:
        """Whether anything of this stage was shown."""
        return self._shown_at is not None

    def due(self, done: int, total: int, now: float) -> bool:
        """Whether to show (done, total) now; records that it was shown when it is."""
        end = done >= total and self.shown
        reached = -1 if self.steps is None or total <= 0 else done * self.steps // total
        if now - self.started < self.delay and not end:
            self._step = max(reached, self._step)  # the first line waits for the next step
            return False
        since = self.started if self._shown_at is None else self._shown_at
        if not (end or reached > self._step or now - since >= self.interval):
            return False
        self._shown_at, self._step = now, max(reached, self._step)
        return True
