"""ParaRel (Elazar et al. 2021) patterns + T-REx facts -> fact cases with paraphrases.

ParaRel's human-validated patterns are exactly what a stability case needs: the same
fact asked several equivalent ways. Patterns are cloze sentences written for masked
models, so each becomes an instruction a chat model can follow:
`The capital of [X] is [Y] .` -> `Complete the sentence: The capital of France is ___.`
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stabtest.core.errors import ConfigError, SuiteError
from stabtest.importers._common import (
    ImportedSuite,
    UniqueIds,
    dedupe,
    names_option,
    positive_int,
    read_jsonl,
    slugify,
    text_field,
)

BLANK = "___"
INSTRUCTION = "Complete the sentence: "
DEFAULT_FACTS_PER_RELATION = 5
_SPACE_BEFORE_END = re.compile(r"\s+([.!?])$")
_RELATION = re.compile(r"^P(\d+)$")


def cloze_to_prompt(pattern: str, subject: str) -> str:
    """Fill [X], blank [Y], and tidy the ending left by tokenised patterns (`is [Y] .`)."""
    text = pattern.replace("[X]", subject).replace("[Y]", BLANK)
    text = " ".join(text.split()).rstrip(",;: ")
    text = _SPACE_BEFORE_END.sub(r"\1", text)
    if not text.endswith((".", "!", "?")):
        text += "."
    return INSTRUCTION + text


def _relation_order(name: str) -> tuple[int, str]:
    """Numeric order (P17 before P101), so output reads like the relation catalogue."""
    match = _RELATION.match(name)
    return (int(match.group(1)) if match else 0, name)


def _folders(source: Path) -> tuple[Path, Path]:
    patterns, trex = source / "patterns", source / "trex"
    if not patterns.is_dir() or not trex.is_dir():
        raise SuiteError(str(source), "expected a ParaRel folder holding patterns/ and trex/")
    return patterns, trex


def _pick_relations(patterns_dir: Path, relations: Any) -> list[str]:
    available = sorted((p.stem for p in patterns_dir.glob("P*.jsonl")), key=_relation_order)
    if relations is None:
        if not available:
            raise SuiteError(str(patterns_dir), "no P*.jsonl pattern files")
        return available
    wanted = names_option("pararel.relations", relations)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        raise ConfigError(
            "pararel.relations", f"unknown relations {unknown} (available: {', '.join(available)})"
        )
    return sorted(dict.fromkeys(wanted), key=_relation_order)


def _patterns(path: Path) -> list[str]:
    """Pattern texts in file order; the first is the prompt, so order matters."""
    patterns: list[str] = []
    for line, record in read_jsonl(path):
        pattern = text_field(record, "pattern", path, line)
        for slot in ("[X]", "[Y]"):
            if pattern.count(slot) != 1:
                raise SuiteError(
                    str(path), f"pattern must contain {slot} exactly once", line=line, key="pattern"
                )
        patterns.append(pattern)
    if not patterns:
        raise SuiteError(str(path), "no patterns in the file")
    return patterns


def _facts(path: Path) -> dict[str, list[str]]:
    """Subject -> objects, in file order: several objects for one subject are all right
    answers (a country borders many), so they become one case with aliases."""
    facts: dict[str, list[str]] = {}
    for line, record in read_jsonl(path):
        subject = text_field(record, "sub_label", path, line)
        obj = text_field(record, "obj_label", path, line)
        facts.setdefault(subject, []).append(obj)
    if not facts:
        raise SuiteError(str(path), "no facts in the file")
    return facts


def _choose(subjects: list[str], count: int, seed: int, relation: str) -> list[str]:
    """Seed mixed with the relation, so a relation's picks do not depend on which other
    relations are imported; sampled positions are sorted to keep file order."""
    rng = random.Random(f"{seed}:{relation}")
    picked = rng.sample(range(len(subjects)), k=min(count, len(subjects)))
    return [subjects[index] for index in sorted(picked)]


def _case(
    relation: str, subject: str, objects: list[str], patterns: list[str], ids: UniqueIds
) -> dict[str, Any]:
    prompts = dedupe(cloze_to_prompt(pattern, subject) for pattern in patterns)
    reference, *others = dedupe(objects)
    case: dict[str, Any] = {
        "id": ids.take(f"pararel-{relation}-{slugify(subject)}"),
        "prompt": prompts[0],
        "reference": reference,
    }
    if others:
        case["aliases"] = others
    if len(prompts) > 1:
        case["paraphrases"] = prompts[1:]
    case["tags"] = [relation]
    return case


def _relation_cases(
    source: Path, relation: str, count: int, seed: int, ids: UniqueIds
) -> Iterator[dict[str, Any]]:
    patterns_dir, trex_dir = _folders(source)
    patterns = _patterns(patterns_dir / f"{relation}.jsonl")
    facts = _facts(trex_dir / f"{relation}.jsonl")
    for subject in _choose(list(facts), count, seed, relation):
        yield _case(relation, subject, facts[subject], patterns, ids)


def import_pararel(
    source: Path,
    *,
    limit: int | None = None,
    seed: int = 0,
    relations: str | list[str] | None = None,
    facts_per_relation: int | str = DEFAULT_FACTS_PER_RELATION,
) -> ImportedSuite:
    """`facts_per_relation` seeded picks from each relation (all with a pattern file, or
    `relations`), in relation order, until `limit` cases."""
    count = positive_int("pararel.facts_per_relation", facts_per_relation)
    patterns_dir, _ = _folders(source)
    chosen = _pick_relations(patterns_dir, relations)
    ids = UniqueIds()
    cases: list[dict[str, Any]] = []
    used: list[str] = []
    for relation in chosen:
        if limit is not None and len(cases) >= limit:
            break
        used.append(relation)
        cases.extend(_relation_cases(source, relation, count, seed, ids))
    if limit is not None:
        del cases[limit:]
    return ImportedSuite(
        name="pararel",
        cases=cases,
        defaults={"kind": "fact"},
        description=(
            f"ParaRel facts, {count} per relation (seed {seed}), each asked through the "
            f"relation's paraphrase patterns: {', '.join(used)}."
        ),
    )
