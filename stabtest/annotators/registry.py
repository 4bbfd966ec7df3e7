"""Judges by name, so settings can list them (`stab_judges = semantic,reference,llm_judge`)
and a suite's `checks` can name them.

A third-party judge registers under the entry-point group `stabtest.judges`
(`[project.entry-points."stabtest.judges"] acme = "acme_judges:AcmeJudge"`). Its factory is
called with no arguments, or with `generate=` (the session's judge model, a `Generate`
callable, None outside a session) when it takes a parameter of that name; it returns an
object of the `Judge` protocol (name, aspect, applies(case), votes(evidence)). Listed in
`--stab-judges`, it judges every case its `applies` accepts; unlisted, it is dormant: it
judges only the cases that name it in their `checks` (and then only if `applies` agrees),
and its module is imported only when such a case is judged.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

from stabtest.annotators.base import Aspect, CaseEvidence, Judge
from stabtest.core.errors import ConfigError
from stabtest.core.nli import PairClassifier
from stabtest.core.plan import Generate
from stabtest.core.registry import Registry
from stabtest.core.results import Vote
from stabtest.core.suite import JUDGE_GROUP, Case

JudgeFactory = Callable[..., Judge]

JUDGES: Registry[JudgeFactory] = Registry(
    "judge",
    {
        "semantic": "stabtest.annotators.semantic:SemanticJudge",
        "reference": "stabtest.annotators.reference:ReferenceJudge",
        "numeric": "stabtest.annotators.numeric:NumericJudge",
        "contradiction": "stabtest.annotators.contradiction:ContradictionJudge",
        "llm_judge": "stabtest.annotators.llm_judge:LLMJudge",
        "nli": "stabtest.annotators.nli:NLIJudge",
    },
    group=JUDGE_GROUP,
    error=lambda message: ConfigError("--stab-judges", message),
    hint=f", or a judge registered under the entry-point group {JUDGE_GROUP!r}",
)
"""Judge factories by name: the built-ins, then the entry points (never shadowing one)."""


def _built(name: str, generate: Generate | None) -> Judge:
    """The judge of a factory that takes no arguments, or only `generate`."""
    factory = JUDGES.load(name)
    try:
        takes_generate = "generate" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        takes_generate = False
    judge = factory(generate=generate) if takes_generate else factory()
    missing = [a for a in ("name", "aspect", "applies", "votes") if not hasattr(judge, a)]
    if missing:
        raise ConfigError(
            "--stab-judges",
            f"judge {name!r} built a {type(judge).__name__}, which lacks {', '.join(missing)} "
            "(a judge has name, aspect, applies(case) and votes(evidence))",
        )
    return judge


class DormantJudge:
    """A third-party judge that is not listed in settings: it applies only to the cases
    naming it in their `checks`, and is built on the first such case."""

    def __init__(self, name: str, generate: Generate | None = None) -> None:
        self.name = name
        self._generate = generate
        self._judge: Judge | None = None

    @property
    def judge(self) -> Judge:
        if self._judge is None:
            self._judge = _built(self.name, self._generate)
        return self._judge

    @property
    def aspect(self) -> Aspect:
        return self.judge.aspect

    def applies(self, case: Case) -> bool:
        return self.name in case.checks and self.judge.applies(case)

    def votes(self, evidence: CaseEvidence) -> list[Vote]:
        return self.judge.votes(evidence)


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
    model: given one (`--stab-nli-model`), the judge joins whether listed or not. Every
    third-party judge not listed joins dormant (see the module docstring)."""
    from stabtest.annotators.llm_judge import LLMJudge
    from stabtest.annotators.nli import NLIJudge

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
        else:
            judges.append(_built(name, generate))
    judges += [DormantJudge(name, generate) for name in JUDGES.entry_points() if name not in names]
    if "nli" not in names and nli is not None:
        judges.append(NLIJudge(nli, nli_threshold))
    if "llm_judge" not in names and generate is not None:
        judges.append(LLMJudge(generate, every_case=False))
    return judges
