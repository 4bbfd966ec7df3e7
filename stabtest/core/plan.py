"""The generation plan: every (prompt, sample) the session needs, deduplicated.

The plugin builds one plan after collection and runs it in large batches; tests then only
read results. Deduplication is by cache key, so the same prompt asked by two cases, or the
n "samples" of a greedy (temperature 0) case, are generated once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stabtest.core.suite import Sampling


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings that change the answer, and so belong in the cache key."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 48
    system_prompt: str | None = None

    @classmethod
    def from_sampling(cls, sampling: Sampling) -> GenerationParams:
        return cls(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_new_tokens=sampling.max_new_tokens,
            system_prompt=sampling.system_prompt,
        )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def as_dict(self) -> dict[str, object]:
        """`dataclasses.asdict`, without its deep copy of four scalars: a key is made
        several times per request, and at a million requests that copy was half the time
        of executing a plan."""
        return {name: getattr(self, name) for name in _PARAM_NAMES}


_PARAM_NAMES = tuple(f.name for f in fields(GenerationParams))


SAMPLED_KEY_VERSION = 2
"""In the cache key of sampled requests only. Version 2: a sampled answer depends on its
own request alone (the hf backend seeds each row's noise from it), never on its batch;
answers sampled under version 1 (one seed per batch) are not served. Greedy keys, and so
greedy cached answers, are unchanged."""


@dataclass(frozen=True)
class GenerationRequest:
    """One answer to produce. Greedy requests ignore `sample` and `seed`: every sample of a
    deterministic decode is the same answer, so they share one key."""

    prompt: str
    params: GenerationParams
    seed: int = 0
    sample: int = 0
    history: tuple[tuple[str, str], ...] = ()
    """Earlier (user, assistant) exchanges of a conversation; `prompt` is the current user
    message. Part of the key only when present, so single-turn keys never moved."""

    def key(self, fingerprint: str) -> str:
        fields: list[object] = [fingerprint, self.prompt, self.params.as_dict(), 0, 0]
        if not self.params.greedy:
            fields[3:] = [self.seed, self.sample, SAMPLED_KEY_VERSION]
        if self.history:
            fields.append({"history": [list(pair) for pair in self.history]})
        payload = json.dumps(
            fields,
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    @property
    def messages(self) -> list[tuple[str, str]]:
        """The conversation as (role, text): history, then the current user message."""
        return conversation(self.history, self.prompt)

    def chat(self) -> list[dict[str, str]]:
        """Chat messages as templates and chat APIs take them, the system prompt first."""
        system = self.params.system_prompt
        return [*([{"role": "system", "content": system}] if system else []), *chat(self.messages)]

    @property
    def length(self) -> int:
        """Characters of the whole conversation: what a backend has to read."""
        return len(self.prompt) + sum(len(u) + len(a) for u, a in self.history)


def conversation(history: Iterable[tuple[str, str]], prompt: str) -> list[tuple[str, str]]:
    """(role, text) messages: each (user, assistant) exchange of `history`, then `prompt`
    as the user's."""
    out: list[tuple[str, str]] = []
    for user, said in history:
        out += [("user", user), ("assistant", said)]
    return [*out, ("user", prompt)]


def chat(messages: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """(role, text) messages as chat dicts (`{"role": ..., "content": ...}`)."""
    return [{"role": role, "content": text} for role, text in messages]


def transcript_lines(messages: Iterable[tuple[str, str]]) -> list[str]:
    """(role, text) messages as `User: ...` / `Assistant: ...` lines."""
    return [f"{role.capitalize()}: {text}" for role, text in messages]


def transcript(request: GenerationRequest) -> str:
    """A conversation as plain text for a model without a chat template (or a completions
    endpoint): `User: ...` / `Assistant: ...` lines ending with the assistant's cue. A
    single-turn request is its prompt alone, as before."""
    if not request.history:
        return request.prompt
    return "\n".join([*transcript_lines(request.messages), "Assistant:"])


@dataclass
class GenerationPlan:
    """Requests keyed by cache key, in first-seen order."""

    fingerprint: str
    requests: dict[str, GenerationRequest]

    @classmethod
    def build(cls, fingerprint: str, requests: Iterable[GenerationRequest]) -> GenerationPlan:
        plan = cls(fingerprint, {})
        plan.extend(requests)
        return plan

    def extend(self, requests: Iterable[GenerationRequest]) -> None:
        for request in requests:
            self.requests.setdefault(request.key(self.fingerprint), request)

    def __len__(self) -> int:
        return len(self.requests)

    def missing(self, cached: set[str]) -> list[tuple[str, GenerationRequest]]:
        return [(k, r) for k, r in self.requests.items() if k not in cached]


def even_batches(rows: int, most: int) -> list[int]:
    """Sizes of the fewest batches of at most `most` rows that hold `rows`, as even as
    possible: 129 rows at 128 are 65 + 64, not 128 + 1 (a padded batch costs its longest
    answer's steps whatever its rows, so a near-empty last batch costs nearly a full one)."""
    if rows <= 0:
        return []
    count = -(-rows // max(1, most))
    small, extra = divmod(rows, count)
    return [small + 1] * extra + [small] * (count - extra)


def batches(
    items: list[tuple[str, GenerationRequest]],
    size: int,
    lengths: Mapping[str, int] | None = None,
) -> Iterator[list[tuple[str, GenerationRequest]]]:
    """Evenly filled batches of (key, request) that share decoding params, longest prompt
    first within each params group (as lm-evaluation-harness orders its requests): a
    padded batch pads to its longest prompt, so similar lengths together waste the least,
    and the longest go first so memory trouble shows at once. Answers map back by key, so
    order is free. `lengths` (key -> the backend's own measure, tokens for the hf backend)
    orders them; without it characters stand in (core has no tokenizer): on ParaRel,
    batches ordered by characters were padded to 49-64 tokens, by tokens to 41-64."""
    groups: dict[GenerationParams, list[tuple[str, GenerationRequest]]] = {}
    for item in items:
        groups.setdefault(item[1].params, []).append(item)
    for group in groups.values():
        if lengths is None:
            group.sort(key=lambda item: item[1].length, reverse=True)  # stable on ties
        else:
            group.sort(key=lambda item: lengths[item[0]], reverse=True)
        start = 0
        for rows in even_batches(len(group), size):
            yield group[start : start + rows]
            start += rows


Generate = Callable[[Sequence[GenerationRequest]], list[str]]
"""Answers to requests, in order: what the LLM judge and the model paraphraser are given
(a `stabtest.generation.generator.Generator` is one)."""
