"""`stabtest plan -o PLAN [pytest args]` and `stabtest execute PLAN --engine local|ray`:
a session's generation written as a file, then answered here or on a Ray cluster, so
the `pytest` (or `stabtest run`) that follows reads every answer from the cache and
only judges and gates."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stabtest.cli.run import join_values
from stabtest.cli.settings import Commands, add_setting_flags, command_settings
from stabtest.core.errors import StabtestError
from stabtest.core.flags import given

if TYPE_CHECKING:
    from stabtest.core.plan_file import PlanHeader
    from stabtest.core.settings import Settings
    from stabtest.scale.execute import ExecuteSummary


def _plan(args: argparse.Namespace, rest: list[str]) -> int:
    import pytest

    from stabtest.core.plan_file import read_counts

    output = Path(args.output).resolve()
    status = int(
        pytest.main(
            [
                "--collect-only",
                "-qq",
                "-o",
                "testpaths=suites",
                f"--stab-write-plan={output}",
                *join_values(rest),
            ]
        )
    )
    if status != 0:
        raise StabtestError(
            f"no plan written: collection failed (pytest exit status {status}); the errors "
            "are above"
        )
    read_counts(output)  # complete: the plugin wrote it and its trailer
    return 0


MODEL_FLAGS = {"backend": "backend", "model": "model", "backend_options": "backend_options"}
"""A plan header's field -> the setting that replaces it on `execute`'s command line."""
JUDGE_FLAGS = {"backend": "judge_backend", "model": "judge_model"}
"""The same for the header of the LLM judge's model."""


def _with_overrides(
    header: PlanHeader, args: argparse.Namespace, settings: Settings, flags: dict[str, str]
) -> PlanHeader:
    """The header with the model settings `flags` names that this command line gives
    (the same model at another path on the cluster's nodes, a backend option such as a
    server URL, added to the plan's); the fingerprint check still applies."""
    chosen = given(vars(args))
    changes: dict[str, Any] = {
        field: getattr(settings, name) for field, name in flags.items() if chosen.get(name)
    }
    if "backend_options" in changes:
        changes["backend_options"] = {**header.backend_options, **changes["backend_options"]}
    return replace(header, **changes)


def _summary_table(summary: ExecuteSummary) -> str:
    from tabulate import tabulate

    rows: list[list[object]] = [
        ["plan", summary.plan],
        ["engine", f"{summary.engine} ({summary.workers} worker(s))"],
        ["threads / requests", f"{summary.threads} / {summary.requests}"],
        ["answers found in the cache", summary.cached],
        ["answers generated", summary.generated],
        ["prompts refused", summary.refused],
        ["texts embedded (found in cache)", f"{summary.embedded} ({summary.embeddings_cached})"],
        [
            "answers graded by the LLM judge (found in cache)",
            f"{summary.graded} ({summary.grades_cached}) of {summary.gradings}",
        ],
        ["seconds", f"{summary.seconds:.2f}"],
        ["requests answered / s", f"{summary.requests_per_second:.1f}"],
    ]
    return tabulate([[str(c) for c in row] for row in rows], tablefmt="plain")


def _terminal_progress(stage: str, done: int, total: int) -> None:
    print(f"\r{stage} {done}/{total}", end="", file=sys.stderr, flush=True)


def _execute(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.core.plan_file import read_header
    from stabtest.scale.execute import run_plan

    settings = command_settings(args)
    path = Path(args.plan)
    planned = read_header(path)
    header = _with_overrides(planned, args, settings, MODEL_FLAGS)
    planned_judge = planned.judge_header()
    judge = planned_judge and _with_overrides(planned_judge, args, settings, JUDGE_FLAGS)
    given_cache = given(vars(args)).get("cache_dir")
    cache_path = settings.cache_path / "cache.sqlite" if given_cache else None
    progress = _terminal_progress if not args.json and sys.stderr.isatty() else None

    try:
        summary = run_plan(
            path, settings, header=header, judge=judge, cache_path=cache_path, progress=progress
        )
    finally:
        if progress is not None:
            print(file=sys.stderr)
    print(json.dumps(summary.as_dict(), indent=2) if args.json else _summary_table(summary))
    return 0


def add_commands(commands: Commands) -> None:
    plan = commands.add_parser(
        "plan",
        help="write the generation plan of a session (suites/ by default) to a file",
        description="Collect the session as pytest would (the same paths, -k, -m and "
        "--stab-* options), expand and prepare every variant, and write the deduplicated "
        "generation plan (and the texts to embed) as JSON lines. Nothing is generated "
        "but model paraphrases, which collection writes through the cache.",
    )
    plan.add_argument("-o", "--output", required=True, metavar="PLAN", help="file to write")
    plan.set_defaults(func=_plan)
    execute = commands.add_parser(
        "execute",
        help="answer a plan file here or on a Ray cluster, filling the cache",
        description="Answer and embed everything the plan holds that the cache lacks, in "
        "blocks, with --engine local (this process) or --engine ray (actors on a Ray "
        "cluster); an interrupted execution resumes. Then `pytest` (or `stabtest run`) "
        "with the same options only judges and gates.",
    )
    execute.add_argument("plan", metavar="PLAN", help="a file `stabtest plan` wrote")
    execute.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_setting_flags(execute, "execute")
    execute.set_defaults(func=_execute)
