"""The hypothesis search for the smallest perturbation that breaks a case.

Candidates are compositions of the registered perturbation operators, drawn by
`stabtest.variants.strategies.perturbations` (a list of operator names and an rng seed);
`hypothesis.find` looks for one whose answer breaks and then shrinks it toward fewer
operators, earlier ones and seed 0; a last polish tries the other wordings of the
operators it settled on that are closer to the original, closest first. The wording
reported is then a small edit rather than the first pile of edits that happened to
break.

A candidate breaks when, judged beside the original prompt by the session's judges, its
answer's verdict is `fail`: wrong against the case's reference, or diverging from the
original's answer. An `escalate` (the judges unsure) is not a break. The original is
judged first, alone: if its own verdict is `fail` there is nothing to explore. In a
conversation the opening question is perturbed and the whole thread is asked: it breaks
at its first failing turn (wrong, diverging from the original thread at that turn, or a
recall turn drifting).

Every answer goes through the session's generator, so its cache: a candidate met twice
(many draws give the same text) costs one generation, and a rerun replays. The budget
counts generations (cache misses) and seconds; once either is spent, candidates whose
answer is not cached count as not breaking, so hypothesis ends cheaply, and a shrink cut
short says so. Found examples go to hypothesis's example database under the cache dir,
keyed by the case and the search's shape (not the model): the next run of that case
tries the last breaking example first.

Explore asks each prompt once and greedily (temperature 0, one sample): a sampled answer
that changes could be sampling noise, and the search looks for a change of wording.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from stabtest.core.errors import StabtestError
from stabtest.core.ids import case_uid
from stabtest.core.plan import GenerationParams, GenerationRequest
from stabtest.core.results import ExploreResult, Verdict
from stabtest.core.suite import Adversarial, Case, ModelParaphrases, Perturbations
from stabtest.variants.perturb import application_order, apply_operators, resolve_operators

if TYPE_CHECKING:
    from hypothesis.database import ExampleDatabase

    from stabtest.session import Session
    from stabtest.variants.strategies import Perturbation

Status = Literal["found", "not_found", "original_fails"]
DEFAULT_MAX_GENERATIONS = 60
DEFAULT_MAX_SECONDS = 300.0
DEFAULT_MAX_DEPTH = 3
EXAMPLES_PER_GENERATION = 25
"""Hypothesis examples allowed per generation of budget: most draws repeat a text already
judged (cached, free) or change nothing, so the search needs many more draws than
generations; past the budget each draw costs microseconds."""
MAX_EXAMPLES = 5000
POLISH_SEEDS = 100
"""Seeds whose wordings the polish after the shrink considers (string work only; only
the ones closer to the original than the shrunk wording are asked)."""


@dataclass(frozen=True)
class Budget:
    """How much a search may cost: generated answers (cache misses) and wall seconds."""

    max_generations: int = DEFAULT_MAX_GENERATIONS
    max_seconds: float = DEFAULT_MAX_SECONDS

    def __post_init__(self) -> None:
        if self.max_generations < 1:
            raise ValueError(f"max generations must be >= 1, got {self.max_generations}")
        if self.max_seconds <= 0:
            raise ValueError(f"max seconds must be > 0, got {self.max_seconds}")


@dataclass
class Usage:
    """What a search cost. `generations`: answers the model generated (the original's
    included when it was not cached); `cache_hits`: candidates whose answer the cache
    already held; `candidates`: distinct perturbed prompts judged; `examples`: draws
    hypothesis made (repeats and no-op perturbations included); `over_budget`: candidates
    left unjudged because the budget was spent."""

    generations: int = 0
    cache_hits: int = 0
    candidates: int = 0
    examples: int = 0
    over_budget: int = 0
    seconds: float = 0.0
    exhausted: Literal["generations", "seconds"] | None = None


@dataclass(frozen=True)
class Judged:
    """One prompt's answer and the verdict on it (beside the original, for a candidate)."""

    prompt: str
    answer: str
    verdict: Verdict
    correct: bool | None
    turn: int = 0
    """In a conversation, the turn (0-based) of the answer: the first that failed."""

    @property
    def breaks(self) -> bool:
        return self.verdict.outcome == "fail"

    def why(self) -> str:
        """The judges' reason, with the failure category when there is one (and the turn,
        in a conversation)."""
        category = f"{self.verdict.category}: " if self.verdict.category else ""
        turn = f"turn {self.turn + 1}: " if self.turn else ""
        return f"{turn}{category}{self.verdict.reason}"


@dataclass(frozen=True)
class Finding:
    """The smallest breaking perturbation found. `shrunk` is false when the budget ran
    out while hypothesis was still shrinking (a smaller one may exist)."""

    operators: tuple[str, ...]
    seed: int
    judged: Judged
    edit_distance: int
    shrunk: bool

    @property
    def text(self) -> str:
        return self.judged.prompt


@dataclass(frozen=True)
class Exploration:
    """A search's result: `found` (with `finding`), `not_found` (the budget ran out, or
    hypothesis ran out of candidates) or `original_fails` (nothing to explore)."""

    scope: str
    case: Case
    status: Status
    original: Judged
    finding: Finding | None
    usage: Usage
    operators: tuple[str, ...]
    max_depth: int

    def result(self) -> ExploreResult:
        """The record the JSON report keeps (`--stab-explore`)."""
        found, usage = self.finding, self.usage
        return ExploreResult(
            uid=case_uid(self.scope, self.case.id),
            status=self.status,
            prompt=found.text if found else None,
            operators=found.operators if found else (),
            answer=found.judged.answer if found else None,
            reason=found.judged.why() if found else None,
            edit_distance=found.edit_distance if found else None,
            shrunk=found.shrunk if found else None,
            generations=usage.generations,
            candidates=usage.candidates,
        )


@dataclass
class Explorer:
    """Searches one case of one session. `clock` is injectable so tests can spend the
    seconds budget without sleeping."""

    session: Session
    scope: str
    case: Case
    budget: Budget = field(default_factory=Budget)
    operators: Sequence[str] = ()
    max_depth: int = DEFAULT_MAX_DEPTH
    database_dir: Path | None = None
    clock: Callable[[], float] = time.monotonic
    seed: int | None = None
    """A fixed seed makes the search reproducible (tests, benchmarks); hypothesis then
    uses no example database, so nothing is replayed or stored."""

    def __post_init__(self) -> None:
        self.operators = resolve_operators(self.operators)  # ValueError names a bad one
        if self.max_depth < 1:
            raise ValueError(f"max depth must be >= 1, got {self.max_depth}")
        self.probe = greedy(self.case)
        self.usage = Usage()
        self._judged: dict[str, Judged] = {}
        self._refused: set[str] = set()
        self._probes = 0
        self._started = 0.0
        self._found = False
        self._cut_after_found = False

    # -- the search ------------------------------------------------------------------
    def run(self) -> Exploration:
        self._started = self.clock()
        try:
            original = self._judge(self.probe.prompt, beside_original=False)
            assert original is not None  # the budget is never spent before the first answer
            if original.breaks:
                return self._result("original_fails", original, None)
            found = self._search()
            if found is None:
                return self._result("not_found", original, None)
            operators, seed, text = self._polish(found)
            finding = Finding(
                operators,
                seed,
                self._judged[text],  # it broke, so it was judged
                edit_distance(self.probe.prompt, text),
                shrunk=not self._cut_after_found,
            )
            return self._result("found", original, finding)
        finally:
            self.usage.seconds = round(self.clock() - self._started, 3)

    def _result(self, status: Status, original: Judged, finding: Finding | None) -> Exploration:
        return Exploration(
            self.scope,
            self.case,
            status,
            original,
            finding,
            self.usage,
            tuple(self.operators),
            self.max_depth,
        )

    def _search(self) -> Perturbation | None:
        from hypothesis import Phase, find
        from hypothesis import settings as hypothesis_settings
        from hypothesis.errors import NoSuchExample

        from stabtest.variants.strategies import perturbations

        strategy = perturbations(self.probe.prompt, self.operators, self.max_depth, min_depth=1)
        examples = min(MAX_EXAMPLES, EXAMPLES_PER_GENERATION * self.budget.max_generations)
        config = hypothesis_settings(
            database=self._database(),
            max_examples=examples,
            deadline=None,  # a real model takes longer than hypothesis's default 200 ms
            phases=(Phase.reuse, Phase.generate, Phase.shrink),
        )
        seeded = None if self.seed is None else random.Random(self.seed)
        try:
            return find(
                strategy,
                self._breaks,
                settings=config,
                random=seeded,
                database_key=self.database_key,
            )
        except NoSuchExample:
            return None

    def _polish(self, found: Perturbation) -> tuple[tuple[str, ...], int, str]:
        """(operators, seed, text) of the closest breaking wording. Hypothesis shrinks
        toward fewer operators and seed 0, and a smaller seed is not a smaller edit (seed 0
        of `casing` may upper-case the whole prompt where another seed lower-cases one
        letter): with the operators it settled on, the wordings of the first POLISH_SEEDS
        seeds that are closer to the original (fewer operators applied, then fewer
        characters edited) are judged closest first, and the first that breaks wins."""
        prompt, order = self.probe.prompt, application_order(found.operators)
        options: dict[str, tuple[tuple[str, ...], int]] = {}
        for seed in range(POLISH_SEEDS):
            text, applied = apply_operators(prompt, order, random.Random(seed))
            if text != prompt:
                options.setdefault(text, (applied, seed))
        best = (len(found.operators), edit_distance(prompt, found.text))
        closer = sorted(
            (len(applied), edit_distance(prompt, text), text)
            for text, (applied, _) in options.items()
        )
        for size, distance, text in closer:
            if (size, distance) >= best:
                break
            judged = self._judge(text, beside_original=True)
            if judged is not None and judged.breaks:
                return (*options[text], text)
        return found.operators, found.seed, found.text

    def _database(self) -> ExampleDatabase | None:
        if self.database_dir is None or self.seed is not None:
            return None
        from hypothesis.database import DirectoryBasedExampleDatabase

        return DirectoryBasedExampleDatabase(str(self.database_dir))

    @property
    def database_key(self) -> bytes:
        """The case and the search's shape (a stored example is a list of draws, which
        means another perturbation under other operators), not the model: a new model
        is tried first on what broke the last one."""
        shape = [self.scope, self.case.id, self.probe.prompt, list(self.operators), self.max_depth]
        return hashlib.sha256(json.dumps(shape, ensure_ascii=False).encode()).digest()

    def _breaks(self, perturbation: Perturbation) -> bool:
        self.usage.examples += 1
        if perturbation.text == self.probe.prompt:
            return False
        judged = self._judge(perturbation.text, beside_original=True)
        if judged is None:
            return False
        if judged.breaks:
            self._found = True
        return judged.breaks

    # -- judging through the session ----------------------------------------------------
    def _judge(self, text: str, *, beside_original: bool) -> Judged | None:
        """The verdict on `text`'s answer, or None when its answer is not cached and the
        budget is spent, or the backend refused the candidate (a prompt beyond its
        context). Each text is judged once."""
        known = self._judged.get(text)
        if known is not None or text in self._refused:
            return known
        cached = self._is_cached(text)
        if not cached and self._spent():
            self.usage.over_budget += 1
            self._cut_after_found = self._cut_after_found or self._found
            return None
        if beside_original:
            self.usage.candidates += 1
            self.usage.cache_hits += int(cached)
        self._probes += 1
        scope = f"{self.scope}#explore{self._probes}"
        probe = worded(self.probe, (text,) if beside_original else ())
        try:
            outcome = self.session.judge_once(scope, probe)
        except StabtestError:
            if not beside_original or self.session.failure is not None:
                raise
            self._refused.add(text)  # beyond the model's context: not a break
            return None
        finally:
            self.usage.generations += self.session.take_stats().generated
        variant = list(outcome.variants.values())[-1]
        # a conversation breaks at its first failing turn (one answer for a single prompt)
        answer = next((a for a in variant.answers if a.verdict.outcome == "fail"), None)
        answer = answer or variant.answers[0]
        judged = Judged(text, answer.text, answer.verdict, answer.correct, answer.turn)
        self._judged[text] = judged
        return judged

    def _is_cached(self, text: str) -> bool:
        params = GenerationParams.from_sampling(self.probe.sampling)
        key = GenerationRequest(text, params).key(self.session.fingerprint())
        return bool(self.session.generator.cached([key]))

    def _spent(self) -> bool:
        if self.usage.generations >= self.budget.max_generations:
            self.usage.exhausted = "generations"
            return True
        if self.clock() - self._started >= self.budget.max_seconds:
            self.usage.exhausted = "seconds"
            return True
        return False


def greedy(case: Case) -> Case:
    """The case as explore asks it: one greedy answer per prompt, its own paraphrases
    (every turn's, in a conversation), rule perturbations, model paraphrases and attacks
    left out (only the probe's prompts run)."""
    sampling = case.sampling.model_copy(update={"temperature": 0.0, "samples": 1})
    bare = case.model_copy(
        update={
            "sampling": sampling,
            "perturbations": Perturbations(),
            "model_paraphrases": ModelParaphrases(),
            "adversarial": Adversarial(),
        }
    )
    return worded(bare, ())


def worded(case: Case, paraphrases: tuple[str, ...]) -> Case:
    """`case` with these paraphrases of its prompt: a conversation's opening question
    (its later turns as written, so each candidate is one whole thread)."""
    if not case.turns:
        return case.model_copy(update={"paraphrases": paraphrases})
    first, *rest = case.turns
    later = [turn.model_copy(update={"paraphrases": ()}) for turn in rest]
    return case.model_copy(
        update={"turns": (first.model_copy(update={"paraphrases": paraphrases}), *later)}
    )


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance in characters (insertions, deletions, substitutions)."""
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(a, b))


def explore(
    session: Session,
    scope: str,
    case: Case,
    budget: Budget | None = None,
    *,
    operators: Sequence[str] = (),
    max_depth: int = DEFAULT_MAX_DEPTH,
    database_dir: Path | None = None,
) -> Exploration:
    """Search `case` (registered under `scope`, e.g. `suites/capitals.yaml`) for the
    smallest breaking perturbation; see the module docstring."""
    explorer = Explorer(
        session,
        scope,
        case,
        budget or Budget(),
        operators=operators,
        max_depth=max_depth,
        database_dir=database_dir,
    )
    return explorer.run()


def database_dir(cache_path: Path) -> Path:
    """Where hypothesis keeps explore's examples: `<cache_dir>/explore`."""
    return cache_path / "explore"
