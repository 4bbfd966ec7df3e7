"""Remediation rounds, step by step: data -> split -> train (a search, chosen on
validation) -> evaluate (held-out rerun) -> gate -> save.

Round 1 trains from the model of the last run on that run's failures; with `rounds > 1`
each accepted round is rerun on the suites and the next trains from it on its own new
failures, gated against it. A rejected round ends the loop; the last accepted model is
the one to ship. Every round is kept as a versioned directory (models.py) whether
accepted or not, and `reports/remediation.json` (schema `SCHEMA_VERSION`) is rewritten
after each round, so an interrupted loop still says what finished.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from stabtest.core.atomic import write_atomic
from stabtest.core.errors import ConfigError, StabtestError
from stabtest.core.ids import case_uid, scope_of
from stabtest.core.report import REPORT_NAME, RunReport, read_report
from stabtest.core.results import CaseOutcome, GoldLabel, TrainingExample, VariantResult
from stabtest.core.settings import Settings
from stabtest.core.suite import ModelParaphrases
from stabtest.remediation import models
from stabtest.remediation.dataset import DataOptions, build_examples, record, require_examples
from stabtest.remediation.evaluate import (
    Scoped,
    ValidationScore,
    held_out_case,
    load_cases,
    rerun,
    score,
    trained_texts,
    validation_case,
)
from stabtest.remediation.gate import Criterion, Gate, Paired, Side, judge, summarize
from stabtest.remediation.partition import Partition, Roles, partition
from stabtest.remediation.rewrite import Generate, rewrite_targets
from stabtest.remediation.search import Config, SearchResult, Trial, candidates, run_search
from stabtest.remediation.split import held_out_operators
from stabtest.remediation.train import Hyperparameters, TrainingError, TrainResult, merge, train
from stabtest.reporting.remediation_view import SCHEMA_VERSION

FRESH_SEED_STEP = 7919
REPORT = "remediation.json"
CHECKPOINTS = 3
"""Adapters saved per candidate, evenly spaced over its steps (the last included)."""


@dataclass(frozen=True)
class Plan:
    """Everything a remediation run is told."""

    data: DataOptions = field(default_factory=DataOptions)
    roles: Roles = field(default_factory=Roles)
    hp: Hyperparameters = field(default_factory=Hyperparameters)
    gate: Gate = field(default_factory=Gate)
    eval_variants: int = 4
    budget_minutes: float = 30.0
    search: bool = True
    rounds: int = 1
    min_kept: float = 0.95
    """Of the right validation answers, the share a candidate must keep right."""


def plan_from_settings(settings: Settings) -> Plan:
    """The plan the `remediate_*` settings describe (flags, ini keys, `[tool.stabtest]`):
    what `stabtest remediate`, `stabtest export` and a run's `--remediate` are told. The
    training seed is the run's seed; the LoRA alpha is twice its rank."""
    return Plan(
        data=DataOptions(
            weak=settings.remediate_weak,
            min_confidence=settings.remediate_min_confidence,
            stability_weight=settings.remediate_stability_weight,
            rewrite=settings.remediate_restate,
            replay_weight=settings.remediate_replay_weight,
        ),
        roles=Roles(
            control_fraction=settings.remediate_control_fraction,
            validation_fraction=settings.remediate_validation_fraction,
            retain_weight=settings.remediate_retain_weight,
        ),
        hp=Hyperparameters(
            method=settings.remediate_method,
            learning_rate=settings.remediate_lr,
            epochs=settings.remediate_epochs,
            max_steps=settings.remediate_steps,
            batch_size=settings.remediate_batch_size,
            lora_r=settings.remediate_lora_r,
            lora_alpha=2 * settings.remediate_lora_r,
            seed=settings.seed,
        ),
        gate=Gate(
            min_si_drop=settings.remediate_min_si_drop,
            max_fc_drop=settings.remediate_max_fc_drop,
            min_rdr_ratio=settings.remediate_min_rdr_ratio,
            max_control_fc_drop=settings.remediate_max_control_fc_drop,
            control_rule=settings.remediate_control_rule,
        ),
        eval_variants=settings.remediate_eval_variants,
        budget_minutes=settings.remediate_budget,
        search=settings.remediate_search,
        rounds=settings.remediate_rounds,
        min_kept=settings.remediate_min_kept,
    )


@dataclass(frozen=True)
class Trained:
    """What one candidate trained on, and how."""

    part: Partition
    hp: Hyperparameters
    result: TrainResult


class RemediationError(StabtestError):
    """A remediation run that cannot go on: no treated case, no validation prompt..."""


@dataclass
class RoundResult:
    number: int
    model: str
    accepted: bool
    criteria: list[Criterion]
    partition: Partition
    search: SearchResult
    chosen: Trial
    treated: dict[str, Side]
    control: dict[str, Side]
    per_case: list[dict[str, Any]]
    manifest: dict[str, Any]

    @property
    def missed(self) -> list[str]:
        return [c.line for c in self.criteria if not c.passed]


@dataclass
class Remediation:
    rounds: list[RoundResult] = field(default_factory=list)
    status: str = "rejected"
    report_path: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    @property
    def last(self) -> RoundResult | None:
        return self.rounds[-1] if self.rounds else None


# -- step 1: data -----------------------------------------------------------------------


def gold_labels(settings: Settings) -> dict[tuple[str, str], GoldLabel]:
    from stabtest.adjudication.actions import load_gold

    snapshot = load_gold(settings)
    return dict(snapshot.labels) if snapshot is not None else {}


def split_data(
    variants: Sequence[VariantResult],
    labels: dict[tuple[str, str], GoldLabel],
    plan: Plan,
    retain_weight: float | None = None,
    generate: Generate | None = None,
) -> Partition:
    """Examples from the run's answers and the gold store, in their roles; with
    `generate` (the base model), bare reference targets restated in its words."""
    from stabtest.variants.perturb import OPERATORS

    held = held_out_operators(OPERATORS)
    examples = build_examples(variants, labels, held, plan.data)
    roles = (
        plan.roles if retain_weight is None else replace(plan.roles, retain_weight=retain_weight)
    )
    part = partition(examples, variants, held, roles, plan.hp.method)
    if generate is None or not plan.data.rewrite:
        return part
    train, rewritten, bare = rewrite_targets(part.train, variants, generate)
    return replace(part, train=tuple(train), rewritten=rewritten, bare=bare)


def base_generator(settings: Settings, model: str | None) -> Generate:
    """The model's answers through the cache: what restates targets in its own words."""
    from stabtest.generation.generator import Generator

    generator = Generator.from_settings(replace(settings, model=model))
    return lambda requests: generator(requests, stage="restating targets")


def training_examples(
    settings: Settings, options: DataOptions, method: str = "sft"
) -> list[TrainingExample]:
    """What round 1 trains on (and `stabtest export` writes); a clear error when none."""
    report = read_report(settings.report_path / REPORT_NAME)
    plan = Plan(data=options, hp=Hyperparameters(method=method))  # type: ignore[arg-type]
    generate = base_generator(settings, settings.model)
    examples = list(split_data(report.variants, gold_labels(settings), plan, None, generate).train)
    require_examples(examples, options)
    return examples


def check_roles(part: Partition, options: DataOptions) -> None:
    """One clear line for each way a round cannot be judged."""
    if part.corrections_seen == 0:
        require_examples([], options)
    if not part.treated:
        raise RemediationError(
            "no treated case: every failure is in a control case or a validation wording; "
            "add cases or lower --control-fraction / --validation-fraction; nothing was trained"
        )
    if not part.control:
        raise RemediationError(
            "no control case: forgetting could not be measured; add cases or raise "
            "--control-fraction (now a share of the cases by hash); nothing was trained"
        )


# -- step 2: train, chosen on validation ------------------------------------------------


def choose(
    settings: Settings,
    model: str | None,
    base_dir: Path,
    variants: Sequence[VariantResult],
    labels: dict[tuple[str, str], GoldLabel],
    cases: Sequence[Scoped],
    plan: Plan,
    first: Partition,
    generate: Generate,
    work: Path,
    progress: Callable[[str], None],
) -> tuple[SearchResult, dict[Path, Trained]]:
    """Train the candidates from `base_dir` and pick one on the validation wordings of
    `first` (the round's partition); also what each candidate (by its folder) trained
    on. The base model's answers come from `model`, the name the run used, so they are
    the run's cached answers (its converted directory has another fingerprint)."""
    by_uid = dict(cases_by_uid(cases))
    validation = [
        (by_uid[uid][0], validation_case(by_uid[uid][1], sorted(texts)))
        for uid, texts in first.validation.items()
        if uid in by_uid and texts
    ]
    if plan.search and not validation:
        raise RemediationError(
            "no validation prompt: no treated or retain case has a validation wording "
            "(raise --validation-fraction, add paraphrases, or --no-search); nothing was trained"
        )
    progress(
        f"remediation: validating on {sum(len(c.paraphrases) + 1 for _, c in validation)} "
        f"wording(s) of {len(validation)} case(s) that training never reads"
    )
    base_outcomes = rerun(settings, model, validation, set()) if validation else {}
    treated = set(first.treated)
    counter = iter(range(1, 1_000_000))

    def train_one(config: Config, deadline: float) -> list[tuple[int, Path]]:
        part = split_data(variants, labels, plan, config.retain_weight, generate)
        hp = replace(
            plan.hp,
            learning_rate=config.learning_rate,
            lora_r=config.lora_r,
            lora_alpha=2 * config.lora_r,
            epochs=config.epochs,
        )
        steps = _planned_steps(len(part.train), hp)
        marks = (  # without validation wordings there is nothing to choose a step on
            sorted({max(1, round(steps * k / CHECKPOINTS)) for k in range(1, CHECKPOINTS)})
            if validation
            else []
        )
        out = work / f"candidate-{next(counter)}"
        result = train(base_dir, part.train, out, hp, checkpoints=marks, deadline=deadline)
        trained_on[out] = Trained(part, hp, result)
        progress(
            f"remediation:   {result.steps} step(s) in {result.seconds:.0f} s on "
            f"{len(part.train)} example(s), loss {_loss(result.losses)}"
        )
        return [(step, adapter) for step, adapter in result.adapters.items()]

    def validate(step: int, adapter: Path) -> tuple[ValidationScore, Path]:
        model = merge(base_dir, adapter, adapter.parent / f"merged-{step}")
        if not validation:
            return ValidationScore(None, None, None, None, None, 0), model
        after = rerun(settings, str(model), validation, set())
        return score(base_outcomes, after, treated), model

    trained_on: dict[Path, Trained] = {}
    first_config = Config(
        plan.hp.learning_rate, plan.roles.retain_weight, plan.hp.lora_r, plan.hp.epochs
    )
    found = run_search(
        candidates(first_config, plan.search),
        train_one,
        validate,
        lambda path: shutil.rmtree(path, ignore_errors=True),
        budget_seconds=plan.budget_minutes * 60,
        min_kept=plan.min_kept,
        max_fc_drop=plan.gate.max_fc_drop,
        progress=progress,
    )
    return found, trained_on


def _planned_steps(examples: int, hp: Hyperparameters) -> int:
    if hp.max_steps > 0:
        return hp.max_steps
    per_epoch = -(-examples // hp.batch_size)
    return max(1, int(per_epoch * hp.epochs + 0.999))


def _loss(losses: Sequence[float]) -> str:
    return f"{losses[0]:.3f} -> {losses[-1]:.3f}" if losses else "not logged"


def cases_by_uid(cases: Sequence[Scoped]) -> list[tuple[str, Scoped]]:
    return [(case_uid(scope, case.id), (scope, case)) for scope, case in cases]


# -- step 3 and 4: evaluate on held-out variants, gate ----------------------------------


def evaluate(
    settings: Settings,
    before_model: str | None,
    after_model: str,
    cases: Sequence[Scoped],
    trained: set[str],
    number: int,
    eval_variants: int,
    progress: Callable[[str], None],
) -> tuple[dict[str, CaseOutcome], dict[str, CaseOutcome]]:
    from stabtest.variants.perturb import OPERATORS

    held_ops = held_out_operators(OPERATORS)
    eval_settings = replace(settings, seed=settings.seed + FRESH_SEED_STEP * number)
    evaluated = [(scope, held_out_case(case, held_ops, eval_variants)) for scope, case in cases]
    progress(f"remediation: rerunning {len(evaluated)} case(s) on held-out variants, before")
    before = rerun(eval_settings, before_model, evaluated, trained)
    progress("remediation: rerunning on the new model")
    after = rerun(eval_settings, after_model, evaluated, trained)
    return before, after


def gate_round(
    before: dict[str, CaseOutcome],
    after: dict[str, CaseOutcome],
    part: Partition,
    gate: Gate,
    seed: int,
) -> tuple[list[Criterion], dict[str, tuple[Side, Side]]]:
    treated = [k for k in before if k in part.treated]
    control = [k for k in before if k in part.control]
    pairs = {
        name: Paired([before[k] for k in keys], [after[k] for k in keys])
        for name, keys in (("treated", treated), ("control", control))
    }
    criteria = judge(pairs["treated"], pairs["control"], gate, seed)
    sides = {name: (summarize(p.before), summarize(p.after)) for name, p in pairs.items()}
    return criteria, sides


def role_of(key: str, part: Partition) -> str:
    if key in part.treated:
        return "treated"
    return "retain" if key in part.retain else "control"


def per_case_rows(
    before: dict[str, CaseOutcome], after: dict[str, CaseOutcome], part: Partition
) -> list[dict[str, Any]]:
    return [
        {
            "case": key,
            "suite": scope_of(key),
            "role": role_of(key, part),
            "trained": key in part.treated | part.retain,
            "before": asdict(summarize([before[key]])),
            "after": asdict(summarize([after[key]])),
            "prompts": [v.prompt for v in after[key].variants.values() if not v.rejected],
        }
        for key in before
    ]


def per_suite_rows(
    before: dict[str, CaseOutcome], after: dict[str, CaseOutcome], part: Partition
) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[str]] = {}
    for key in before:
        groups.setdefault((scope_of(key), role_of(key, part)), []).append(key)
    return [
        {
            "suite": suite,
            "role": role,
            "before": asdict(summarize([before[k] for k in keys])),
            "after": asdict(summarize([after[k] for k in keys])),
        }
        for (suite, role), keys in sorted(groups.items())
    ]


# -- step 5: save -----------------------------------------------------------------------


def base_label(model: str | None) -> str:
    label = (model and Path(model).name) or "smollm2-135m"
    return label.split("-r")[0] if "-r" in label else label


def write_remediation(path: Path, remediation: Remediation) -> None:
    """remediation.json: the last round's fields at the top (what the dashboard and
    `stabtest report` read), every round under `rounds`."""
    last = remediation.last
    body: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    if last is not None:
        body |= {**last.manifest, "model": last.model, "per_case": last.per_case}
    accepted = [r for r in remediation.rounds if r.accepted]
    body["accepted_model"] = accepted[-1].model if accepted else None
    body["status"] = remediation.status
    body["rounds"] = [
        {k: v for k, v in r.manifest.items() if k not in ("per_suite",)} | {"model": r.model}
        for r in remediation.rounds
    ]
    write_atomic(path, json.dumps(body, indent=1))


def criterion_row(criterion: Criterion) -> dict[str, Any]:
    interval = criterion.interval
    return asdict(criterion) | {"interval": interval.model_dump() if interval else None}


def _trial_row(trial: Trial, chosen: Trial | None) -> dict[str, Any]:
    return {
        **asdict(trial.config),
        "step": trial.step,
        "objective": round(trial.score.objective, 4),
        "admissible": trial.admissible,
        "chosen": trial is chosen,
        **asdict(trial.score),
    }


# -- the loop ---------------------------------------------------------------------------


def remediate(
    settings: Settings,
    plan: Plan | None = None,
    progress: Callable[[str], None] = print,
    report: RunReport | None = None,
) -> Remediation:
    """Run up to `plan.rounds` rounds (see the module docstring) on the failures of
    `report`: the run just finished, or (by default) the one saved in the report dir."""
    plan = plan or Plan()
    if settings.backend != "hf":
        raise TrainingError(
            f"--stab-backend {settings.backend}: remediation fine-tunes a local transformers "
            "model (--stab-backend hf); an HTTP endpoint cannot be trained from here"
        )
    if report is None:
        report = read_report(settings.report_path / REPORT_NAME)
    labels = gold_labels(settings)
    variants: Sequence[VariantResult] = report.variants
    cases = load_cases(settings, {c.uid for c in report.cases})
    if not cases:
        raise ConfigError("stab_suites", "no suite case of the last report was found to rerun")
    check_roles(split_data(variants, labels, plan), plan.data)
    remediation = Remediation()
    path = settings.report_path / REPORT
    model: str | None = settings.model
    label = base_label(settings.model)
    for _ in range(plan.rounds):
        try:
            done = one_round(settings, model, label, variants, labels, cases, plan, progress)
        except KeyboardInterrupt:
            remediation.status = "interrupted"
            write_remediation(path, remediation)
            raise
        remediation.rounds.append(done)
        interrupted = done.search.interrupted
        remediation.status = (
            "interrupted" if interrupted else ("accepted" if done.accepted else "rejected")
        )
        if any(r.accepted for r in remediation.rounds) and not done.accepted:
            remediation.status = "accepted"  # an earlier round stands
        write_remediation(path, remediation)
        if interrupted or not done.accepted:
            break
        if len(remediation.rounds) < plan.rounds:
            model = done.model
            progress(
                f"remediation: rerunning the suites on round {done.number}'s model for the "
                f"failures round {done.number + 1} trains on"
            )
            next_cases = [
                (s, c.model_copy(update={"model_paraphrases": ModelParaphrases(count=0)}))
                for s, c in cases
            ]
            outcomes = rerun(settings, model, next_cases, set())
            variants = [v for o in outcomes.values() for v in o.variants.values()]
            part = split_data(variants, labels, plan)
            if not part.train or not part.treated:
                progress("remediation: the accepted round leaves nothing to correct: done")
                break
    remediation.report_path = str(path)
    return remediation


def one_round(
    settings: Settings,
    model: str | None,
    label: str,
    variants: Sequence[VariantResult],
    labels: dict[tuple[str, str], GoldLabel],
    cases: Sequence[Scoped],
    plan: Plan,
    progress: Callable[[str], None],
) -> RoundResult:
    from stabtest.generation.hf import HFBackend

    base = HFBackend(model, cache_dir=None)
    base_dir = base.model_dir()
    models.clean_partials(settings.cache_path)
    number = models.next_round(settings.cache_path, label)
    generate = base_generator(settings, model)
    part = split_data(variants, labels, plan, None, generate)
    check_roles(part, plan.data)
    progress(
        f"remediation: round {number} from {base_dir}: {len(part.train)} example(s) "
        f"({_families(part.train)}); {len(part.treated)} treated, {len(part.retain)} retain, "
        f"{len(part.control)} control case(s); {part.held_back} example(s) kept for validation; "
        f"{part.rewritten} case target(s) restated in the model's words, {part.bare} left bare"
    )
    partial = models.partial_dir(settings.cache_path)
    work = partial.parent / "work"
    started = time.perf_counter()
    try:
        found, trained_on = choose(
            settings, model, base_dir, variants, labels, cases, plan, part, generate, work, progress
        )
    except BaseException:
        shutil.rmtree(partial.parent, ignore_errors=True)  # nothing half-written is left
        raise
    if found.best is None:
        raise RemediationError(
            "the search finished no candidate" + (" (interrupted)" if found.interrupted else "")
        )
    best = found.best
    chosen = trained_on[best.model.parent]
    chosen_part, chosen_hp, result = chosen.part, chosen.hp, chosen.result
    progress(
        f"remediation: chose {best.config.label()} at step {best.step} of {result.steps} "
        f"({found.configs_tried} candidate(s), {len(found.trials)} checkpoint(s), "
        f"{found.seconds:.0f} s)"
    )
    shutil.move(str(best.model), str(partial))
    trained = trained_texts(chosen_part.train)
    before: dict[str, CaseOutcome] = {}
    after: dict[str, CaseOutcome] = {}
    if found.interrupted:  # Ctrl-C: keep the best finished candidate, judge nothing more
        progress("remediation: interrupted: the best finished candidate is kept, not accepted")
        criteria: list[Criterion] = []
        sides = {"treated": (Side(), Side()), "control": (Side(), Side())}
    else:
        before, after = evaluate(
            settings, model, str(partial), cases, trained, number, plan.eval_variants, progress
        )
        criteria, sides = gate_round(before, after, chosen_part, plan.gate, settings.seed + number)
    accepted = bool(criteria) and all(c.passed for c in criteria) and not found.interrupted
    records = [record(e, chosen_hp.method) for e in chosen_part.train]
    digest = models.data_hash(records)
    final = models.models_dir(settings.cache_path) / f"{label}-r{number}-{digest[:8]}"
    per_case = per_case_rows(before, after, chosen_part)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "round": number,
        "base": label,
        "base_model": model,
        "base_fingerprint": base.fingerprint(),
        "base_dir": str(base_dir),
        "training_data_hash": digest,
        "examples": len(chosen_part.train),
        "example_families": dict(Counter(e.family for e in chosen_part.train)),
        "roles": {
            "treated": len(chosen_part.treated),
            "retain": len(chosen_part.retain),
            "control": len(chosen_part.control),
            "validation_prompts": chosen_part.validation_prompts(),
            "held_back_for_validation": chosen_part.held_back,
            "targets_restated": chosen_part.rewritten,
            "targets_bare": chosen_part.bare,
        },
        "method": chosen_hp.method,
        "hyperparameters": asdict(chosen_hp),
        "chosen_step": best.step,
        "search": {
            "budget_minutes": plan.budget_minutes,
            "seconds": found.seconds,
            "configs_tried": found.configs_tried,
            "stopped_by_budget": found.stopped_by_budget,
            "interrupted": found.interrupted,
            "trials": [_trial_row(t, best) for t in found.trials],
        },
        "seed": settings.seed + FRESH_SEED_STEP * number,
        "steps": result.steps,
        "seconds": round(time.perf_counter() - started, 1),
        "training_seconds": result.seconds,
        "peak_rss_mb": result.peak_rss_mb,
        "losses": result.losses,
        "treated": {"before": asdict(sides["treated"][0]), "after": asdict(sides["treated"][1])},
        "control": {"before": asdict(sides["control"][0]), "after": asdict(sides["control"][1])},
        "gate": asdict(plan.gate),
        "criteria": [criterion_row(c) for c in criteria],
        "missed": [c.line for c in criteria if not c.passed]
        + (["interrupted: the search did not finish"] if found.interrupted else []),
        "advice": [c.advice for c in criteria if not c.passed and c.advice],
        "accepted": accepted,
        "per_suite": per_suite_rows(before, after, chosen_part),
        "created_at": time.time(),
    }
    shutil.rmtree(work, ignore_errors=True)
    done = models.finish(partial, final, manifest)
    return RoundResult(
        number=number,
        model=str(done.path),
        accepted=accepted,
        criteria=criteria,
        partition=chosen_part,
        search=found,
        chosen=best,
        treated=dict(zip(("before", "after"), sides["treated"], strict=True)),
        control=dict(zip(("before", "after"), sides["control"], strict=True)),
        per_case=per_case,
        manifest=manifest,
    )


def _families(examples: Sequence[TrainingExample]) -> str:
    counts = Counter(e.family for e in examples)
    return ", ".join(f"{n} {family}" for family, n in sorted(counts.items()))
