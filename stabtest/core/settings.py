"""Session settings: one table of options that the plugin, the ini file, `[tool.stabtest]`
and the CLI all read, so a flag and its ini key can never drift apart.

Precedence: command-line flag > pytest ini key (`stab_<name>`) > `[tool.stabtest]` in
pyproject.toml > built-in default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
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


def _positive_int(value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return number


@dataclass(frozen=True)
class Option:
    """One setting: `--stab-<name>` flag (dashes), `stab_<name>` ini key, `name` in
    `[tool.stabtest]`."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    flag: bool = True
    metavar: str | None = None

    @property
    def cli(self) -> str:
        return "--stab-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "stab_" + self.name


OPTIONS: tuple[Option, ...] = (
    Option("backend", str, "hf", "model backend name, entry point or module:attr", metavar="NAME"),
    Option(
        "model",
        _optional_str,
        None,
        "model dir or id for the backend (default: bundled SmolLM2-135M-Instruct)",
        metavar="PATH",
    ),
    Option("seed", int, 0, "seed for variants and sampling; same seed, same ids", metavar="N"),
    Option(
        "cache_dir",
        str,
        ".stabtest",
        "directory for the generation cache and converted models",
        metavar="DIR",
    ),
    Option("no_cache", _bool, False, "ignore cached generations and generate afresh"),
    Option("report_dir", str, "reports", "directory for JSON and HTML reports", metavar="DIR"),
    Option("batch_size", _positive_int, 32, "generation batch size", metavar="N"),
    Option("max_si", _probability, 0.5, "default maximum Stability Index per case", metavar="X"),
    Option(
        "min_fc", _probability, 0.5, "default minimum Factual Correctness per case", metavar="X"
    ),
    Option(
        "semantic_threshold",
        _probability,
        0.8,
        "cosine at which two answers count as equivalent",
        metavar="X",
    ),
    Option(
        "escalate_below",
        _probability,
        0.0,
        "verdicts less confident than this are escalated to humans",
        metavar="X",
    ),
    Option(
        "embedder",
        str,
        "minilm",
        "answer embedder: minilm (bundled all-MiniLM-L6-v2), lexical, or module:attr",
        metavar="NAME",
    ),
    Option(
        "judges",
        str,
        "semantic,reference,numeric",
        "comma-separated judges to run (add llm_judge for the LLM judge)",
        metavar="LIST",
    ),
    Option(
        "suites",
        str,
        "suites/*.yaml suites/*.yml",
        "glob patterns (relative to rootdir) of YAML suites to collect",
        flag=False,
    ),
    Option(
        "label_studio", _optional_str, None, "Label Studio URL to push failures to", metavar="URL"
    ),
    Option(
        "label_studio_token",
        _optional_str,
        None,
        "Label Studio token (prefer the LABEL_STUDIO_API_KEY variable)",
        flag=False,
    ),
    Option(
        "label_studio_prefix",
        str,
        "stabtest",
        "Label Studio project titles are '<prefix>: <suite>'",
        flag=False,
    ),
    Option("pull", _bool, False, "pull human labels from Label Studio before the run"),
)

OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one session."""

    backend: str = "hf"
    model: str | None = None
    seed: int = 0
    cache_dir: str = ".stabtest"
    no_cache: bool = False
    report_dir: str = "reports"
    batch_size: int = 32
    max_si: float = 0.5
    min_fc: float = 0.5
    semantic_threshold: float = 0.8
    escalate_below: float = 0.0
    embedder: str = "minilm"
    judges: str = "semantic,reference,numeric"
    suites: str = "suites/*.yaml suites/*.yml"
    label_studio: str | None = None
    label_studio_token: str | None = None
    label_studio_prefix: str = "stabtest"
    pull: bool = False
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
    def token(self) -> str | None:
        return os.environ.get("LABEL_STUDIO_API_KEY") or self.label_studio_token

    def __repr__(self) -> str:  # never show the token
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["label_studio_token"]:
            shown["label_studio_token"] = "***"
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


def read_pyproject(rootdir: Path) -> dict[str, Any]:
    """The `[tool.stabtest]` table of rootdir/pyproject.toml, or {}."""
    path = rootdir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} [tool.stabtest]", f"invalid TOML: {error}") from None
    table = data.get("tool", {}).get("stabtest", {})
    unknown = set(table) - set(OPTIONS_BY_NAME)
    if unknown:
        raise ConfigError(
            f"{path} [tool.stabtest]",
            f"unknown key(s) {sorted(unknown)}; known: {sorted(OPTIONS_BY_NAME)}",
        )
    return table


def resolve_settings(
    cli: Mapping[str, Any],
    ini: Mapping[str, Any],
    pyproject: Mapping[str, Any],
    rootdir: Path | str = ".",
) -> Settings:
    """Merge the three sources (None means "not given") and parse every value, naming the
    flag or key of a bad value."""
    values: dict[str, Any] = {"rootdir": str(rootdir)}
    for option in OPTIONS:
        for source, label in (
            (cli, option.cli),
            (ini, option.ini),
            (pyproject, f"[tool.stabtest] {option.name}"),
        ):
            raw = source.get(option.name)
            if raw is None or (isinstance(raw, str) and raw == "" and source is not cli):
                continue
            try:
                values[option.name] = option.parse(raw)
            except (TypeError, ValueError) as error:
                raise ConfigError(label, str(error)) from None
            break
        else:
            values[option.name] = option.default
    return Settings(**values)
