"""Judges by name, so settings can list them (`stab_judges = semantic,reference,llm_judge`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stabtest.annotators.base import Judge
from stabtest.core.errors import ConfigError
from stabtest.core.nli import PairClassifier
from stabtest.core.plan import Generate


def build_judges(
    names: Sequence[str],
    generate: Generate | None = None,
    nli: PairClassifier | None = None,
    nli_threshold: float = 0.5,
) -> list[Judge]:
    """The judges named in settings, in order. `llm_judge` asks a model, so it needs
    `generate`; listed, it judges every case with a reference. Unlisted, a session
    (`generate` given) still gets a dormant LLM judge that applies only to cases naming
    `llm_judge` in their `checks` (see stabtest.annotators.llm_judge). `nli` reads an NLI
    model: given one (`--stab-nli-model`), the judge joins whether listed or not."""
    from stabtest.annotators.contradiction import ContradictionJudge
    from stabtest.annotators.llm_judge import LLMJudge
    from stabtest.annotators.nli import NLIJudge
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
        elif name == "nli":
            if nli is None:
                raise ConfigError("--stab-judges", "nli needs a model: set --stab-nli-model")
            judges.append(NLIJudge(nli, nli_threshold))
        elif name in factories:
            judges.append(factories[name]())
        else:
            known = [*factories, "llm_judge", "nli"]
            raise ConfigError("--stab-judges", f"unknown judge {name!r}; known: {known}")
    if "nli" not in names and nli is not None:
        judges.append(NLIJudge(nli, nli_threshold))
    if "llm_judge" not in names and generate is not None:
        judges.append(LLMJudge(generate, every_case=False))
    return judges
