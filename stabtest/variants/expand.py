"""Expand a case into its variants: the original, the suite's paraphrases, seeded rule
perturbations, and empty model-paraphrase slots that the session fills in one batch; then
the adversarial variants of each family (`word` ones as slots the session fills, since they
need the embedder). Adversarial variants come last, so asking for them moves no other id.

A prompt asked twice is one observation, not two: a paraphrase or perturbation whose text
an earlier variant already has keeps its slot (ids stay positional) but is rejected as a
duplicate, so it is neither generated nor counted, and a `DuplicateVariants` warning says
how many of the case's variants added nothing (e.g. `casing` on "12 + 7 = ?").
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from stabtest.core.suite import Case, Perturbations
from stabtest.core.variant import Family, Variant, stable_seed


class DuplicateVariants(UserWarning):
    """Some variants of a case repeat an earlier prompt; they are rejected, not counted."""


Perturber = Callable[[str, Sequence[str], int, random.Random], tuple[str, tuple[str, ...]]]
"""(text, operator names, depth, rng) -> (perturbed text, operators applied)."""


@dataclass
class VariantExpander:
    """Expands a case into its variants. `perturb` is the rule engine
    (stabtest.variants.perturb by default)."""

    seed: int
    perturb: Perturber | None = None
    _cache: dict[tuple[str, str], tuple[Variant, ...]] = field(default_factory=dict)

    def expand(self, case: Case, scope: str) -> tuple[Variant, ...]:
        key = (scope, case.id)
        if key not in self._cache:
            self._cache[key] = self._expand(case, scope)
        return self._cache[key]

    def _expand(self, case: Case, scope: str) -> tuple[Variant, ...]:
        """A variant is one sequence of user messages (a single prompt: one message): `v0`
        the messages as written; paraphrase variant j takes each turn's j-th paraphrase
        where it has one (else the turn as written); a rule variant perturbs every turn
        but the challenge; then the model-paraphrase slots, then the attacks. A variant
        asking what an earlier one asks keeps its slot but is rejected as a duplicate."""
        talk = bool(case.turns)
        original = tuple(t.prompt for t in case.turns) if talk else (case.prompt,)
        wordings = [t.paraphrases for t in case.turns] if talk else [case.paraphrases]
        variants = [_variant(case, 0, original, "original")]
        first: dict[tuple[str, ...], str] = {original: "v0"}  # messages -> id that has them

        def add(messages: tuple[str, ...], family: Family, operators: tuple[str, ...] = ()) -> None:
            index = len(variants)
            known = first.setdefault(messages, f"v{index}")
            rejected = None if known == f"v{index}" else f"duplicate of {known}"
            variants.append(_variant(case, index, messages, family, operators, rejected))

        for j in range(max(len(w) for w in wordings)):
            add(
                tuple(w[j] if j < len(w) else m for w, m in zip(wordings, original, strict=True)),
                "paraphrase",
            )
        spec = case.perturbations
        if spec.count:
            perturb = self.perturb or _default_perturber()
            rng = random.Random(stable_seed(self.seed, scope, case.id, "rules"))
            fixed = [t.challenge or t.evidence for t in case.turns] if talk else [False]
            for _ in range(spec.count):
                messages, ops = original, tuple[str, ...]()
                for _attempt in range(8):
                    messages, ops = _perturb_messages(original, fixed, spec, perturb, rng)
                    if messages not in first:
                        break
                add(messages, "rule", ops)
        self._warn_duplicates(case, scope, variants[1:])
        blank = ("", *original[1:])  # a slot for a written (or rewritten opening) question
        for _ in range(case.model_paraphrases.count):
            slot = _variant(case, len(variants), blank, "model", rejected="not generated yet")
            variants.append(slot)
        variants += self._attacks(case, scope, first, blank, len(variants))
        return tuple(variants)

    @staticmethod
    def _warn_duplicates(
        case: Case,
        scope: str,
        variants: Sequence[Variant],
        what: str = "paraphrases and perturbations",
    ) -> None:
        """One warning naming the candidates (never v0) rejected as duplicates."""
        duplicates = [v for v in variants if v.rejected and v.rejected.startswith("duplicate")]
        if duplicates:
            warnings.warn(
                DuplicateVariants(
                    f"stabtest: case {case.id!r} ({scope}): {len(duplicates)} of "
                    f"{len(variants)} {what} gave no new prompt "
                    f"({', '.join(v.id for v in duplicates)}); they are skipped, not counted"
                ),
                stacklevel=4,
            )

    def _attacks(
        self,
        case: Case,
        scope: str,
        first: dict[tuple[str, ...], str],
        blank: tuple[str, ...],
        start: int,
    ) -> list[Variant]:
        """`count` variants per adversarial family, numbered from `start`, each family
        under its own seed (adding a family changes no other family's variants). A text
        an earlier variant has is rejected as a duplicate, as above. In a conversation
        the opening question is attacked; later turns stay as written."""
        spec = case.adversarial
        if not spec.families:
            return []
        from stabtest.variants.adversarial import attack

        out: list[Variant] = []
        for family in spec.families:
            rng = random.Random(stable_seed(self.seed, scope, case.id, "attack", family))
            for _ in range(spec.count):
                slot = replace(
                    _variant(case, start + len(out), blank, "adversarial"), attack=family
                )
                if family == "word":  # filled by the session: it needs the embedder
                    out.append(replace(slot, rejected="not attacked yet"))
                    continue
                attacked = slot
                for _attempt in range(8):
                    text, ops = attack(family, case.prompt, rng)
                    attacked = replace(slot.reworded(text), operators=ops)
                    if attacked.messages not in first:
                        break
                known = first.setdefault(attacked.messages, slot.id)
                rejected = None if known == slot.id else f"duplicate of {known}"
                out.append(replace(attacked, rejected=rejected))
        self._warn_duplicates(case, scope, out, "adversarial variants")
        return out


def _variant(
    case: Case,
    index: int,
    messages: tuple[str, ...],
    family: Family,
    operators: tuple[str, ...] = (),
    rejected: str | None = None,
) -> Variant:
    """A variant asking `messages`: a conversation keeps them as its turns."""
    turns = messages if case.turns else ()
    return Variant(case.id, index, messages[0], family, operators, rejected, turns=turns)


def _perturb_messages(
    messages: tuple[str, ...],
    fixed: Sequence[bool],
    spec: Perturbations,
    perturb: Perturber,
    rng: random.Random,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every message but the `fixed` ones (challenge, evidence) perturbed with the same rng, in
    order; the operators applied, in order, without repeats."""
    out: list[str] = []
    applied: list[str] = []
    for message, keep in zip(messages, fixed, strict=True):
        if keep:
            out.append(message)
            continue
        text, ops = perturb(message, spec.operators, spec.depth, rng)
        out.append(text)
        applied += [op for op in ops if op not in applied]
    return tuple(out), tuple(applied)


def _default_perturber() -> Perturber:
    from stabtest.variants.perturb import perturb

    return perturb
