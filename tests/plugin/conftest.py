"""Helpers for testing the plugin with pytester: a fake backend answering from a JSON
file and the torch-free lexical embedder, so these tests need no model."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy  # noqa: F401
import pytest
import scipy.stats  # noqa: F401
import yaml  # noqa: F401

# Import once here what the plugin imports lazily: pytester's in-process runs drop modules
# first imported inside a run, and numpy, scipy and libyaml's C loader break when imported
# twice.

Writer = Callable[..., None]


@pytest.fixture
def stab_project(pytester: pytest.Pytester) -> Writer:
    """Write a project: suites, fake answers and an ini that points stabtest at them."""

    def write(suites: dict[str, str], answers: dict[str, str], ini: str = "") -> None:
        for name, text in suites.items():
            path = pytester.path / "suites" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (pytester.path / "answers.json").write_text(json.dumps(answers), encoding="utf-8")
        pytester.makeini(
            "[pytest]\n"
            "stab_backend = fake\n"
            f"stab_model = {pytester.path / 'answers.json'}\n"
            "stab_embedder = lexical\n" + ini
        )

    return write


CAPITALS = """\
suite: capitals
cases:
  - id: capital-of-france
    prompt: What is the capital of France?
    reference: Paris
    incorrect: [Lyon]
    paraphrases:
      - Which city is the capital of France?
      - Name the capital of France.
    perturbations: {count: 2, operators: [casing, punctuation]}
"""

CONSISTENT = {"capital of france": "The capital of France is Paris."}
