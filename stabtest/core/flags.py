"""The command-line flags of the settings, built once for pytest and the `stabtest` command.

`setting_flags` yields `(names, kwargs)` pairs from `core.settings.OPTIONS`: the pytest
plugin passes them to `group.addoption`, the command to argparse's `add_argument`. Every
flag stores the raw text under the option's ini name (`stab_<name>`) with a default of None
("not given"), so `resolve_settings` applies the precedence flag > ini > pyproject and
parses the value, naming the flag of a bad one. Pure: no pytest, no argparse.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from stabtest.core.settings import OPTIONS, Option

FlagSpec = tuple[tuple[str, ...], dict[str, Any]]
"""A flag's spellings and the keyword arguments of `add_argument` / `addoption`."""


def _help(option: Option) -> str:
    """The help text, `%` escaped: argparse (and pytest's parser) %-format it."""
    text = option.help.replace("%", "%%")
    if option.switch or option.default in (None, {}):
        return f"{text} (ini: {option.ini})"
    return f"{text} (ini: {option.ini}; default: {option.default})"


def _negated(name: str) -> str:
    return "--no-" + name.removeprefix("--")


def option_flags(option: Option, *, command: bool = False) -> Iterator[FlagSpec]:
    """The flags of one option: `--stab-<name>` and its aliases (with `command`, also the
    spellings of the `stabtest` command). A boolean option that defaults to true takes a
    value (`--stab-html false`); its aliases are switches, each with a `--no-` twin. With
    `command`, an option that is a pytest flag only (`Option.command` false) has none."""
    if not option.flag or (command and not option.command):
        return
    aliases = (*option.aliases, *(option.command_aliases if command else ()))
    base: dict[str, Any] = {"dest": option.ini, "default": None, "help": _help(option)}
    if option.switch:
        yield (option.cli, *aliases), {**base, "action": "store_const", "const": True}
        return
    if option.default is True:
        yield (option.cli,), {**base, "action": "store", "metavar": option.metavar}
        for alias in aliases:
            for name, value in ((alias, True), (_negated(alias), False)):
                short = f"short for {option.cli} {str(value).lower()}"
                yield (name,), {**base, "action": "store_const", "const": value, "help": short}
        return
    action = "append" if option.repeat else "store"
    yield (option.cli, *aliases), {**base, "action": action, "metavar": option.metavar}


def setting_flags(
    options: Iterable[Option] = OPTIONS,
    *,
    command: bool = False,
    groups: Collection[str] | None = None,
) -> Iterator[FlagSpec]:
    """The flags of `options` (default: every setting) in declaration order; `groups`
    keeps those of these groups only (see `core.settings.GROUPS`)."""
    for option in options:
        if groups is None or option.group in groups:
            yield from option_flags(option, command=command)


def valued_flags(options: Iterable[Option] = OPTIONS, *, command: bool = False) -> frozenset[str]:
    """Spellings of the flags that take a value (`--stab-cache-dir DIR`)."""
    return frozenset(
        name
        for names, kwargs in setting_flags(options, command=command)
        if kwargs["action"] != "store_const"
        for name in names
    )


def given(values: Mapping[str, Any], options: Iterable[Option] = OPTIONS) -> dict[str, Any]:
    """Flag values by option name, from a mapping of dests (`stab_<name>`) as argparse and
    pytest store them; an option without a flag here is None (not given)."""
    return {option.name: values.get(option.ini) for option in options if option.flag}
