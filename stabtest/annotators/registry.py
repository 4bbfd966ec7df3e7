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


def resolve_embedder(name: str) -> Any:
    """`minilm` (bundled all-MiniLM-L6-v2), `lexical`, or a `module:attr` factory."""
    if name == "minilm":
        from stabtest.annotators.embedder import MiniLMEmbedder

        return MiniLMEmbedder()
    if name == "lexical":
        from stabtest.annotators.lexical import LexicalEmbedder

        return LexicalEmbedder()
    if ":" in name:
        import importlib

        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)()
        except (ImportError, AttributeError) as error:
            raise ConfigError("--stab-embedder", f"cannot load {name!r}: {error}") from None
    raise ConfigError(
        "--stab-embedder", f"unknown embedder {name!r}; use minilm, lexical or module:attr"
    )
