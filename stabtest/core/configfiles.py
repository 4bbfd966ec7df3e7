"""Settings outside pytest: find the ini file pytest would use, read stabtest's keys from
it, and write one setting back without losing the file's comments.

The `stabtest` command (push, pull, calibrate) runs without pytest but must see the same
settings a run sees: the same cache dir (outbox, gold store), URL, token and prefix.
Discovery follows pytest's rules for the common case: walking up from the start
directory, the first of pytest.ini, .pytest.ini, pyproject.toml with
`[tool.pytest.ini_options]`, tox.ini with `[pytest]`, setup.cfg with `[tool:pytest]`; its
directory is the rootdir. Without one, the nearest directory holding a pyproject.toml,
else the start directory.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stabtest.core.errors import ConfigError
from stabtest.core.settings import OPTIONS, Settings, read_pyproject, resolve_settings

_INI_SECTIONS = {
    "pytest.ini": "pytest",
    ".pytest.ini": "pytest",
    "tox.ini": "pytest",
    "setup.cfg": "tool:pytest",
}


@dataclass(frozen=True)
class IniFile:
    """The file pytest reads its ini keys from, and the section (or TOML table) holding
    them: `[pytest]`, `[tool:pytest]` or `tool.pytest.ini_options`."""

    path: Path
    section: str


def _has_section(path: Path, section: str) -> bool:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as error:
        raise ConfigError(str(path), f"cannot parse: {error}") from None
    return parser.has_section(section)


def _pyproject_has_pytest(path: Path) -> bool:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), f"invalid TOML: {error}") from None
    return "ini_options" in data.get("tool", {}).get("pytest", {})


def find_inifile(start: Path) -> IniFile | None:
    for directory in (start.resolve(), *start.resolve().parents):
        for name in ("pytest.ini", ".pytest.ini"):
            if (directory / name).is_file():
                return IniFile(directory / name, "pytest")
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and _pyproject_has_pytest(pyproject):
            return IniFile(pyproject, "tool.pytest.ini_options")
        for name in ("tox.ini", "setup.cfg"):
            path = directory / name
            if path.is_file() and _has_section(path, _INI_SECTIONS[name]):
                return IniFile(path, _INI_SECTIONS[name])
    return None


def find_rootdir(start: Path) -> tuple[Path, IniFile | None]:
    inifile = find_inifile(start)
    if inifile is not None:
        return inifile.path.parent, inifile
    for directory in (start.resolve(), *start.resolve().parents):
        if (directory / "pyproject.toml").is_file():
            return directory, None
    return start.resolve(), None


def read_ini(inifile: IniFile | None) -> dict[str, Any]:
    """stabtest's keys of the ini file, by option name (`stab_max_si` -> `max_si`)."""
    if inifile is None:
        return {}
    if inifile.path.suffix == ".toml":
        data = tomllib.loads(inifile.path.read_text(encoding="utf-8"))
        raw: Mapping[str, Any] = data["tool"]["pytest"]["ini_options"]
    else:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(inifile.path, encoding="utf-8")
        raw = dict(parser[inifile.section]) if parser.has_section(inifile.section) else {}
    return {o.name: raw[o.ini] for o in OPTIONS if o.ini in raw}


def load_settings(start: Path | None = None, cli: Mapping[str, Any] | None = None) -> Settings:
    """Settings as a pytest run started in `start` would resolve them (flags: `cli`)."""
    rootdir, inifile = find_rootdir(start or Path.cwd())
    return resolve_settings(cli or {}, read_ini(inifile), read_pyproject(rootdir), rootdir)


# -- writing -------------------------------------------------------------------------------


def write_setting(path: Path, name: str, value: Any) -> str:
    """Set one stabtest option in a config file, keeping everything else (comments too).
    pyproject.toml (any .toml): `name = value` in `[tool.stabtest]`; pytest.ini, tox.ini
    (any other file): `stab_<name> = value` under `[pytest]`; setup.cfg: under
    `[tool:pytest]`. Returns where it went, e.g. "pyproject.toml [tool.stabtest]"."""
    option = next((o for o in OPTIONS if o.name == name), None)
    if option is None:
        raise ConfigError(name, "not a stabtest setting")
    if path.suffix == ".toml":
        _write_toml(path, name, value)
        return f"{path} [tool.stabtest] {name}"
    section = "tool:pytest" if path.name == "setup.cfg" else "pytest"
    _write_ini(path, section, option.ini, value)
    return f"{path} [{section}] {option.ini}"


def _write_toml(path: Path, key: str, value: Any) -> None:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        document = tomlkit.parse(text)
    except TOMLKitError as error:
        raise ConfigError(str(path), f"invalid TOML: {error}") from None
    tool = document.get("tool")
    if tool is None:
        tool = tomlkit.table(is_super_table=True)
        document["tool"] = tool
    table = tool.get("stabtest")
    if table is None:
        table = tomlkit.table()
        tool["stabtest"] = table
    table[key] = value
    path.write_text(tomlkit.dumps(document), encoding="utf-8")


_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")


def _continues(line: str) -> bool:
    """An indented, non-blank line continues the previous key's value."""
    return line[:1].isspace() and bool(line.strip())


def _write_ini(path: Path, section: str, key: str, value: Any) -> None:
    """A line edit, not configparser (which drops comments): replace the key's line in the
    section, else add it after the section's last non-blank line, else add the section."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    entry = f"{key} = {value}"
    key_line = re.compile(rf"^{re.escape(key)}\s*[=:]")
    start = end = None
    for i, line in enumerate(lines):
        match = _SECTION.match(line)
        if match:
            if start is not None:
                end = i
                break
            if match.group(1).strip() == section:
                start = i
    if start is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [f"[{section}]", entry]
    else:
        end = len(lines) if end is None else end
        for i in range(start + 1, end):
            if key_line.match(lines[i]):
                following = i + 1
                while following < end and _continues(lines[following]):
                    following += 1
                lines[i:following] = [entry]
                break
        else:
            last = start
            for i in range(start + 1, end):
                if lines[i].strip() and not lines[i].lstrip().startswith(("#", ";")):
                    last = i
            lines.insert(last + 1, entry)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
