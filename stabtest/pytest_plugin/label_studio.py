"""pytest glue for Label Studio: human labels in before a run, verdicts out after it.

- Every process (xdist workers too) reads the gold store of the cache dir, if there is
  one, and human labels override the automatic verdicts of the same answers. With
  `--stab-pull` the controller first pulls the server's annotations into it; workers are
  started after the controller's `pytest_configure`, so they read the pulled file.
- With `--stab-label-studio URL`, the run's end (`stabtest.finish`) pushes failed and
  escalated answers; a server that is down or refuses parks them in the outbox, and the
  run goes on. A `running` report is on disk before the push starts; the final one says
  what the push did. Ctrl-C during the push stops it: what the server has not confirmed
  stays in the outbox, the report is written (`interrupted`) and the run exits with
  pytest's "interrupted" status.

The token goes to the SDK only: never to the terminal, the report or the outbox; a
credential in the URL is redacted wherever the URL is shown or stored. Every line printed
here is escaped (a server's message cannot drive the terminal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from stabtest.adjudication.client import PullReport
    from stabtest.core.settings import Settings
    from stabtest.finish import LabelStudioStart
    from stabtest.session import Session


def configure_label_studio(
    config: pytest.Config, session: Session, controller: bool
) -> LabelStudioStart | None:
    """Called from the plugin's pytest_configure in every process; costs a stat() when
    Label Studio is not configured and no gold store exists. In the controller, what the
    run's end needs for the push and the report's section."""
    settings = session.settings
    if config.option.help or config.option.version:
        return None
    if settings.pull and not settings.label_studio:
        raise pytest.UsageError(
            "stabtest: --stab-pull needs a Label Studio URL: --stab-label-studio URL "
            "(ini stab_label_studio, [tool.stabtest] label_studio)"
        )
    from stabtest.adjudication.paths import default_gold_path

    if not settings.label_studio and not default_gold_path(settings.cache_path).is_file():
        return None
    hooks = LabelStudioHooks(settings) if controller else None
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
    if hooks is None:
        return None
    from stabtest.finish import LabelStudioStart

    hooks.start = LabelStudioStart(
        gold_labels=len(gold) if gold is not None else 0,
        gold_path=str(gold.path) if gold is not None else None,
        pulled=hooks.pulled,
    )
    config.pluginmanager.register(hooks, "stabtest-label-studio")
    return hooks.start


class LabelStudioHooks:
    """Controller-side: the pull, and its messages in the report header. The push is a
    step of the run's end (`stabtest.finish`)."""

    def __init__(self, settings: Settings):
        from stabtest.finish import LabelStudioStart

        self.settings = settings
        self.pulled: PullReport | None = None
        self.notes: list[str] = []
        self.start = LabelStudioStart()

    def pull(self) -> None:
        from stabtest.adjudication.actions import pull

        self.pulled = pull(self.settings)
        if self.pulled.error:
            self.notes.append(self.pulled.error)
            return
        self.notes.append(self.pulled.line())
        self.notes += self.pulled.missing_projects

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        from stabtest.core.text import terminal_safe

        lines = list(self.notes)
        if self.start.gold_labels:
            lines.append(
                f"label studio: {self.start.gold_labels} human label(s) from "
                f"{self.start.gold_path} override automatic verdicts"
            )
        return [terminal_safe(line, layout=False) for line in lines]
