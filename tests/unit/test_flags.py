"""One flag builder (`core.flags`) for the pytest plugin and the `stabtest` command, one
way to build a command's settings, and the remediation and explore settings declared once
in `Settings`: `plan_from_settings(Settings())` is exactly the plan the command's own
defaults used to give."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stabtest.cli import build_parser, main
from stabtest.cli.settings import command_settings
from stabtest.core.flags import setting_flags, valued_flags
from stabtest.core.settings import OPTIONS, OPTIONS_BY_NAME, Settings, resolve_settings
from stabtest.pytest_plugin import plugin
from stabtest.remediation.dataset import DataOptions
from stabtest.remediation.gate import Gate
from stabtest.remediation.loop import Plan, plan_from_settings
from stabtest.remediation.partition import Roles
from stabtest.remediation.train import Hyperparameters


class Recorder:
    """Stands in for pytest's parser: what `pytest_addoption` adds."""

    def __init__(self) -> None:
        self.flags: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        self.ini: list[str] = []

    def getgroup(self, name: str, description: str = "") -> Recorder:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        self.flags.append((names, kwargs))

    def addini(self, name: str, help: str, **kwargs: Any) -> None:
        self.ini.append(name)


def plugin_flags() -> Recorder:
    recorder = Recorder()
    plugin.pytest_addoption(recorder)  # type: ignore[arg-type]
    return recorder


def command_parser(*words: str) -> argparse.ArgumentParser:
    """The parser of one command (`remediate`, or `baseline compare`)."""
    parser = build_parser()
    for word in words:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


def stab_flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """`--stab-*` spellings of a parser -> their dest."""
    return {
        name: action.dest
        for action in parser._actions
        for name in action.option_strings
        if name.startswith("--stab-")
    }


def test_the_plugin_adds_exactly_the_builders_flags_and_every_ini_key() -> None:
    recorded = plugin_flags()
    assert recorded.flags == list(setting_flags())
    assert recorded.ini == [o.ini for o in OPTIONS]
    spelled = {name for names, _ in recorded.flags for name in names}
    assert {o.cli for o in OPTIONS if o.flag} <= spelled
    # the plugin's old spellings are aliases of the settings now
    assert {"--remediate", "--remediate-steps", "--remediate-budget"} <= spelled
    assert not spelled & {"--steps", "--lr", "--url", "--cache-dir", "--search"}  # command only


def test_the_command_and_the_plugin_share_each_flags_dest_and_spelling() -> None:
    pytest_dests = {
        name: kwargs["dest"]
        for names, kwargs in plugin_flags().flags
        for name in names
        if name.startswith("--stab-")
    }
    explore = stab_flags(command_parser("explore"))
    remediate = stab_flags(command_parser("remediate"))
    execute = stab_flags(command_parser("execute"))
    assert explore.items() <= pytest_dests.items()
    assert remediate.items() <= pytest_dests.items()
    assert execute.items() <= pytest_dests.items()
    # between them, every pytest flag but a run's own switches is a command's
    left = set(pytest_dests) - set(explore) - set(remediate) - set(execute)
    assert left == {"--stab-remediate", "--stab-write-plan"}


COMMANDS = [
    ("remediate",),
    ("export",),
    ("models",),
    ("push",),
    ("pull",),
    ("calibrate",),
    ("baseline", "bless"),
    ("baseline", "list"),
    ("baseline", "show"),
    ("baseline", "compare"),
    ("history",),
    ("explore",),
    ("report",),
    ("judge-noise",),
]


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_every_settings_command_takes_every_run_flag(words: tuple[str, ...]) -> None:
    groups = {"run"} | ({"remediate"} if words[0] in {"remediate", "export"} else set())
    groups |= {"explore"} if words[0] == "explore" else set()
    expected = {o.cli: o.ini for o in OPTIONS if o.flag and o.command and o.group in groups}
    assert stab_flags(command_parser(*words)) == expected


def test_remediate_help_lists_every_remediation_and_run_setting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["remediate", "-h"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    for option in OPTIONS:
        if option.flag and option.command and option.group in {"run", "remediate"}:
            assert option.cli in shown
            for alias in (*option.aliases, *option.command_aliases):
                assert alias in shown
    assert "--no-search" in shown and "--no-weak" in shown and "--no-restate" in shown


def test_the_defaults_are_the_commands_previous_defaults_one_by_one() -> None:
    plan = plan_from_settings(Settings())
    assert plan.data == DataOptions(
        weak=True, min_confidence=0.8, stability_weight=2.0, rewrite=True, replay_weight=0.5
    )
    assert plan.roles == Roles(control_fraction=0.25, validation_fraction=0.25, retain_weight=0.5)
    assert plan.hp == Hyperparameters(
        method="sft",
        learning_rate=2e-4,
        epochs=2.0,
        max_steps=-1,
        batch_size=4,
        lora_r=16,
        lora_alpha=32,
        seed=0,
    )
    assert plan.gate == Gate(
        min_si_drop=0.4,
        max_fc_drop=0.02,
        min_rdr_ratio=0.8,
        max_control_fc_drop=0.02,
        control_rule="interval",
    )
    assert (plan.eval_variants, plan.budget_minutes, plan.search) == (4, 30.0, True)
    assert (plan.rounds, plan.min_kept) == (1, 0.95)
    assert plan == Plan()  # the loop's own defaults agree
    defaults = Settings()
    assert (defaults.explore_max_generations, defaults.explore_max_seconds) == (60, 300.0)
    assert (defaults.explore_max_depth, defaults.explore_operator_names) == (3, ())
    assert defaults.remediate is False


def test_remediate_steps_and_budget_map_as_a_runs_remediate_did() -> None:
    """`pytest --remediate` built Plan(hp=Hyperparameters(max_steps, seed), budget_minutes)."""
    settings = replace(Settings(), remediate_steps=8, remediate_budget=2.5, seed=3)
    assert plan_from_settings(settings) == Plan(
        hp=Hyperparameters(max_steps=8, seed=3), budget_minutes=2.5
    )


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def settings_of(*argv: str) -> Settings:
    return command_settings(build_parser().parse_args(list(argv)))


SHORT = [
    "remediate", "--steps", "8", "--lr", "1e-3", "--no-search", "--budget-minutes", "2",
    "--method", "dpo", "--no-weak", "--control-rule", "estimate", "--lora-r", "8",
    "--min-si-drop", "-100", "--stab-remediate-rounds", "2", "--remediate-steps", "9",
]  # fmt: skip


def test_short_spellings_set_the_same_settings(here: Path) -> None:
    plan = plan_from_settings(settings_of(*SHORT))
    assert plan.hp.max_steps == 9  # the last spelling given wins, as in argparse
    assert (plan.hp.learning_rate, plan.hp.method, plan.hp.lora_r) == (1e-3, "dpo", 8)
    assert plan.hp.lora_alpha == 16 and not plan.search and not plan.data.weak
    assert (plan.budget_minutes, plan.rounds, plan.gate.min_si_drop) == (2.0, 2, -100.0)
    assert plan.gate.control_rule == "estimate"
    settings = settings_of("push", "--url", "http://x", "--prefix", "team", "--cache-dir", "c")
    assert (settings.label_studio, settings.label_studio_prefix) == ("http://x", "team")
    assert settings.cache_dir == "c"
    settings = settings_of("baseline", "list", "--dir", "b", "--stab-seed", "4")
    assert (settings.baseline_dir, settings.seed) == ("b", 4)
    assert settings_of("history", "--path", "h.jsonl").history_path == "h.jsonl"
    explore = settings_of("explore", "s.yaml::c", "--max-depth", "2", "--operators", "typo,casing")
    assert (explore.explore_max_depth, explore.explore_operator_names) == (2, ("typo", "casing"))


def test_pyproject_and_ini_reach_a_command_and_its_flags_win(here: Path) -> None:
    (here / "pyproject.toml").write_text(
        "[tool.stabtest]\nremediate_steps = 5\nremediate_search = false\n"
        'explore_max_generations = 7\nlabel_studio_prefix = "team"\n'
    )
    plan = plan_from_settings(settings_of("remediate"))
    assert (plan.hp.max_steps, plan.search) == (5, False)
    assert plan_from_settings(settings_of("remediate", "--steps", "3")).hp.max_steps == 3
    assert plan_from_settings(settings_of("remediate", "--search")).search is True
    assert plan_from_settings(settings_of("export", "sft")).hp.max_steps == 5
    assert settings_of("explore", "s.yaml::c").explore_max_generations == 7
    assert settings_of("pull").label_studio_prefix == "team"
    (here / "pytest.ini").write_text("[pytest]\nstab_remediate_budget = 4\n")
    assert plan_from_settings(settings_of("remediate")).budget_minutes == 4.0


def test_stabtest_remediate_runs_the_plan_of_its_settings(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "pyproject.toml").write_text("[tool.stabtest]\nremediate_steps = 6\n")
    seen: list[tuple[Settings, Plan]] = []

    def remediate(settings: Settings, plan: Plan) -> None:
        seen.append((settings, plan))
        raise KeyboardInterrupt

    monkeypatch.setattr("stabtest.remediation.loop.remediate", remediate)
    assert main(["remediate", "--stab-model", "my-model", "--eval-variants", "2"]) == 130
    (settings, plan), *_ = seen
    assert settings.model == "my-model" and plan == plan_from_settings(settings)
    assert (plan.hp.max_steps, plan.eval_variants) == (6, 2)
    assert "remediation interrupted" in capsys.readouterr().err


def test_a_bad_value_names_the_flag_and_exits_2(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["remediate", "--method", "ppo"]) == 2
    assert "setting --stab-remediate-method: expected one of sft, dpo" in capsys.readouterr().err
    with pytest.raises(Exception, match="stab_remediate_control_fraction"):
        resolve_settings({}, {"remediate_control_fraction": "2"}, {})


def test_export_has_no_format_flag() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "sft", "--format", "jsonl"])


def test_run_joins_the_values_of_every_valued_spelling() -> None:
    from stabtest.cli.run import join_values

    valued = valued_flags()
    assert {"--stab-cache-dir", "--remediate-steps", "--remediate-budget"} <= valued
    assert not valued & {"--stab-no-cache", "--remediate", "--steps"}
    args = ["--remediate-steps", "4", "--remediate", "--stab-cache-dir", "d", "suites"]
    assert join_values(args) == [
        "--remediate-steps=4",
        "--remediate",
        "--stab-cache-dir=d",
        "suites",
    ]


def test_a_switch_alias_joins_its_flag_and_a_true_default_alias_gets_a_no_twin() -> None:
    remediate = list(setting_flags([OPTIONS_BY_NAME["remediate"]], command=True))
    assert remediate == []  # a pytest flag only
    (names, kwargs), *_ = setting_flags([OPTIONS_BY_NAME["remediate"]])
    assert names == ("--stab-remediate", "--remediate") and kwargs["const"] is True
    search = list(setting_flags([OPTIONS_BY_NAME["remediate_search"]], command=True))
    assert [(n, k.get("const")) for n, k in search] == [
        (("--stab-remediate-search",), None),
        (("--search",), True),
        (("--no-search",), False),
    ]
    assert list(setting_flags([OPTIONS_BY_NAME["remediate_search"]])) == search[:1]
