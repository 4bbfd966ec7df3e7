"""`stabtest remediate | models | export`: fine-tune on a run's failures, list the versioned
models, write the training data. The remediation settings (`remediate_*`: flags, ini keys,
`[tool.stabtest]`) become a `Plan` in `remediation.loop.plan_from_settings`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stabtest.cli.settings import Commands, add_setting_flags, command_settings


def _remediate(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.remediation.loop import plan_from_settings, remediate
    from stabtest.reporting.remediation_view import remediation_lines

    settings = command_settings(args)
    try:
        result = remediate(settings, plan_from_settings(settings))
    except KeyboardInterrupt:
        path = settings.report_path / "remediation.json"
        print(f"remediation interrupted: what finished is in {path}", file=sys.stderr)
        return 130
    body = json.loads(Path(result.report_path).read_text(encoding="utf-8"))
    print(*remediation_lines(body), sep="\n")
    print(f"report: {result.report_path}")
    if result.status == "interrupted":
        return 130
    return 0 if result.accepted else 1


def _models(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.remediation.models import describe, rounds

    settings = command_settings(args)
    found = rounds(settings.cache_path)
    if not found:
        print(f"no remediation rounds under {settings.cache_path / 'models'}")
    for model_round in found:
        for line in describe(model_round):
            print(line)
    return 0


def _export(args: argparse.Namespace, rest: list[str]) -> int:
    from stabtest.remediation.dataset import write_jsonl
    from stabtest.remediation.loop import plan_from_settings, training_examples

    settings = command_settings(args)
    examples = training_examples(settings, plan_from_settings(settings).data, args.kind)
    output = Path(args.output or f"{args.kind}.jsonl")
    count = write_jsonl(output, examples, args.kind)
    print(f"wrote {output} ({count} {args.kind} example(s))")
    return 0


def add_commands(commands: Commands) -> None:
    rem = commands.add_parser(
        "remediate",
        help="fine-tune on the last run's failures, rerun held-out variants, accept or reject",
        description="Train one round (TRL: LoRA SFT or DPO) on adjudicated and confident "
        "failures of reports/stabtest.json, rerun the suites on held-out variants with the "
        "base and the new model, and gate. Exit 0: accepted, 1: rejected. Every flag is "
        "also an ini key and a [tool.stabtest] key: --steps is --stab-remediate-steps, "
        "stab_remediate_steps, remediate_steps.",
    )
    add_setting_flags(rem, "remediate")
    rem.set_defaults(func=_remediate)

    mod = commands.add_parser("models", help="list remediation rounds (versioned models)")
    add_setting_flags(mod)
    mod.set_defaults(func=_models)

    exp = commands.add_parser(
        "export", help="write remediation training data as JSONL (prompt/completion or DPO)"
    )
    exp.add_argument("kind", choices=["sft", "dpo"])
    exp.add_argument("-o", "--output", help="file to write (default: KIND.jsonl)")
    add_setting_flags(exp, "remediate")
    exp.set_defaults(func=_export)
