"""stabtest: make LLM stability testable the way pytest makes code testable.

The public API. Names are imported on first use (PEP 562), so `import stabtest` -- which
pytest does in every run of the environment through the plugin -- costs next to nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stabtest.core.compare import BaselineComparison, compare_reports
    from stabtest.core.errors import ConfigError, StabtestError, SuiteError
    from stabtest.core.loader import build_case, load_suite
    from stabtest.core.plan import GenerationParams, GenerationRequest
    from stabtest.core.report import RunReport, read_report, write_report
    from stabtest.core.results import (
        AnswerResult,
        CaseOutcome,
        CaseResult,
        GoldLabel,
        VariantResult,
        Verdict,
        Vote,
    )
    from stabtest.core.settings import Settings
    from stabtest.core.suite import Case, Suite
    from stabtest.core.variant import Variant
    from stabtest.generation.backend import Backend, resolve_backend
    from stabtest.generation.generator import Generator
    from stabtest.reporting.dashboard import render_dashboard
    from stabtest.session import Session

__version__ = "0.1.0"

_EXPORTS = {
    "AnswerResult": "stabtest.core.results",
    "Backend": "stabtest.generation.backend",
    "BaselineComparison": "stabtest.core.compare",
    "Case": "stabtest.core.suite",
    "CaseOutcome": "stabtest.core.results",
    "CaseResult": "stabtest.core.results",
    "ConfigError": "stabtest.core.errors",
    "GenerationParams": "stabtest.core.plan",
    "GenerationRequest": "stabtest.core.plan",
    "Generator": "stabtest.generation.generator",
    "GoldLabel": "stabtest.core.results",
    "RunReport": "stabtest.core.report",
    "Session": "stabtest.session",
    "Settings": "stabtest.core.settings",
    "StabtestError": "stabtest.core.errors",
    "Suite": "stabtest.core.suite",
    "SuiteError": "stabtest.core.errors",
    "Variant": "stabtest.core.variant",
    "VariantResult": "stabtest.core.results",
    "Verdict": "stabtest.core.results",
    "Vote": "stabtest.core.results",
    "build_case": "stabtest.core.loader",
    "compare_reports": "stabtest.core.compare",
    "load_suite": "stabtest.core.loader",
    "render_dashboard": "stabtest.reporting.dashboard",
    "read_report": "stabtest.core.report",
    "resolve_backend": "stabtest.generation.backend",
    "write_report": "stabtest.core.report",
}

__all__ = [
    "AnswerResult",
    "Backend",
    "BaselineComparison",
    "Case",
    "CaseOutcome",
    "CaseResult",
    "ConfigError",
    "GenerationParams",
    "GenerationRequest",
    "Generator",
    "GoldLabel",
    "RunReport",
    "Session",
    "Settings",
    "StabtestError",
    "Suite",
    "SuiteError",
    "Variant",
    "VariantResult",
    "Verdict",
    "Vote",
    "__version__",
    "build_case",
    "compare_reports",
    "load_suite",
    "read_report",
    "render_dashboard",
    "resolve_backend",
    "write_report",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stabtest' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
