"""The plugin's flags come from the one builder (core.flags): the remediation settings'
`--stab-remediate-*` flags, ini keys and `[tool.stabtest]` keys reach a run, and the old
spellings `--remediate`, `--remediate-steps`, `--remediate-budget` still work."""

from __future__ import annotations

import pytest

from stabtest.pytest_plugin.keys import SESSION


def test_old_and_new_spellings_and_config_files_reach_the_run(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nstab_backend = fake\nstab_embedder = lexical\n")

    def remediation(*args: str) -> tuple[bool, int, float]:
        settings = pytester.parseconfigure(*args).stash[SESSION].settings
        return settings.remediate, settings.remediate_steps, settings.remediate_budget

    assert remediation() == (False, -1, 30.0)
    assert remediation("--remediate", "--remediate-steps", "5")[:2] == (True, 5)
    assert remediation("--stab-remediate-budget", "2.5", "--stab-remediate") == (True, -1, 2.5)
    pytester.makepyprojecttoml("[tool.stabtest]\nremediate_steps = 3\nremediate_budget = 1\n")
    assert remediation() == (False, 3, 1.0)
    assert remediation("--remediate-steps=7")[1] == 7


def test_a_bad_remediation_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nstab_backend = fake\nstab_embedder = lexical\n")
    result = pytester.runpytest("--stab-remediate-method", "ppo")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*setting --stab-remediate-method: expected one of sft, dpo*"])


def test_the_help_lists_the_remediation_flags_but_not_the_commands_short_ones(
    pytester: pytest.Pytester,
) -> None:
    out = pytester.runpytest("--help").stdout.str()
    assert "--stab-remediate-lr" in out and "--remediate-steps" in out
    assert "--budget-minutes" not in out and "--no-search" not in out
