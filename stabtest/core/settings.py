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
from typing import Any

from stabtest.core.errors import ConfigError


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


@dataclass(frozen=True)
class Option:
    """How one setting is spelled: `--stab-<name>` flag (dashes), `stab_<name>` ini key,
    `name` in `[tool.stabtest]`."""

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
) -> Any:
    """A `Settings` field that is also an option (see `Option`)."""
    spec = {
        "parse": parse,
        "help": help,
        "metavar": metavar,
        "flag": flag,
        "repeat": repeat,
        "private": private,
        "spelled": spelled,
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
        ".stabtest", str, "directory for the generation cache and converted models", metavar="DIR"
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
    label_studio: str | None = setting(
        None, _optional_str, "Label Studio URL to push failures to", metavar="URL"
    )
    label_studio_token: str | None = setting(
        None,
        _optional_str,
        "Label Studio token (prefer the LABEL_STUDIO_API_KEY variable)",
        flag=False,
        private=True,
    )
    label_studio_prefix: str = setting(
        "stabtest", str, "Label Studio project titles are '<prefix>: <suite>'", flag=False
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
    history_path: str | None = setting(
        None,
        _optional_str,
        "run history, one JSON line per run (default: <cache_dir>/history.jsonl; off: none)",
        metavar="FILE",
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
    rootdir: str = "."

    @property
    def judge_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.judges.split(",") if name.strip())

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
