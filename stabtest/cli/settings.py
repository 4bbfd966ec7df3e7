"""The settings of a `stabtest` command: as a run from this directory sees them
(`core.configfiles.load_settings`: ini file, `[tool.stabtest]`), with the command's
`--stab-*` flags on top. The flags come from `core.flags`, the builder the pytest plugin
uses too, so a command takes the same spellings a run does (and its short ones:
`--cache-dir`, `--url`, `--steps`...)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TypeAlias

from stabtest.core.errors import StabtestError
from stabtest.core.flags import given, setting_flags
from stabtest.core.settings import Settings

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What `add_subparsers` returns: each command module adds its parsers to it."""

_TITLES = {
    "run": "settings (as for a run; ini and pyproject apply)",
    "remediate": "remediation settings (ini stab_remediate_*, [tool.stabtest] remediate_*)",
    "explore": "explore settings (ini stab_explore_*, [tool.stabtest] explore_*)",
    "execute": "execution settings (ini stab_engine, stab_block_size, stab_ray_*)",
}


def add_setting_flags(parser: argparse.ArgumentParser, *groups: str) -> None:
    """The flags of every run setting and of the settings of `groups` (`remediate`,
    `explore`), one argument group each."""
    for group in ("run", *groups):
        arguments = parser.add_argument_group(_TITLES[group])
        for names, kwargs in setting_flags(command=True, groups={group}):
            arguments.add_argument(*names, **kwargs)


def command_settings(args: argparse.Namespace, *, needs_url: bool = False) -> Settings:
    """Settings as a run from this directory sees them, with this command's flags on top;
    `needs_url`: a Label Studio URL must be set somewhere."""
    from stabtest.core.configfiles import load_settings

    settings = load_settings(Path.cwd(), given(vars(args)))
    if needs_url and not settings.label_studio:
        raise StabtestError(
            "no Label Studio URL: pass --url URL, or set stab_label_studio (ini) or "
            "label_studio ([tool.stabtest] in pyproject.toml)"
        )
    return settings
