"""A variant: one equivalent form of a case's prompt, with an id that never moves.

Ids are positional within fixed slots: `v0` is the original prompt, then the suite's own
paraphrases, then the seeded rule perturbations, then the model-paraphrase slots, then the
adversarial variants, whose ids also name their attack family (`v7-char`; see
stabtest.variants.expand). The same case and seed always give the same ids and texts, in
every process and xdist worker.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

Family = Literal["original", "paraphrase", "rule", "model", "adversarial"]


@dataclass(frozen=True)
class Variant:
    """One prompt to ask. `family` groups variants by origin (remediation holds families
    out); `operators` names the perturbations that made a `rule` variant."""

    case_id: str
    index: int
    text: str
    family: Family
    operators: tuple[str, ...] = ()
    rejected: str | None = None
    attack: str | None = None
    turns: tuple[str, ...] = ()
    """A conversation's user messages in order (`text` is the first); empty for a
    single-turn case."""

    @property
    def messages(self) -> tuple[str, ...]:
        """The user messages this variant sends: its turns, or its one text."""
        return self.turns or (self.text,)

    @property
    def id(self) -> str:
        return f"v{self.index}-{self.attack}" if self.attack else f"v{self.index}"

    def reworded(self, text: str) -> Variant:
        """This slot asking `text`: in a conversation, as its opening question (later
        turns stay as written). Model paraphrases and attacks fill their slots so."""
        return replace(self, text=text, turns=(text, *self.turns[1:]) if self.turns else ())

    def duplicate_of(self, earlier: Iterable[Variant]) -> str | None:
        """The id of the first of `earlier` that asks the same messages, case and
        surrounding space aside (an unfilled slot asks nothing)."""
        asked = [m.strip().lower() for m in self.messages]
        for other in earlier:
            if other.text and [m.strip().lower() for m in other.messages] == asked:
                return other.id
        return None


def stable_seed(*parts: object) -> int:
    """A 31-bit seed derived from its parts with SHA-256: unlike `hash()`, the same in
    every process, so xdist workers and reruns agree; small enough for SQLite and torch."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1
