"""`stabtest explore SUITE::CASE`: the smallest perturbation of a case's prompt that breaks
the model, written back to the suite as a paraphrase."""

from __future__ import annotations

import argparse
from pathlib import Path

from stabtest.cli.settings import Commands, add_setting_flags, command_settings
from stabtest.core.errors import StabtestError

EXPLORE_FOUND, EXPLORE_NOT_FOUND, EXPLORE_ORIGINAL_FAILS = 0, 1, 3
"""Exit statuses of `stabtest explore` (2 stays every command's error status)."""


def _explore(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.explore.render import render_exploration
    from stabtest.explore.search import Budget, Explorer, database_dir
    from stabtest.explore.target import resolve_target
    from stabtest.session import Session

    settings = command_settings(args)
    target = resolve_target(args.target, Path(settings.rootdir))
    try:
        budget = Budget(settings.explore_max_generations, settings.explore_max_seconds)
        explorer = Explorer(
            Session(settings),
            target.scope,
            target.case,
            budget,
            operators=settings.explore_operator_names,
            max_depth=settings.explore_max_depth,
            database_dir=database_dir(settings.cache_path),
        )
    except ValueError as error:  # a bad budget, depth or operator name
        raise StabtestError(str(error)) from None
    exploration = explorer.run()
    print(*render_exploration(exploration, budget), sep="\n")
    if exploration.status == "original_fails":
        return EXPLORE_ORIGINAL_FAILS
    if exploration.finding is None:
        return EXPLORE_NOT_FOUND
    if args.write:
        from stabtest.explore.writeback import add_paraphrase

        written = add_paraphrase(
            target.path, target.case.id, exploration.finding.text, target.scope
        )
        if written.added:
            print(f"wrote {target.scope}:{written.line}: a paraphrase of {target.case.id}")
        else:
            print(f"{target.scope}: {target.case.id} already has this wording; unchanged")
    return EXPLORE_FOUND


def add_commands(commands: Commands) -> None:
    exp = commands.add_parser(
        "explore",
        help="search for the smallest perturbation of a case's prompt that breaks the model",
        description="Search compositions of the perturbation operators (hypothesis, through "
        "the generation cache) for a wording of the case's prompt whose answer is wrong or "
        "diverges from the original's, shrink it to the fewest operators, print it and add "
        "it to the suite as a paraphrase. Exit 0: found, 1: none within the budget, 3: the "
        "original prompt already fails, 2: error. --max-generations, --max-seconds, "
        "--max-depth and --operators are short for --stab-explore-max-generations...",
    )
    exp.add_argument(
        "target", metavar="SUITE::CASE", help="e.g. suites/capitals.yaml::capital-of-france"
    )
    exp.add_argument(
        "--no-write",
        dest="write",
        action="store_false",
        help="do not add the found variant to the suite file",
    )
    add_setting_flags(exp, "explore")
    exp.set_defaults(func=_explore)
