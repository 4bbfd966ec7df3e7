"""The end of a run, one pipeline shared by the pytest plugin and the `stabtest` command."""

from stabtest.finish.pipeline import (
    STEPS,
    Finished,
    LabelStudioStart,
    RunEnd,
    finish_run,
)

__all__ = ["STEPS", "Finished", "LabelStudioStart", "RunEnd", "finish_run"]
