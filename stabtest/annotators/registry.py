"""Judges by name, so settings can list them (`stab_judges = semantic,reference,llm_judge`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stabtest.annotators.base import Judge
from stabtest.core.errors import ConfigError


def build_judges(names: Sequence[str], engine: Any = None) -> list[Judge]:
    """The judges named in settings, in order. `llm_judge` asks the session's backend, so
    it needs `engine`; listed, it judges every case with a reference. Unlisted, a session
    (an `engine` given) still gets a dormant LLM judge that applies only to cases naming
    `llm_judge` in their `checks` (see stabtest.annotators.llm_judge)."""
    from stabtest.annotators.llm_judge import LLMJudge
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
            if engine is None:
                raise ConfigError("--stab-judges", "llm_judge needs a session to ask its model")
            judges.append(LLMJudge(engine))
        elif name in factories:
            judges.append(factories[name]())
        else:
            known = [*factories, "llm_judge"]
            raise ConfigError("--stab-judges", f"unknown judge {name!r}; known: {known}")
    if "llm_judge" not in names and engine is not None:
        judges.append(LLMJudge(engine, every_case=False))
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
