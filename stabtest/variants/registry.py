"""The cases of a session with their variants, and which of them run.

The session adds each case once, its variants already expanded and prepared (model
paraphrases and word attacks are a step of the session's, before anything runs);
selection keeps deselected cases out of the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from stabtest.core.plan import GenerationParams, GenerationRequest
from stabtest.core.plan_file import Thread
from stabtest.core.suite import Case
from stabtest.core.variant import Variant, stable_seed

AnswerLookup = Callable[[GenerationRequest], str | None]
"""The answer to a request when it is known (generated or cached), else None."""
Turned = tuple[Variant, int, int, GenerationRequest]
"""(variant, sample, turn, request): one turn (0-based) of one conversation thread."""
CaseKey = tuple[str, str]
"""(scope, case id): scope is the suite file's or test function's node id."""

Expanded = Sequence[tuple[Case, tuple[Variant, ...]]]


class VariantHook(Protocol):
    """`pytest_stabtest_modify_variants`: a replacement tuple, or None to keep them."""

    def __call__(
        self, *, case: Case, variants: tuple[Variant, ...]
    ) -> tuple[Variant, ...] | None: ...


@dataclass(frozen=True)
class Registered:
    """A case as the session knows it: where it came from and its variants."""

    scope: str
    case: Case
    variants: tuple[Variant, ...]

    @property
    def key(self) -> CaseKey:
        return (self.scope, self.case.id)

    def requests(
        self, seed: int, answer: AnswerLookup | None = None
    ) -> list[tuple[Variant, int, GenerationRequest]]:
        """(variant, sample, request) for every sample of every non-rejected variant: for
        a conversation, every turn `answer` makes askable (see `threads`)."""
        return [
            (variant, sample, request) for variant, sample, _, request in self.threads(seed, answer)
        ]

    def plan_threads(self, seed: int) -> list[Thread]:
        """The user messages of each (variant, sample) of every non-rejected variant, with
        its decoding params and seed: what a plan file holds (`core.plan_file`)."""
        params = GenerationParams.from_sampling(self.case.sampling)
        return [
            Thread(
                variant.messages,
                params,
                stable_seed(seed, self.scope, self.case.id, variant.id),
                sample,
            )
            for variant in self.variants
            if not variant.rejected
            for sample in range(self.case.sampling.samples)
        ]

    def threads(self, seed: int, answer: AnswerLookup | None = None) -> list[Turned]:
        """(variant, sample, turn, request) of each (variant, sample) thread, turn by turn
        while the answers are known: turn k carries the thread's turns 0..k-1 and their
        answers as history, so it can be asked only once `answer` knows turn k-1's. A
        single-turn case has one turn per thread and needs no answers."""
        variants = [v for v in self.variants if not v.rejected]
        samples = self.case.sampling.samples
        out: list[Turned] = []
        for index, thread in enumerate(self.plan_threads(seed)):
            variant, answers = variants[index // samples], list[str]()
            for turn in range(len(thread.messages)):
                request = thread.request(answers)
                out.append((variant, thread.sample, turn, request))
                said = (
                    answer(request)
                    if answer is not None and turn + 1 < len(thread.messages)
                    else None
                )
                if said is None:
                    break
                answers.append(said)
        return out

    def complete(self, threads: Sequence[Turned]) -> bool:
        """Whether `threads` reach the last turn of every thread."""
        per_thread = max(1, len(self.case.turns))
        wanted = sum(not v.rejected for v in self.variants) * self.case.sampling.samples
        return len(threads) == wanted * per_thread


class CaseRegistry:
    """Registered cases in registration order, the selection, and what already ran. A
    store only: the session expands and prepares the variants it adds."""

    def __init__(self) -> None:
        self._cases: dict[CaseKey, Registered] = {}
        self._selected: set[CaseKey] | None = None
        self._executed: set[CaseKey] = set()

    def unknown(self, scope: str, cases: Sequence[Case]) -> list[Case]:
        """The cases not registered yet (a case registered before keeps its variants)."""
        return [c for c in cases if (scope, c.id) not in self._cases]

    def add(self, scope: str, expanded: Expanded) -> None:
        for case, variants in expanded:
            self._cases[(scope, case.id)] = Registered(scope, case, variants)

    def variants_of(self, scope: str, cases: Sequence[Case]) -> list[tuple[Variant, ...]]:
        return [self._cases[(scope, case.id)].variants for case in cases]

    def __getitem__(self, key: CaseKey) -> Registered:
        return self._cases[key]

    def __iter__(self) -> Iterator[Registered]:
        return iter(self._cases.values())

    def __len__(self) -> int:
        return len(self._cases)

    def select(self, keys: Iterable[CaseKey]) -> None:
        """Plan only these cases: deselected cases cost nothing."""
        self._selected = set(keys)

    def want(self, key: CaseKey) -> None:
        """A case asked for outside the selection (an inline check) joins it."""
        if self._selected is not None:
            self._selected.add(key)

    def pending(self) -> list[Registered]:
        """Selected cases whose answers have not been generated yet."""
        return [
            reg
            for key, reg in self._cases.items()
            if key not in self._executed and (self._selected is None or key in self._selected)
        ]

    def mark_executed(self, regs: Iterable[Registered]) -> None:
        self._executed.update(reg.key for reg in regs)
