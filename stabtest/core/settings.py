"""Session settings, declared once: each field of `Settings` carries its own help, parser
and default, and the pytest flags, ini keys, `[tool.stabtest]` keys and the `stabtest`
command are all generated from that one declaration, so they can never drift apart.

Precedence: command-line flag > pytest ini key (`stab_<name>`) > `[tool.stabtest]` in
pyproject.toml > built-in default. Backend options (`--stab-backend-option KEY=VALUE`,
ini `stab_backend_option` lines, the `[tool.stabtest.backend]` table) merge key by key in
the same order.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from stabtest.core.errors import ConfigError
from stabtest.core.ids import COLLECT_MODES, PER_VARIANT, CollectMode


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _optional_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _probability(value: Any) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"expected a number between 0 and 1, got {value!r}")
    return number


def _optional_probability(value: Any) -> float | None:
    """A number between 0 and 1, or nothing (`""`, `none`): the gate is off."""
    if value is None or str(value).strip().lower() in {"", "none"}:
        return None
    return _probability(value)


def _optional_positive_int(value: Any) -> int | None:
    if value is None or str(value).strip().lower() in {"", "none"}:
        return None
    return _positive_int(value)


def _positive_int(value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return number


def _non_negative_int(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"expected 0 or a positive integer, got {value!r}")
    return number


def _non_negative_float(value: Any) -> float:
    number = float(value)
    if number < 0:
        raise ValueError(f"expected a number of 0 or more, got {value!r}")
    return number


def _batch_size(value: Any) -> int | None:
    """A positive integer, or `auto` (None): the backend picks from model and memory."""
    if value is None or str(value).strip().lower() in {"auto", ""}:
        return None
    return _positive_int(value)


PROGRESS_CHOICES = ("auto", "always", "never")


def _progress(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in PROGRESS_CHOICES:
        raise ValueError(f"expected one of {', '.join(PROGRESS_CHOICES)}, got {value!r}")
    return text


def _fdr(value: Any) -> float | None:
    """A false discovery rate in [0, 1); 0 or `off` (None): no correction."""
    if value is None or str(value).strip().lower() in {"off", "none", "false", "no", ""}:
        return None
    number = float(value)
    if not 0.0 <= number < 1.0:
        raise ValueError(f"expected a rate in [0, 1) or off, got {value!r}")
    return number or None


BASELINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""A baseline's name, which is also its file's name."""


def _optional_name(value: Any) -> str | None:
    """A baseline's name: also its file name, so letters, digits, `.`, `_`, `-` only."""
    if value in (None, ""):
        return None
    text = str(value)
    if not BASELINE_NAME.fullmatch(text):
        raise ValueError(
            f"expected a name of letters, digits, '.', '_' or '-' (a file name), got {text!r}"
        )
    return text


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return parse


def _scalar(text: str) -> Any:
    """A backend option value from text: an int, a float, true/false, else the string."""
    lowered = text.strip().lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _backend_options(value: Any) -> dict[str, Any]:
    """`KEY=VALUE` strings (a list, or lines of one ini value), or a TOML table."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    items: Iterable[Any] = value.splitlines() if isinstance(value, str) else value
    options: dict[str, Any] = {}
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=VALUE, got {text!r}")
        options[key.strip()] = _scalar(raw.strip())
    return options


GROUPS = ("run", "remediate", "explore", "execute", "plan")
"""Which commands a setting applies to: `run` settings apply to every run and to every
`stabtest` command that reads settings; `remediate` ones to `stabtest remediate` and
`stabtest export` (and a run's `--remediate`); `explore` ones to `stabtest explore`;
`execute` ones to `stabtest execute` (a plan on this machine or a Ray cluster); `plan`
ones to a run only (`stabtest plan` sets them). Every
group's flags are pytest flags too (`core.flags` builds them all)."""


@dataclass(frozen=True)
class Option:
    """How one setting is spelled: `--stab-<name>` flag (dashes), `stab_<name>` ini key,
    `name` in `[tool.stabtest]`; `aliases`: more flag spellings (pytest and the `stabtest`
    command), `command_aliases`: spellings of the `stabtest` command only (`--steps`)."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    flag: bool = True
    metavar: str | None = None
    repeat: bool = False
    private: bool = False
    spelled: str | None = None
    """The flag's and ini key's stem when it differs from the field name."""
    aliases: tuple[str, ...] = ()
    command_aliases: tuple[str, ...] = ()
    group: str = "run"
    command: bool = True
    """Also a flag of the `stabtest` commands (False: a pytest flag only, `--remediate`)."""

    @property
    def cli(self) -> str:
        return "--stab-" + (self.spelled or self.name).replace("_", "-")

    @property
    def ini(self) -> str:
        return "stab_" + (self.spelled or self.name)

    @property
    def switch(self) -> bool:
        """A flag without a value (`--stab-no-cache`)."""
        return self.default is False


def setting(
    default: Any,
    parse: Callable[[Any], Any],
    help: str,
    *,
    metavar: str | None = None,
    flag: bool = True,
    repeat: bool = False,
    private: bool = False,
    spelled: str | None = None,
    aliases: tuple[str, ...] = (),
    command_aliases: tuple[str, ...] = (),
    group: str = "run",
    command: bool = True,
) -> Any:
    """A `Settings` field that is also an option (see `Option`). A boolean alias of an
    option that defaults to true also gets its `--no-` spelling (`--no-search`)."""
    if group not in GROUPS:
        raise ValueError(f"group {group!r}: expected one of {GROUPS}")
    spec = {
        "parse": parse,
        "help": help,
        "metavar": metavar,
        "flag": flag,
        "repeat": repeat,
        "private": private,
        "spelled": spelled,
        "aliases": aliases,
        "command_aliases": command_aliases,
        "group": group,
        "command": command,
    }
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"option": spec})
    return field(default=default, metadata={"option": spec})


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one session; every field but `rootdir` is an option."""

    backend: str = setting(
        "hf", str, "model backend name, entry point or module:attr", metavar="NAME"
    )
    backend_options: dict[str, Any] = setting(
        {},
        _backend_options,
        "option passed to the backend, repeatable (pyproject: [tool.stabtest.backend] table)",
        metavar="KEY=VALUE",
        repeat=True,
        spelled="backend_option",
    )
    model: str | None = setting(
        None,
        _optional_str,
        "model dir or id for the backend (default: bundled SmolLM2-135M-Instruct)",
        metavar="PATH",
    )
    seed: int = setting(0, int, "seed for variants and sampling; same seed, same ids", metavar="N")
    cache_dir: str = setting(
        ".stabtest",
        str,
        "directory for the generation cache, converted models, the outbox, the gold store "
        "and remediated models",
        metavar="DIR",
        command_aliases=("--cache-dir",),
    )
    no_cache: bool = setting(False, _bool, "ignore cached generations and generate afresh")
    report_dir: str = setting("reports", str, "directory for JSON and HTML reports", metavar="DIR")
    batch_size: int | None = setting(
        None,
        _batch_size,
        "generation batch size, or auto (default): the backend picks from model size, "
        "free memory and prompt lengths",
        metavar="N|auto",
    )
    progress: str = setting(
        "auto",
        _progress,
        "show progress of long work: auto (a live line on a terminal; in a log a line per "
        "tenth of work running over 2 s, none under -q), always, never",
        metavar="WHEN",
    )
    max_si: float = setting(
        0.5, _probability, "default maximum Stability Index per case", metavar="X"
    )
    min_fc: float = setting(
        0.5, _probability, "default minimum Factual Correctness per case", metavar="X"
    )
    min_pass_rate: float | None = setting(
        None,
        _optional_probability,
        "default minimum pass rate per case: passed / judged answers over every sample "
        "of every variant (default: not gated)",
        metavar="X",
    )
    pass_k: int | None = setting(
        None,
        _optional_positive_int,
        "k of pass^k and pass@k (default: each case's samples); a case with fewer "
        "samples has no pass^k",
        metavar="K",
    )
    min_pass_k: float | None = setting(
        None,
        _optional_probability,
        "default minimum pass^k per case: the share of variants whose k samples all "
        "pass (default: not gated)",
        metavar="X",
    )
    semantic_threshold: float = setting(
        0.8, _probability, "cosine at which two answers count as equivalent", metavar="X"
    )
    escalate_below: float = setting(
        0.6,
        _probability,
        "verdicts less confident than this are escalated to humans (0.6: calibrated on "
        "the labelled set, benchmarks/data/annotation)",
        metavar="X",
    )
    embedder: str = setting(
        "minilm",
        str,
        "answer embedder: minilm (bundled all-MiniLM-L6-v2), lexical, or module:attr",
        metavar="NAME",
    )
    judges: str = setting(
        "semantic,reference,numeric,contradiction",
        str,
        "comma-separated judges to run (add llm_judge for the LLM judge)",
        metavar="LIST",
    )
    judge_backend: str | None = setting(
        None,
        _optional_str,
        "backend of the LLM judge (default: the backend under test)",
        metavar="NAME",
    )
    judge_model: str | None = setting(
        None,
        _optional_str,
        "model of the LLM judge, e.g. a stronger one than the model under test "
        "(default: the model under test)",
        metavar="PATH",
    )
    nli_model: str | None = setting(
        None,
        _optional_str,
        "NLI / cross-encoder model that judges open-ended answers by meaning: a "
        "sentence-transformers CrossEncoder directory (or name), or a local .onnx file "
        "with its tokenizer beside it (adds the nli judge; none ships with stabtest)",
        metavar="PATH",
    )
    nli_labels: str | None = setting(
        None,
        _optional_str,
        "names of the NLI model's outputs in order, e.g. contradiction,entailment,neutral "
        "(default: the model's id2label)",
        metavar="LIST",
    )
    nli_threshold: float = setting(
        0.5,
        _probability,
        "probability at which the NLI model's entailment or contradiction decides a vote",
        metavar="X",
    )
    suites: str = setting(
        "suites/*.yaml suites/*.yml",
        str,
        "glob patterns (relative to rootdir) of YAML suites to collect",
        flag=False,
    )
    collect: CollectMode = setting(
        PER_VARIANT,
        _choice(*COLLECT_MODES),
        "how a case is collected when its suite does not say (`collect:`): per-variant "
        "(an item per variant and one for the case's thresholds) or per-case (one item per "
        "case, for suites too large for an item per variant)",
        metavar="per-variant|per-case",
    )
    label_studio: str | None = setting(
        None,
        _optional_str,
        "Label Studio URL to push failures to",
        metavar="URL",
        command_aliases=("--url",),
    )
    label_studio_token: str | None = setting(
        None,
        _optional_str,
        "Label Studio token (prefer the LABEL_STUDIO_API_KEY variable)",
        flag=False,
        private=True,
    )
    label_studio_prefix: str = setting(
        "stabtest",
        str,
        "Label Studio project titles are '<prefix>: <suite>'",
        metavar="TEXT",
        command_aliases=("--prefix",),
    )
    pull: bool = setting(False, _bool, "pull human labels from Label Studio before the run")
    baseline: str | None = setting(
        None,
        _optional_name,
        "compare the run against this baseline (baseline_dir/NAME.json); a regression past "
        "the tolerances exits 6",
        metavar="NAME",
    )
    save_baseline: str | None = setting(
        None, _optional_name, "store this run's report as the baseline NAME", metavar="NAME"
    )
    baseline_dir: str = setting(
        "baselines",
        str,
        "directory of baselines, relative to rootdir (commit it, so CI has them)",
        metavar="DIR",
        command_aliases=("--dir",),
    )
    baseline_si_tolerance: float = setting(
        0.05, _probability, "SI may rise this much over the baseline before it gates", metavar="X"
    )
    baseline_fc_tolerance: float = setting(
        0.05, _probability, "FC may fall this much below the baseline before it gates", metavar="X"
    )
    baseline_strict: bool = setting(
        False,
        _bool,
        "gate also changes within the bootstrap noise, and cases whose variants changed",
    )
    baseline_resamples: int = setting(
        1000, _positive_int, "bootstrap resamples of the baseline comparison", metavar="N"
    )
    baseline_fdr: float | None = setting(
        0.05,
        _fdr,
        "false discovery rate the baseline comparison gates cases at (Benjamini-Hochberg "
        "over the compared cases' SI and FC p-values; 0 or off: each case tested alone at "
        "95%)",
        metavar="Q|off",
    )
    baseline_judge_noise: bool = setting(
        False,
        _bool,
        "do not call an SI or FC change a regression when it is within the judges' own "
        "noise floor (<report_dir>/judge_noise.json, from `stabtest judge-noise`): the "
        "tolerances are raised to it",
    )
    history_path: str | None = setting(
        None,
        _optional_str,
        "run history, one JSON line per run (default: <cache_dir>/history.jsonl; off: none)",
        metavar="FILE",
        command_aliases=("--path",),
    )
    label: str | None = setting(
        None,
        _optional_str,
        "label of this run in the history (e.g. a remediation round)",
        metavar="TEXT",
    )
    html: bool = setting(
        True,
        _bool,
        "write the HTML dashboard (stabtest.html) beside the JSON report",
        metavar="true|false",
    )
    explore: int = setting(
        0,
        _non_negative_int,
        "after the run, search each passed case for the smallest perturbation that breaks "
        "it, with a budget of N generations per case, and list the findings (0: off; "
        "suites are not edited: `stabtest explore` writes them back)",
        metavar="N",
    )
    # -- remediation (`stabtest remediate`, `stabtest export`, a run's --remediate) --------
    remediate: bool = setting(
        False,
        _bool,
        "after the run: fine-tune on its failures, rerun held-out variants and gate (as "
        "`stabtest remediate`); the exit status is the gate's: 0 accepted, 1 rejected",
        aliases=("--remediate",),
        group="remediate",
        command=False,
    )
    remediate_method: Literal["sft", "dpo"] = setting(
        "sft",
        _choice("sft", "dpo"),
        "training method: LoRA SFT on corrected answers, or DPO on (right, wrong) pairs",
        metavar="sft|dpo",
        command_aliases=("--method",),
        group="remediate",
    )
    remediate_lr: float = setting(
        2e-4,
        float,
        "learning rate (LoRA wants about 10x the full fine-tuning rate)",
        metavar="LR",
        command_aliases=("--lr",),
        group="remediate",
    )
    remediate_epochs: float = setting(
        2.0,
        float,
        "training epochs, when remediate_steps does not set the steps",
        metavar="N",
        command_aliases=("--epochs",),
        group="remediate",
    )
    remediate_steps: int = setting(
        -1,
        int,
        "training steps of each candidate (-1: by remediate_epochs)",
        metavar="N",
        aliases=("--remediate-steps",),
        command_aliases=("--steps",),
        group="remediate",
    )
    remediate_batch_size: int = setting(
        4,
        _positive_int,
        "training batch size",
        metavar="N",
        command_aliases=("--batch-size",),
        group="remediate",
    )
    remediate_lora_r: int = setting(
        16,
        _positive_int,
        "LoRA rank (alpha: twice the rank)",
        metavar="N",
        command_aliases=("--lora-r",),
        group="remediate",
    )
    remediate_retain_weight: float = setting(
        0.5,
        float,
        "train on the base model's own answers in cases with nothing to correct at this "
        "weight, against forgetting (0: off, those cases join the control)",
        metavar="W",
        command_aliases=("--retain-weight",),
        group="remediate",
    )
    remediate_control_fraction: float = setting(
        0.25,
        _probability,
        "share of the cases (by hash) never trained on, to measure forgetting",
        metavar="X",
        command_aliases=("--control-fraction",),
        group="remediate",
    )
    remediate_validation_fraction: float = setting(
        0.25,
        _probability,
        "share of training wordings kept to choose the configuration and step",
        metavar="X",
        command_aliases=("--validation-fraction",),
        group="remediate",
    )
    remediate_search: bool = setting(
        True,
        _bool,
        "try a few configurations within remediate_budget, chosen on validation (false: "
        "train the given one)",
        metavar="true|false",
        command_aliases=("--search",),
        group="remediate",
    )
    remediate_budget: float = setting(
        30.0,
        float,
        "minutes for a round's search over configurations",
        metavar="MINUTES",
        aliases=("--remediate-budget",),
        command_aliases=("--budget-minutes",),
        group="remediate",
    )
    remediate_rounds: int = setting(
        1,
        _positive_int,
        "rounds: each accepted round is rerun and the next trains on its failures",
        metavar="N",
        command_aliases=("--rounds",),
        group="remediate",
    )
    remediate_min_kept: float = setting(
        0.95,
        _probability,
        "a candidate must keep this share of right validation answers right",
        metavar="X",
        command_aliases=("--min-kept",),
        group="remediate",
    )
    remediate_eval_variants: int = setting(
        4,
        int,
        "held-out rule variants per case in the rerun",
        metavar="N",
        command_aliases=("--eval-variants",),
        group="remediate",
    )
    remediate_min_si_drop: float = setting(
        0.4,
        float,
        "gate: held-out SI must fall at least this much, relative",
        metavar="X",
        command_aliases=("--min-si-drop",),
        group="remediate",
    )
    remediate_max_fc_drop: float = setting(
        0.02,
        float,
        "gate: held-out FC may fall at most this much",
        metavar="X",
        command_aliases=("--max-fc-drop",),
        group="remediate",
    )
    remediate_min_rdr_ratio: float = setting(
        0.8,
        float,
        "gate: answer diversity across cases, after/before, at least this",
        metavar="X",
        command_aliases=("--min-rdr-ratio",),
        group="remediate",
    )
    remediate_max_control_fc_drop: float = setting(
        0.02,
        float,
        "gate: control FC may fall at most this much",
        metavar="X",
        command_aliases=("--max-control-fc-drop",),
        group="remediate",
    )
    remediate_control_rule: Literal["interval", "estimate"] = setting(
        "interval",
        _choice("interval", "estimate"),
        "gate: judge control FC on its 95 percent interval or on its point estimate",
        metavar="interval|estimate",
        command_aliases=("--control-rule",),
        group="remediate",
    )
    remediate_weak: bool = setting(
        True,
        _bool,
        "also train on confident automatic failures, not only human labels",
        metavar="true|false",
        command_aliases=("--weak",),
        group="remediate",
    )
    remediate_min_confidence: float = setting(
        0.8,
        _probability,
        "an automatic failure trains only at this confidence or more",
        metavar="X",
        command_aliases=("--min-confidence",),
        group="remediate",
    )
    remediate_stability_weight: float = setting(
        2.0,
        float,
        "loss weight of semantic-divergence and session-drift failures",
        metavar="W",
        command_aliases=("--stability-weight",),
        group="remediate",
    )
    remediate_replay_weight: float = setting(
        0.5,
        float,
        "also train on the model's own right answers in corrected cases at this weight (0: off)",
        metavar="W",
        command_aliases=("--replay-weight",),
        group="remediate",
    )
    remediate_restate: bool = setting(
        True,
        _bool,
        "restate a target written from a reference in the model's own words (a blank "
        "filled, or the model's sentence stating it), so training does not teach a new style",
        metavar="true|false",
        command_aliases=("--restate",),
        group="remediate",
    )
    # -- `stabtest explore SUITE::CASE` ------------------------------------------------------
    explore_max_generations: int = setting(
        60,
        int,
        "answers the model may generate in `stabtest explore` (cache hits are free)",
        metavar="N",
        command_aliases=("--max-generations",),
        group="explore",
    )
    explore_max_seconds: float = setting(
        300.0,
        float,
        "wall-clock budget of `stabtest explore`, in seconds",
        metavar="S",
        command_aliases=("--max-seconds",),
        group="explore",
    )
    explore_max_depth: int = setting(
        3,
        int,
        "operators `stabtest explore` composes at most",
        metavar="N",
        command_aliases=("--max-depth",),
        group="explore",
    )
    explore_operators: str | None = setting(
        None,
        _optional_str,
        "comma-separated operators `stabtest explore` composes (default: all)",
        metavar="LIST",
        command_aliases=("--operators",),
        group="explore",
    )
    # -- writing and executing a plan file (`stabtest plan`, `stabtest execute`) ----------
    write_plan: str | None = setting(
        None,
        _optional_str,
        "write the session's generation plan to this file once collected (`stabtest plan "
        "-o FILE` is `pytest --collect-only --stab-write-plan FILE`)",
        metavar="FILE",
        group="plan",
    )
    engine: str = setting(
        "local",
        _choice("local", "ray"),
        "where `stabtest execute` answers the plan: local (this process) or ray (actors "
        "on a Ray cluster)",
        metavar="local|ray",
        command_aliases=("--engine",),
        group="execute",
    )
    block_size: int = setting(
        1024,
        _positive_int,
        "requests per block of the plan: the unit handed to a worker, and the most a "
        "crash can lose",
        metavar="N",
        command_aliases=("--block-size",),
        group="execute",
    )
    ray_address: str | None = setting(
        None,
        _optional_str,
        "the Ray cluster to join (auto, ray://HOST:10001); default: RAY_ADDRESS, else a "
        "local cluster on this machine",
        metavar="ADDRESS",
        command_aliases=("--ray-address",),
        group="execute",
    )
    ray_actors: int = setting(
        1,
        _positive_int,
        "Ray actors answering blocks, each holding one backend (one model copy)",
        metavar="N",
        command_aliases=("--actors",),
        group="execute",
    )
    ray_gpus_per_actor: float = setting(
        0.0,
        _non_negative_float,
        "GPUs each Ray actor reserves (1 for a vLLM or hf model on a GPU node)",
        metavar="G",
        command_aliases=("--gpus-per-actor",),
        group="execute",
    )
    ray_cpus_per_actor: float = setting(
        1.0,
        _non_negative_float,
        "CPUs each Ray actor reserves",
        metavar="C",
        command_aliases=("--cpus-per-actor",),
        group="execute",
    )
    ray_max_retries: int = setting(
        3,
        _non_negative_int,
        "times Ray restarts a dead actor and retries its block",
        metavar="N",
        command_aliases=("--max-retries",),
        group="execute",
    )
    rootdir: str = "."

    @property
    def judge_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.judges.split(",") if name.strip())

    @property
    def explore_operator_names(self) -> tuple[str, ...]:
        """The operators `stabtest explore` composes; () means all of them."""
        return tuple(n.strip() for n in (self.explore_operators or "").split(",") if n.strip())

    @property
    def cache_path(self) -> Path:
        return Path(self.rootdir, self.cache_dir)

    @property
    def report_path(self) -> Path:
        return Path(self.rootdir, self.report_dir)

    @property
    def baseline_path(self) -> Path:
        return Path(self.rootdir, self.baseline_dir)

    @property
    def history_file(self) -> Path | None:
        """Where runs are recorded; None when `history_path` is `off`."""
        if self.history_path is None:
            return self.cache_path / "history.jsonl"
        if self.history_path.strip().lower() in {"off", "none", "false"}:
            return None
        return Path(self.rootdir, self.history_path)

    @property
    def token(self) -> str | None:
        return os.environ.get("LABEL_STUDIO_API_KEY") or self.label_studio_token

    def public(self) -> dict[str, Any]:
        """Every setting but the private ones (the token), the Label Studio URL without
        its credentials (user:password@, ?token=...): what a report may keep."""
        from stabtest.core.text import redact_url

        shown = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in PRIVATE and f.name != "rootdir"
        } | {"rootdir": self.rootdir}
        if self.label_studio:
            shown["label_studio"] = redact_url(self.label_studio)
        return shown

    def __repr__(self) -> str:  # never show the token, nor a credential in the URL
        shown = {f.name: getattr(self, f.name) for f in fields(self)} | self.public()
        for name in PRIVATE:
            if shown[name]:
                shown[name] = "***"
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


def _option(f: Field[Any]) -> Option:
    default = {} if f.default is MISSING else f.default  # a dict default is a factory
    return Option(f.name, default=default, **f.metadata["option"])


OPTIONS: tuple[Option, ...] = tuple(_option(f) for f in fields(Settings) if "option" in f.metadata)
OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}
PRIVATE = frozenset(option.name for option in OPTIONS if option.private)
PYPROJECT_TABLE = "[tool.stabtest]"


def read_pyproject(rootdir: Path) -> dict[str, Any]:
    """The `[tool.stabtest]` table of rootdir/pyproject.toml (by option name), or {}.
    A `[tool.stabtest.backend]` table gives the backend's options, and its `name` key
    the backend itself."""
    path = rootdir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} {PYPROJECT_TABLE}", f"invalid TOML: {error}") from None
    table = dict(data.get("tool", {}).get("stabtest", {}))
    backend = table.get("backend")
    if isinstance(backend, dict):
        options = dict(backend)
        name = options.pop("name", None)
        table.pop("backend")
        if name is not None:
            table["backend"] = name
        table["backend_options"] = options
    unknown = set(table) - set(OPTIONS_BY_NAME)
    if unknown:
        raise ConfigError(
            f"{path} {PYPROJECT_TABLE}",
            f"unknown key(s) {sorted(unknown)}; known: {sorted(OPTIONS_BY_NAME)}",
        )
    return table


def _given(raw: Any, from_cli: bool) -> bool:
    if raw is None:
        return False
    if isinstance(raw, (list, tuple)) and not raw:
        return False
    return from_cli or not (isinstance(raw, str) and raw == "")


def resolve_settings(
    cli: Mapping[str, Any],
    ini: Mapping[str, Any],
    pyproject: Mapping[str, Any],
    rootdir: Path | str = ".",
) -> Settings:
    """Merge the three sources (None means "not given") and parse every value, naming the
    flag or key of a bad value. Repeatable options merge key by key."""
    values: dict[str, Any] = {"rootdir": str(rootdir)}
    for option in OPTIONS:
        sources = (
            (cli, option.cli, True),
            (ini, option.ini, False),
            (pyproject, f"{PYPROJECT_TABLE} {option.name}", False),
        )
        parsed = []
        for source, label, from_cli in sources:
            raw = source.get(option.name)
            if not _given(raw, from_cli):
                continue
            try:
                parsed.append(option.parse(raw))
            except (TypeError, ValueError) as error:
                raise ConfigError(label, str(error)) from None
            if not option.repeat:
                break
        if not parsed:
            values[option.name] = {} if option.repeat else option.default
        elif option.repeat:
            merged: dict[str, Any] = {}
            for part in reversed(parsed):  # lowest precedence first
                merged.update(part)
            values[option.name] = merged
        else:
            values[option.name] = parsed[0]
    return Settings(**values)
