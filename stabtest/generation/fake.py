"""A deterministic in-memory backend for stabtest's own tests (no model, no torch).

It records every call so tests can assert how the runner batches and deduplicates.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationRequest, transcript

Answer = str | Sequence[str]


class FakeBackend:
    """Answers by exact prompt, else by the first case-insensitive substring rule that
    matches, else `default`. A list of answers simulates an unstable model: sampled
    requests get `answers[sample % len]`, greedy ones always the first."""

    name = "fake"

    def __init__(
        self,
        answers: Mapping[str, Answer] | None = None,
        default: str = "I don't know.",
        model: str | None = None,
        context: int | str | None = None,
        delay: float | str | None = None,
        record: bool | str = True,
    ):
        if model is not None:  # `--stab-model answers.json`: how plugin tests configure it
            answers = {**load_answers(model), **(answers or {})}
        self.answers: dict[str, Answer] = dict(answers or {})
        self.default = default
        # In words; prompts beyond it are refused, as a model would refuse them.
        self.context = None if context is None else int(context)
        # Seconds each `generate` call takes, as a model's would: how the tests of a plan's
        # execution catch a worker mid-block.
        self.delay = 0.0 if delay is None else float(delay)
        # `record=false`: keep no prompts (a benchmark's million requests).
        self.record = str(record).strip().lower() not in {"false", "0", "no"}
        self.calls = 0
        self.prompts_seen: list[str] = []
        self.batches: list[list[GenerationRequest]] = []

    def fingerprint(self) -> str:
        normalized = {k: v if isinstance(v, str) else list(v) for k, v in self.answers.items()}
        payload = json.dumps([normalized, self.default], sort_keys=True, ensure_ascii=False)
        return "fake:" + hashlib.sha256(payload.encode()).hexdigest()[:16]

    def answer(self, request: GenerationRequest) -> str:
        """A conversation's turn is answered by its whole transcript (`User: ...` /
        `Assistant: ...` lines) when the answers name it exactly, else like a prompt."""
        found = self.answers.get(transcript(request)) if request.history else None
        if found is None:
            found = self.answers.get(request.prompt)
        if found is None:
            lowered = request.prompt.lower()
            found = next((v for k, v in self.answers.items() if k.lower() in lowered), None)
        if found is None:
            return self.default
        if isinstance(found, str):
            return found
        options = list(found)
        return options[0 if request.params.greedy else request.sample % len(options)]

    def prompt_problems(self, requests: Sequence[GenerationRequest]) -> list[str | None]:
        if self.context is None:
            return [None] * len(requests)
        words = [len(transcript(r).split()) for r in requests]
        return [
            f"the prompt has {n} words, beyond the fake model's context of {self.context}"
            if n > self.context
            else None
            for n in words
        ]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.record:
            self.batches.append(list(requests))
            self.prompts_seen.extend(r.prompt for r in requests)
        return [self.answer(r) for r in requests]


def load_answers(path: str) -> dict[str, Answer]:
    """Read a JSON object of prompt (or lowercase substring) -> answer(s)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BackendError(f"fake backend: cannot read answers file {path!r}: {error}") from None
    if not isinstance(data, dict):
        raise BackendError(f"fake backend: {path!r} must hold a JSON object")
    return data
