"""An exploration as terminal lines: the original and the breaking variant side by side,
why it breaks, and what the search cost."""

from __future__ import annotations

from stabtest.core.ids import case_uid
from stabtest.core.text import for_terminal
from stabtest.explore.search import Budget, Exploration, Judged
from stabtest.variants.perturb import OPERATORS


def _shown(text: str) -> str:
    """Quoted with escapes (a variant may differ from the original only in whitespace)."""
    return for_terminal(repr(text), 300, layout=False)


def _answer(judged: Judged) -> str:
    return for_terminal(judged.answer, 300, layout=False)


def render_exploration(exploration: Exploration, budget: Budget) -> list[str]:
    e, usage = exploration, exploration.usage
    operators = "all" if set(e.operators) == set(OPERATORS) else ", ".join(e.operators)
    lines = [
        f"explore {case_uid(e.scope, e.case.id)}: operators {operators} "
        f"({len(e.operators)}), up to {e.max_depth} composed",
        f"  original: {_shown(e.original.prompt)}",
        f"  answer:   {_answer(e.original)}",
    ]
    if e.case.reference is not None:
        lines.append(f"  reference: {for_terminal(e.case.reference, 120, layout=False)}")
    if e.status == "original_fails":
        lines += [
            "the original prompt's answer already fails; nothing to explore:",
            f"  why:      {for_terminal(e.original.why(), 400, layout=False)}",
        ]
    elif e.finding is None:
        cause = {
            "generations": f"the budget of {budget.max_generations} generations ran out",
            "seconds": f"the budget of {budget.max_seconds:g} s ran out",
            None: "hypothesis ran out of candidates",
        }[usage.exhausted]
        lines.append(f"no breaking variant found: {cause}")
    else:
        f = e.finding
        count = len(f.operators)
        note = "" if f.shrunk else " (shrinking cut short by the budget: a smaller one may exist)"
        lines += [
            f"found a breaking variant: {count} operator{'s' if count != 1 else ''} "
            f"({', '.join(f.operators)}, seed {f.seed}), {f.edit_distance} character edit(s)"
            f"{note}",
            f"  variant:  {_shown(f.text)}",
            f"  answer:   {_answer(f.judged)}",
            f"  breaks:   {f.judged.verdict.outcome} "
            f"(confidence {f.judged.verdict.confidence:.2f}): "
            f"{for_terminal(f.judged.why(), 400, layout=False)}",
        ]
    lines.append(
        f"budget: {usage.generations} of {budget.max_generations} generations, "
        f"{usage.cache_hits} cache hit(s), {usage.candidates} candidate(s) judged, "
        f"{usage.examples} draw(s), {usage.seconds:.1f} of {budget.max_seconds:g} s"
    )
    return lines


def summary_line(exploration: Exploration, budget: Budget) -> str:
    """One case's exploration on one line (the pytest summary's `--stab-explore` list)."""
    e, usage = exploration, exploration.usage
    cost = f"{usage.generations} generation(s), {usage.candidates} candidate(s)"
    head = case_uid(e.scope, e.case.id)
    if e.status == "original_fails":
        return f"{head}: the original prompt already fails ({cost})"
    if e.finding is None:
        why = {"generations": "budget spent", "seconds": "time spent", None: "all searched"}
        spent = why[usage.exhausted]
        return f"{head}: no break within {budget.max_generations} generations ({spent}; {cost})"
    f = e.finding
    cut = "" if f.shrunk else ", shrink cut short"
    return (
        f"{head}: breaks with {len(f.operators)} operator(s) ({', '.join(f.operators)}): "
        f"{_shown(f.text)} -> {for_terminal(f.judged.answer, 80, layout=False)} "
        f"[{f.judged.verdict.category or f.judged.verdict.outcome}] ({cost}{cut})"
    )
