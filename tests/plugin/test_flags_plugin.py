"""The plugin's flags come from the one builder (core.flags): the remediation settings'
`--stab-remediate-*` flags, ini keys and `[tool.stabtest]` keys reach a run, and the old
spellings `--remediate`, `--remediate-steps`, `--remediate-budget` still work."""

from __future__ import annotations

import pytest


def test_old_and_new_spellings_and_config_files_reach_the_run(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nstab_backend = fake\nstab_embedder = lexical\n")
    config = pytester.parseconfigure()
    options = config.option
    assert (options.remediate, options.remediate_steps, options.remediate_budget) == (
        False,
        -1,
        30.0,
    )
    config = pytester.parseconfigure("--remediate", "--remediate-steps", "5")
    assert (config.getoption("remediate"), config.getoption("remediate_steps")) == (True, 5)
    config = pytester.parseconfigure("--stab-remediate-budget", "2.5", "--stab-remediate")
    assert (config.getoption("remediate"), config.getoption("remediate_budget")) == (True, 2.5)
    pytester.makepyprojecttoml("[tool.stabtest]\nremediate_steps = 3\nremediate_budget = 1\n")
    config = pytester.parseconfigure()
    assert (config.getoption("remediate_steps"), config.getoption("remediate_budget")) == (3, 1.0)
    assert pytester.parseconfigure("--remediate-steps=7").getoption("remediate_steps") == 7


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
