"""Judges by name, so settings can list them (`stab_judges = semantic,reference,llm_judge`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stabtest.annotators.base import Judge
from stabtest.core.errors import ConfigError
from stabtest.core.plan import Generate


def build_judges(names: Sequence[str], generate: Generate | None = None) -> list[Judge]:
    """The judges named in settings, in order. `llm_judge` asks a model, so it needs
    `generate`; listed, it judges every case with a reference. Unlisted, a session
    (`generate` given) still gets a dormant LLM judge that applies only to cases naming
    `llm_judge` in their `checks` (see stabtest.annotators.llm_judge)."""
    from stabtest.annotators.contradiction import ContradictionJudge
    from stabtest.annotators.llm_judge import LLMJudge
    from stabtest.annotators.numeric import NumericJudge
    from stabtest.annotators.reference import ReferenceJudge
    from stabtest.annotators.semantic import SemanticJudge

    factories: dict[str, Callable[[], Judge]] = {
        "semantic": SemanticJudge,
        "reference": ReferenceJudge,
        "numeric": NumericJudge,
        "contradiction": ContradictionJudge,
    }
    judges: list[Judge] = []
    for name in names:
        if name == "llm_judge":
            if generate is None:
                raise ConfigError("--stab-judges", "llm_judge needs a model to ask (generate)")
            judges.append(LLMJudge(generate))
        elif name in factories:
            judges.append(factories[name]())
        else:
            known = [*factories, "llm_judge"]
            raise ConfigError("--stab-judges", f"unknown judge {name!r}; known: {known}")
    if "llm_judge" not in names and generate is not None:
        judges.append(LLMJudge(generate, every_case=False))
    return judges
