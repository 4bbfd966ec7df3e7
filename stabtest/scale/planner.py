"""The plan of a collected session, as a file (`stabtest plan`).

The session's selected cases, their variants already expanded and prepared (model
paraphrases are written during collection, through the cache), become threads; the
texts the judges compare answers with (references, aliases, known-wrong answers) are
listed to embed too; and each case turn the LLM judge will grade (the judges' own
`applies`, so exactly the turns the run grades) becomes grading work, with the judge's
model in the header.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stabtest.core.plan_file import (
    Grading,
    GradingWork,
    PlanCounts,
    PlanHeader,
    Thread,
    write_plan,
)
from stabtest.session import Session

if TYPE_CHECKING:
    from stabtest.annotators.llm_judge import LLMJudge
    from stabtest.core.settings import Settings


def _model_path(settings: Settings, model: str | None) -> str | None:
    """Absolute when it names a file here: the executor's cwd may differ."""
    if model is not None and Path(settings.rootdir, model).exists():
        return str(Path(settings.rootdir, model).resolve())
    return model


def _judge_model(session: Session) -> dict[str, Any]:
    judge = session.judge_settings
    return {
        "fingerprint": session.judge_generator.fingerprint(),
        "backend": judge.backend,
        "model": _model_path(judge, judge.model),
        "backend_options": dict(judge.backend_options),
    }


def plan_header(session: Session, *, graded: bool = False) -> PlanHeader:
    """How an executor rebuilds this session's backend (and, when the plan grades, the
    judge's) and finds its cache."""
    settings = session.settings
    return PlanHeader(
        fingerprint=session.fingerprint(),
        backend=settings.backend,
        model=_model_path(settings, settings.model),
        backend_options=dict(settings.backend_options),
        embedder=settings.embedder,
        cache_dir=str(settings.cache_path.resolve()),
        seed=settings.seed,
        judge=_judge_model(session) if graded else None,
    )


def _llm_judges(session: Session) -> list[LLMJudge]:
    from stabtest.annotators.llm_judge import LLMJudge

    return [j for j in session.ensemble.judges if isinstance(j, LLMJudge)]


def session_gradings(session: Session) -> list[GradingWork]:
    """The turns an LLM judge grades of each case, with the threads whose answers it
    grades: a turn with a reference that the judge `applies` to (the others it abstains
    on). An ensemble holds one LLM judge at most (listed, or dormant), hence one `params`."""
    judges = _llm_judges(session)
    if not judges:
        return []
    out: list[GradingWork] = []
    for reg in session.registry.pending():
        case = reg.case
        views = [case.turn_view(t) for t in range(len(case.turns))] if case.turns else [case]
        turns = tuple(
            (turn, Grading(view.prompt, view.reference, view.aliases, view.incorrect))
            for turn, view in enumerate(views)
            if view.reference is not None and any(j.applies(view) for j in judges)
        )
        if turns:
            threads = tuple(reg.plan_threads(session.settings.seed))
            out.append(GradingWork(turns, judges[0].params, threads))
    return out


def session_threads(session: Session) -> Iterator[Thread]:
    """Every thread of the session's selected cases, in registration order."""
    for reg in session.registry.pending():
        yield from reg.plan_threads(session.settings.seed)


def session_texts(session: Session) -> Iterator[str]:
    """The reference texts of every selected case, and of each turn of a conversation."""
    from stabtest.annotators.case_outcome import reference_texts

    for reg in session.registry.pending():
        case = reg.case
        yield from reference_texts(case)
        for turn in range(len(case.turns)):
            yield from reference_texts(case.turn_view(turn))


def write_session_plan(session: Session, path: Path) -> PlanCounts:
    """Write the session's plan to `path`; returns what it holds."""
    gradings = session_gradings(session)
    header = plan_header(session, graded=bool(gradings))
    return write_plan(path, header, session_threads(session), session_texts(session), gradings)
