"""One remediation round: train on the last run's failures, rerun the suite on held-out
variants with the base and the new model, compare, and accept or reject.

The rerun uses a fresh seed, only held-out rule operators, held-out suite paraphrases and
held-out adversarial families (split.py), and drops any variant whose text was trained
on. Cases with no training example are rerun too, as a control: fine-tuning must not
break what it did not touch.
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from stabtest.core.errors import ConfigError
from stabtest.core.metrics import mean
from stabtest.core.report import REPORT_NAME, read_report
from stabtest.core.results import CaseOutcome, TrainingExample
from stabtest.core.settings import Settings
from stabtest.core.suite import Case, ModelParaphrases, Perturbations
from stabtest.core.variant import Variant
from stabtest.remediation import models
from stabtest.remediation.dataset import DataOptions, build_examples, record, require_examples
from stabtest.remediation.split import (
    held_out_attacks,
    held_out_operators,
    held_out_paraphrase,
)
from stabtest.remediation.train import Hyperparameters, TrainingError, TrainResult, train

FRESH_SEED_STEP = 7919
REPORT = "remediation.json"


@dataclass(frozen=True)
class Gate:
    """Defaults from the issue: held-out SI down >= 20% relative, FC not down > 0.02,
    diversity at least 0.8x, control FC not down > 0.02. The diversity rule guards against
    collapse: per-case RDR falls whenever a case's answers converge (the point of the
    exercise), so it is read across cases (`Side.diversity`), held-out and control
    together."""

    min_si_drop: float = 0.2
    max_fc_drop: float = 0.02
    min_rdr_ratio: float = 0.8
    max_control_fc_drop: float = 0.02


@dataclass
class Side:
    """Aggregates of a set of cases on one model."""

    cases: int = 0
    answers: int = 0
    si: float | None = None
    fc: float | None = None
    rdr: float | None = None
    pass_rate: float | None = None
    diversity: float | None = None
    """Distinct majority answers / cases: 1.0 when every question gets its own answer;
    a model that collapses to one answer for everything drops towards 1/cases."""


def _majority(outcome: CaseOutcome) -> str:
    from collections import Counter

    texts = Counter(
        " ".join(a.text.lower().split())
        for v in outcome.variants.values()
        if not v.rejected
        for a in v.answers
    )
    return texts.most_common(1)[0][0] if texts else ""


def summarize(outcomes: Sequence[CaseOutcome]) -> Side:
    variants = [v for o in outcomes for v in o.variants.values() if not v.rejected]
    return Side(
        cases=len(outcomes),
        answers=sum(o.case.metrics.answers for o in outcomes),
        si=mean(o.case.metrics.si for o in outcomes),
        fc=mean(o.case.metrics.fc for o in outcomes),
        rdr=mean(o.case.metrics.rdr for o in outcomes),
        pass_rate=(sum(v.outcome == "pass" for v in variants) / len(variants))
        if variants
        else None,
        diversity=len({_majority(o) for o in outcomes}) / len(outcomes) if outcomes else None,
    )


def _pooled_diversity(treated: Side, control: Side) -> float | None:
    parts = [(s.diversity, s.cases) for s in (treated, control) if s.diversity is not None]
    total = sum(n for _, n in parts)
    return sum(d * n for d, n in parts) / total if total else None


def judge_gate(before: Side, after: Side, c_before: Side, c_after: Side, gate: Gate) -> list[str]:
    """Every criterion the new model misses (empty: accepted)."""
    missed = []
    if (
        before.si is not None
        and after.si is not None
        and after.si > before.si * (1 - gate.min_si_drop)
        and not before.si == after.si == 0
    ):
        missed.append(
            f"held-out SI {before.si:.3f} -> {after.si:.3f}: needs a drop of at least "
            f"{gate.min_si_drop:.0%}"
        )
    if before.fc is not None and after.fc is not None and after.fc < before.fc - gate.max_fc_drop:
        missed.append(
            f"held-out FC {before.fc:.3f} -> {after.fc:.3f}: dropped more than {gate.max_fc_drop}"
        )
    div_before = _pooled_diversity(before, c_before)
    div_after = _pooled_diversity(after, c_after)
    if div_before and div_after is not None and div_after < div_before * gate.min_rdr_ratio:
        missed.append(
            f"answer diversity across cases {div_before:.3f} -> {div_after:.3f}: below "
            f"{gate.min_rdr_ratio}x (the model collapses towards one answer)"
        )
    if (
        c_before.fc is not None
        and c_after.fc is not None
        and c_after.fc < c_before.fc - gate.max_control_fc_drop
    ):
        missed.append(
            f"control FC {c_before.fc:.3f} -> {c_after.fc:.3f}: dropped more than "
            f"{gate.max_control_fc_drop}"
        )
    return missed


@dataclass
class RoundResult:
    model: str
    accepted: bool
    missed: list[str]
    examples: int
    train: TrainResult
    treated: dict[str, Side]
    control: dict[str, Side]
    per_case: list[dict[str, Any]] = field(default_factory=list)
    report_path: str = ""


def eval_case(case: Case, held_ops: Sequence[str], count: int) -> Case:
    """The case as the rerun asks it: held-out paraphrases, operators and adversarial
    families only."""
    held_attacks = held_out_attacks()
    attacks = case.adversarial.families
    return case.model_copy(
        update={
            "paraphrases": tuple(p for p in case.paraphrases if held_out_paraphrase(p)),
            "perturbations": Perturbations(count=count, operators=tuple(held_ops), depth=1),
            "model_paraphrases": ModelParaphrases(count=0),
            "adversarial": case.adversarial.model_copy(
                update={"families": tuple(f for f in attacks if f in held_attacks)}
            ),
        }
    )


def load_cases(settings: Settings, wanted: set[str]) -> list[tuple[str, Case]]:
    """(scope, case) of the suites whose cases the last run reported."""
    from stabtest.core.loader import load_suite
    from stabtest.variants.perturb import OPERATORS

    root = Path(settings.rootdir)
    found = []
    for path in sorted(root.rglob("*.y*ml")):
        scope = path.relative_to(root).as_posix()
        if not any(fnmatch.fnmatch(scope, p) for p in settings.suites.split()):
            continue
        for case in load_suite(path, scope, OPERATORS).cases:
            if f"{scope}::{case.id}" in wanted:
                found.append((scope, case))
    return found


def trained_texts(examples: Sequence[TrainingExample]) -> set[str]:
    """Every user message training read, whitespace-normalised: the prompts, and in a
    conversation the earlier questions of the thread. A rerun variant asking one of these
    is not unseen."""
    return {
        " ".join(text.split())
        for example in examples
        for text in (example.prompt, *(user for user, _ in example.history))
    }


def _unseen(trained: set[str]) -> Callable[..., tuple[Variant, ...]]:
    def modify(*, case: Case, variants: tuple[Variant, ...]) -> tuple[Variant, ...]:
        return tuple(
            replace(v, rejected="trained on") if " ".join(v.text.split()) in trained else v
            for v in variants
        )

    return modify


def _rerun(
    settings: Settings, model: str | None, cases: Sequence[tuple[str, Case]], trained: set[str]
) -> dict[str, CaseOutcome]:
    from stabtest.session import Session

    session = Session(replace(settings, model=model), modify_variants=_unseen(trained))
    for scope, case in cases:
        session.register(scope, case)
    return {f"{scope}::{case.id}": session.outcome(scope, case.id) for scope, case in cases}


def remediate(
    settings: Settings,
    options: DataOptions | None = None,
    hp: Hyperparameters | None = None,
    gate: Gate | None = None,
    eval_variants: int = 4,
    progress: Callable[[str], None] = print,
) -> RoundResult:
    """Train one round and judge it (see the module docstring)."""
    options, hp, gate = options or DataOptions(), hp or Hyperparameters(), gate or Gate()
    from stabtest.variants.perturb import OPERATORS

    if settings.backend != "hf":
        raise TrainingError(
            f"--stab-backend {settings.backend}: remediation fine-tunes a local transformers "
            "model (--stab-backend hf); an HTTP endpoint cannot be trained from here"
        )
    report = read_report(settings.report_path / REPORT_NAME)
    held_ops = held_out_operators(OPERATORS)
    examples = training_examples(settings, options, hp.method)
    trained_cases = {e.uid.split("[", 1)[0] for e in examples}
    trained_prompts = trained_texts(examples)
    progress(f"remediation: {len(examples)} training example(s) from {len(trained_cases)} case(s)")

    from stabtest.generation.hf import HFBackend

    base = HFBackend(settings.model, cache_dir=None)
    base_dir = base.model_dir()
    base_label = (settings.model and Path(settings.model).name) or "smollm2-135m"
    base_label = base_label.split("-r")[0] if "-r" in base_label else base_label
    models.clean_partials(settings.cache_path)
    number = models.next_round(settings.cache_path, base_label)
    partial = models.partial_dir(settings.cache_path)
    progress(
        f"remediation: training round {number} ({hp.method}, LoRA r={hp.lora_r}) on {base_dir}"
    )
    result = train(base_dir, examples, partial, hp)
    progress(
        f"remediation: {result.steps} step(s) in {result.seconds:.1f} s, loss "
        f"{result.losses[0]:.3f} -> {result.losses[-1]:.3f}"
        if result.losses
        else "no loss logged"
    )

    cases = load_cases(settings, {c.uid for c in report.cases})
    if not cases:
        raise ConfigError("stab_suites", "no suite case of the last report was found to rerun")
    eval_settings = replace(settings, seed=settings.seed + FRESH_SEED_STEP * number)
    evaluated = [(scope, eval_case(case, held_ops, eval_variants)) for scope, case in cases]
    progress(f"remediation: rerunning {len(evaluated)} case(s) on held-out variants, base model")
    before = _rerun(eval_settings, settings.model, evaluated, trained_prompts)
    progress("remediation: rerunning on the new model")
    after = _rerun(eval_settings, str(partial), evaluated, trained_prompts)

    treated_keys = [k for k in before if k in trained_cases]
    control_keys = [k for k in before if k not in trained_cases]
    sides = {
        name: (summarize([before[k] for k in keys]), summarize([after[k] for k in keys]))
        for name, keys in (("treated", treated_keys), ("control", control_keys))
    }
    missed = judge_gate(*sides["treated"], *sides["control"], gate)
    records = [record(e, hp.method) for e in examples]
    digest = models.data_hash(records)
    final = models.models_dir(settings.cache_path) / f"{base_label}-r{number}-{digest[:8]}"
    per_case = [
        {
            "case": key,
            "trained": key in trained_cases,
            "before": asdict(summarize([before[key]])),
            "after": asdict(summarize([after[key]])),
            "prompts": [v.prompt for v in after[key].variants.values() if not v.rejected],
        }
        for key in before
    ]
    manifest = {
        "round": number,
        "base": base_label,
        "base_fingerprint": base.fingerprint(),
        "base_dir": str(base_dir),
        "training_data_hash": digest,
        "examples": len(examples),
        "method": hp.method,
        "hyperparameters": asdict(hp),
        "seed": eval_settings.seed,
        "steps": result.steps,
        "seconds": result.seconds,
        "peak_rss_mb": result.peak_rss_mb,
        "losses": result.losses,
        "treated": {
            k: asdict(v) for k, v in zip(("before", "after"), sides["treated"], strict=True)
        },
        "control": {
            k: asdict(v) for k, v in zip(("before", "after"), sides["control"], strict=True)
        },
        "gate": asdict(gate),
        "missed": missed,
        "accepted": not missed,
        "created_at": time.time(),
    }
    done = models.finish(partial, final, manifest)
    out = RoundResult(
        model=str(done.path),
        accepted=not missed,
        missed=missed,
        examples=len(examples),
        train=result,
        treated=dict(zip(("before", "after"), sides["treated"], strict=True)),
        control=dict(zip(("before", "after"), sides["control"], strict=True)),
        per_case=per_case,
    )
    path = settings.report_path / REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**manifest, "model": out.model, "per_case": per_case}, indent=1))
    os.replace(tmp, path)
    out.report_path = str(path)
    return out


def select(examples: list[TrainingExample], method: str) -> list[TrainingExample]:
    """Replay examples only in cases that have a failure to correct (cases with nothing to
    correct stay untouched: they are the control), and none for DPO (no rejected answer)."""
    corrected = {e.uid.split("[", 1)[0] for e in examples if e.family != "replay"}
    return [
        e
        for e in examples
        if (e.family != "replay" or e.uid.split("[", 1)[0] in corrected)
        and (method != "dpo" or e.rejected is not None)
    ]


def training_examples(
    settings: Settings, options: DataOptions, method: str = "sft"
) -> list[TrainingExample]:
    """The examples a round trains on (and `stabtest export` writes): from the last
    report and the gold store; a clear error when there are none."""
    from stabtest.adjudication.actions import load_gold
    from stabtest.variants.perturb import OPERATORS

    report = read_report(settings.report_path / REPORT_NAME)
    snapshot = load_gold(settings)
    labels = dict(snapshot.labels) if snapshot is not None else {}
    examples = build_examples(report.variants, labels, held_out_operators(OPERATORS), options)
    examples = select(examples, method)
    require_examples(examples, options)
    return examples
