"""The cases of a session, each expanded into its variants once, and which of them run.

Cases are registered as pytest collects them; model paraphrases of a whole suite file are
written in one batched call (the `paraphrase` callable the session hands in, so this module
needs no model), and so are the embedding-bounded `word` attacks (`attack_words`).
Selection keeps deselected cases out of the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from stabtest.core.plan import GenerationParams, GenerationRequest
from stabtest.core.suite import Case
from stabtest.core.variant import Variant, stable_seed
from stabtest.variants.expand import VariantExpander

AnswerLookup = Callable[[GenerationRequest], str | None]
"""The answer to a request when it is known (generated or cached), else None."""
Turned = tuple[Variant, int, int, GenerationRequest]
"""(variant, sample, turn, request): one turn (0-based) of one conversation thread."""
CaseKey = tuple[str, str]
"""(scope, case id): scope is the suite file's or test function's node id."""

Expanded = Sequence[tuple[Case, tuple[Variant, ...]]]
Paraphraser = Callable[[Expanded], list[tuple[Variant, ...]]]
"""Fills the `model` slots of every case's variants; returns the new tuples."""
WordAttacker = Callable[[str, Expanded], list[tuple[Variant, ...]]]
"""(scope, cases) -> the cases' variants with their `word` attack slots filled."""


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

    def threads(self, seed: int, answer: AnswerLookup | None = None) -> list[Turned]:
        """(variant, sample, turn, request) of each (variant, sample) thread, turn by turn
        while the answers are known: turn k carries the thread's turns 0..k-1 and their
        answers as history, so it can be asked only once `answer` knows turn k-1's. A
        single-turn case has one turn per thread and needs no answers."""
        params = GenerationParams.from_sampling(self.case.sampling)
        out: list[Turned] = []
        for variant in self.variants:
            if variant.rejected:
                continue
            request_seed = stable_seed(seed, self.scope, self.case.id, variant.id)
            for sample in range(self.case.sampling.samples):
                history: tuple[tuple[str, str], ...] = ()
                for turn, message in enumerate(variant.messages):
                    request = GenerationRequest(message, params, request_seed, sample, history)
                    out.append((variant, sample, turn, request))
                    said = (
                        answer(request)
                        if answer is not None and turn + 1 < len(variant.messages)
                        else None
                    )
                    if said is None:
                        break
                    history += ((message, said),)
        return out

    def complete(self, threads: Sequence[Turned]) -> bool:
        """Whether `threads` reach the last turn of every thread."""
        per_thread = max(1, len(self.case.turns))
        wanted = sum(not v.rejected for v in self.variants) * self.case.sampling.samples
        return len(threads) == wanted * per_thread


class CaseRegistry:
    """Registered cases in registration order, the selection, and what already ran."""

    def __init__(
        self,
        seed: int,
        *,
        modify: VariantHook | None = None,
        paraphrase: Paraphraser | None = None,
        attack_words: WordAttacker | None = None,
    ):
        self.seed = seed
        self.expander = VariantExpander(seed)
        self.modify = modify
        self.paraphrase = paraphrase
        self.attack_words = attack_words
        self._cases: dict[CaseKey, Registered] = {}
        self._selected: set[CaseKey] | None = None
        self._executed: set[CaseKey] = set()

    def register(self, scope: str, case: Case) -> tuple[Variant, ...]:
        """Expand one case's variants and add it to the plan."""
        return self.register_all(scope, [case])[0]

    def register_all(self, scope: str, cases: Sequence[Case]) -> list[tuple[Variant, ...]]:
        """Expand the variants of a file's cases; model paraphrases of all of them are
        written in one batched call. A case registered before keeps its variants."""
        new = [c for c in cases if (scope, c.id) not in self._cases]
        expanded = [(case, self._modified(case, self.expander.expand(case, scope))) for case in new]
        if self.paraphrase is not None and any(c.model_paraphrases.count for c in new):
            filled = self.paraphrase(expanded)
            expanded = [(case, v) for (case, _), v in zip(expanded, filled, strict=True)]
        if self.attack_words is not None and any("word" in c.adversarial.families for c in new):
            attacked = self.attack_words(scope, expanded)
            expanded = [(case, v) for (case, _), v in zip(expanded, attacked, strict=True)]
        for case, variants in expanded:
            self._cases[(scope, case.id)] = Registered(scope, case, variants)
        return [self._cases[(scope, case.id)].variants for case in cases]

    def _modified(self, case: Case, variants: tuple[Variant, ...]) -> tuple[Variant, ...]:
        if self.modify is None:
            return variants
        return self.modify(case=case, variants=variants) or variants

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
