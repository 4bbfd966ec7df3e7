"""Where adjudication keeps its local state, under the stabtest cache dir, so that the
plugin and the CLI find the same outbox and gold store without being told twice."""

from __future__ import annotations

from pathlib import Path


def default_outbox_path(cache_dir: str | Path) -> Path:
    return Path(cache_dir) / "label_studio" / "outbox.sqlite"


def default_gold_path(cache_dir: str | Path) -> Path:
    return Path(cache_dir) / "label_studio" / "gold.sqlite"


def default_template_dir(cache_dir: str | Path) -> Path:
    """An initialised Label Studio data dir copied for every test server (3 s, not 30 s)."""
    return Path(cache_dir) / "label_studio" / "server-template"
