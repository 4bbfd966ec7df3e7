"""The search over training configurations: budget, ranking, interrupts (no training)."""

from __future__ import annotations

from pathlib import Path

from stabtest.remediation.evaluate import ValidationScore
from stabtest.remediation.search import Config, SearchResult, candidates, run_search


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def score(si_after: float, kept: float = 1.0) -> ValidationScore:
    return ValidationScore(0.5, si_after, 0.5, 0.5, kept, 10)


FIRST = Config(2e-4, 0.5, 16, 2.0)


def test_candidates_start_with_the_users_configuration_and_are_unique() -> None:
    found = candidates(FIRST)
    assert found[0] == FIRST and len(found) == len(set(found)) >= 4
    assert candidates(FIRST, search=False) == [FIRST]


def test_the_search_stops_when_the_next_candidate_would_not_fit() -> None:
    clock, trained, discarded = Clock(), [], []

    def train(config: Config, deadline: float) -> list[tuple[int, Path]]:
        trained.append(config)
        clock.now += 40  # each candidate trains for 40 s
        return [(5, Path(f"a{len(trained)}-5")), (10, Path(f"a{len(trained)}-10"))]

    def validate(step: int, adapter: Path) -> tuple[ValidationScore, Path]:
        clock.now += 5
        return score(0.4 - 0.01 * step - 0.1 * len(trained)), Path(f"m-{adapter}")

    result = run_search(
        candidates(FIRST), train, validate, discarded.append, budget_seconds=120, clock=clock,
        progress=lambda _: None,
    )  # fmt: skip
    assert result.configs_tried == 2 and result.stopped_by_budget  # a third needs 50 s more
    assert result.best is not None and result.best.config == trained[-1]
    assert result.best.step == 10 and len(result.trials) == 4
    assert sorted(map(str, discarded)) == ["m-a1-10", "m-a1-5", "m-a2-5"]  # all but the best


def test_an_inadmissible_candidate_never_beats_an_admissible_one() -> None:
    scores = iter([score(0.3), score(0.0, kept=0.5)])  # the second forgets

    result = run_search(
        candidates(FIRST)[:2],
        lambda config, deadline: [(3, Path("a"))],
        lambda step, adapter: (next(scores), Path(f"m{step}")),
        lambda path: None,
        budget_seconds=1e9,
        progress=lambda _: None,
    )
    assert result.best is not None and result.best.config == FIRST
    assert [t.admissible for t in result.trials] == [True, False]


def test_past_the_deadline_the_first_candidate_still_yields_its_last_checkpoint() -> None:
    clock = Clock()

    def train(config: Config, deadline: float) -> list[tuple[int, Path]]:
        clock.now = deadline + 1  # training stopped at the deadline
        return [(2, Path("a2")), (4, Path("a4"))]

    result = run_search(
        candidates(FIRST),
        train,
        lambda step, adapter: (score(0.1), adapter),
        lambda path: None,
        budget_seconds=10,
        clock=clock,
        progress=lambda _: None,
    )
    assert [t.step for t in result.trials] == [4] and result.configs_tried == 1


def search_failing_on_the_second_candidate(error: BaseException) -> SearchResult:
    """A search whose first candidate trains and whose second raises `error`."""
    calls = 0

    def train(config: Config, deadline: float) -> list[tuple[int, Path]]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise error
        return [(3, Path("a"))]

    return run_search(
        candidates(FIRST),
        train,
        lambda step, adapter: (score(0.2), Path("m")),
        lambda path: None,
        budget_seconds=1e9,
        progress=lambda _: None,
    )


def test_ctrl_c_keeps_the_best_finished_candidate() -> None:
    result = search_failing_on_the_second_candidate(KeyboardInterrupt())
    assert result.interrupted and result.best is not None and result.best.config == FIRST


def test_a_candidate_that_runs_out_of_time_before_its_first_step_ends_the_search() -> None:
    result = search_failing_on_the_second_candidate(
        TimeoutError("the budget ran out before one training step")
    )
    assert result.best is not None and result.stopped_by_budget and result.configs_tried == 2
