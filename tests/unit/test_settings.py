"""Settings are declared once: flags, ini keys and [tool.stabtest] keys come from the
Settings fields, and backend options merge from all three sources."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from stabtest.core.errors import ConfigError
from stabtest.core.settings import (
    OPTIONS,
    OPTIONS_BY_NAME,
    Settings,
    read_pyproject,
    resolve_settings,
)


def test_every_field_but_rootdir_is_an_option_with_its_own_default() -> None:
    assert [o.name for o in OPTIONS] == [f.name for f in fields(Settings) if f.name != "rootdir"]
    defaults = Settings()
    for option in OPTIONS:
        assert getattr(defaults, option.name) == option.default
        stem = option.spelled or option.name
        assert option.cli == "--stab-" + stem.replace("_", "-")
        assert option.ini == "stab_" + stem
        assert option.help


def test_precedence_is_flag_then_ini_then_pyproject_then_default() -> None:
    resolved = resolve_settings({"max_si": "0.1"}, {"max_si": "0.2"}, {"max_si": 0.3})
    assert resolved.max_si == 0.1
    assert resolve_settings({}, {"max_si": "0.2"}, {"max_si": 0.3}).max_si == 0.2
    assert resolve_settings({}, {}, {"max_si": 0.3}).max_si == 0.3
    assert resolve_settings({}, {}, {}).max_si == 0.5


def test_a_bad_value_names_its_flag_or_key() -> None:
    with pytest.raises(ConfigError, match="--stab-max-si"):
        resolve_settings({"max_si": "2"}, {}, {})
    with pytest.raises(ConfigError, match=r"\[tool.stabtest\] batch_size"):
        resolve_settings({}, {}, {"batch_size": 0})
    with pytest.raises(ConfigError, match=r"stab_backend_option.*KEY=VALUE"):
        resolve_settings({}, {"backend_options": ["no-equals-sign"]}, {})


def test_backend_options_merge_key_by_key_and_values_are_typed() -> None:
    resolved = resolve_settings(
        {"backend_options": ["threads=1", "api=chat"]},
        {"backend_options": ["threads=4", "timeout=2.5"]},
        {"backend_options": {"timeout": 9, "retries": 3, "base_url": "http://x"}},
    )
    assert resolved.backend_options == {
        "threads": 1,
        "api": "chat",
        "timeout": 2.5,
        "retries": 3,
        "base_url": "http://x",
    }
    assert OPTIONS_BY_NAME["backend_options"].cli == "--stab-backend-option"  # one at a time
    assert OPTIONS_BY_NAME["backend_options"].ini == "stab_backend_option"


def test_pyproject_backend_table_names_the_backend_and_its_options(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.stabtest]\nseed = 3\n[tool.stabtest.backend]\nname = "fake"\ndefault = "hi"\n'
    )
    table = read_pyproject(tmp_path)
    assert table == {"seed": 3, "backend": "fake", "backend_options": {"default": "hi"}}
    resolved = resolve_settings({}, {}, table, tmp_path)
    assert (resolved.backend, resolved.backend_options, resolved.seed) == (
        "fake",
        {"default": "hi"},
        3,
    )


def test_unknown_pyproject_keys_are_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.stabtest]\nmax_sii = 0.2\n")
    with pytest.raises(ConfigError, match="max_sii"):
        read_pyproject(tmp_path)


def test_the_token_never_shows() -> None:
    settings = Settings(label_studio_token="s3cret")
    assert "s3cret" not in repr(settings)
    assert "label_studio_token" not in settings.public()
