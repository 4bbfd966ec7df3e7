"""Turn public benchmarks into stabtest suites (`stabtest import KIND SOURCE`).

Each importer reads one format and returns plain case dicts; `import_suite` validates them
through `dump_suite`, so an imported suite is exactly as strict as a hand-written one.
Importers are deterministic: the same source, options and seed give the same YAML text,
which keeps imported suites diff-able and their case ids stable across re-imports.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stabtest.core.errors import ConfigError
from stabtest.core.loader import dump_suite
from stabtest.core.registry import Registry
from stabtest.importers._common import ImportedSuite

__all__ = ["IMPORTERS", "ImportedSuite", "Importer", "import_suite", "importer_options"]

# Called as importer(source, *, limit=..., seed=..., **options) -> ImportedSuite.
Importer = Callable[..., ImportedSuite]

IMPORTERS: Registry[Importer] = Registry(
    "importer",
    {
        "truthfulqa": "stabtest.importers.truthfulqa:import_truthfulqa",
        "gsm8k": "stabtest.importers.gsm8k:import_gsm8k",
        "pararel": "stabtest.importers.pararel:import_pararel",
    },
    error=lambda message: ConfigError("import kind", message),
)
"""Importers by kind, each imported when its kind is asked for."""

_COMMON = {"source", "limit", "seed"}


def importer_options(kind: str) -> list[str]:
    """The extra keyword options an importer takes (for CLI help and error messages)."""
    parameters = inspect.signature(_importer(kind)).parameters
    return [name for name in parameters if name not in _COMMON]


def _importer(kind: str) -> Importer:
    return IMPORTERS.load(kind)


def _check_options(kind: str, options: dict[str, Any]) -> None:
    """Reject unknown options by name instead of letting a TypeError escape."""
    allowed = importer_options(kind)
    for key in options:
        if key not in allowed:
            takes = ", ".join(allowed) or "no options"
            message = f"unknown option; the {kind} importer takes: {takes}"
            raise ConfigError(f"{kind}.{key}", message)


def import_suite(
    kind: str,
    source: Path,
    *,
    limit: int | None = None,
    seed: int = 0,
    name: str | None = None,
    **options: Any,
) -> str:
    """Read `source` with the `kind` importer and return validated suite YAML text."""
    importer = _importer(kind)
    _check_options(kind, options)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError("limit", f"expected a positive integer, got {limit!r}")
    imported = importer(Path(source), limit=limit, seed=seed, **options)
    return dump_suite(
        name or imported.name, imported.cases, imported.defaults, imported.description
    )
