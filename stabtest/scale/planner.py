"""The plan of a collected session, as a file (`stabtest plan`).

The session's selected cases, their variants already expanded and prepared (model
paraphrases are written during collection, through the cache), become threads; the
texts the judges compare answers with (references, aliases, known-wrong answers) are
listed to embed too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from stabtest.core.plan_file import PlanCounts, PlanHeader, Thread, write_plan
from stabtest.session import Session


def plan_header(session: Session) -> PlanHeader:
    """How an executor rebuilds this session's backend and finds its cache."""
    settings = session.settings
    model = settings.model
    if model is not None and Path(settings.rootdir, model).exists():
        model = str(Path(settings.rootdir, model).resolve())  # the executor's cwd may differ
    return PlanHeader(
        fingerprint=session.fingerprint(),
        backend=settings.backend,
        model=model,
        backend_options=dict(settings.backend_options),
        embedder=settings.embedder,
        cache_dir=str(settings.cache_path.resolve()),
        seed=settings.seed,
    )


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
    return write_plan(path, plan_header(session), session_threads(session), session_texts(session))
