"""Judges by name, so settings can list them (`stab_judges = semantic,reference,llm_judge`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stabtest.annotators.base import Judge
from stabtest.core.errors import ConfigError


def build_judges(names: Sequence[str], engine: Any = None) -> list[Judge]:
    from stabtest.annotators.numeric import NumericJudge
    from stabtest.annotators.reference import ReferenceJudge
    from stabtest.annotators.semantic import SemanticJudge

    factories = {
        "semantic": SemanticJudge,
        "reference": ReferenceJudge,
        "numeric": NumericJudge,
    }
    judges: list[Judge] = []
    for name in names:
        if name == "llm_judge":
            from stabtest.annotators.llm_judge import LLMJudge

            judges.append(LLMJudge(engine))
        elif name in factories:
            judges.append(factories[name]())
        else:
            known = [*factories, "llm_judge"]
            raise ConfigError("--stab-judges", f"unknown judge {name!r}; known: {known}")
    return judges
