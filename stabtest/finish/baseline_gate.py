"""A run against its baseline, as the settings say: one place for the run's end and
`stabtest compare`, with the judges' own noise floor as the least change worth calling a
regression when `baseline_judge_noise` is on."""

from __future__ import annotations

import json
from dataclasses import replace

from stabtest.core.compare import BaselineComparison, ComparedRun, compare_reports
from stabtest.core.errors import StabtestError
from stabtest.core.settings import Settings


def compare_with_baseline(
    settings: Settings, baseline: ComparedRun, current: ComparedRun, name: str
) -> tuple[BaselineComparison, list[str]]:
    """The comparison, and lines to say (the noise floor used, or why none was)."""
    settings, lines = _noise_tolerances(settings)
    comparison = compare_reports(
        baseline,
        current,
        name,
        si_tolerance=settings.baseline_si_tolerance,
        fc_tolerance=settings.baseline_fc_tolerance,
        strict=settings.baseline_strict,
        seed=settings.seed,
        resamples=settings.baseline_resamples,
        fdr=settings.baseline_fdr,
    )
    return comparison, lines


def _noise_tolerances(settings: Settings) -> tuple[Settings, list[str]]:
    """SI and FC tolerances raised to the noise floor `stabtest judge-noise` measured (the
    share of verdicts that flip under changes that should flip none): a smaller change
    could be the judges, not the model."""
    if not settings.baseline_judge_noise:
        return settings, []
    from stabtest.adjudication.noise_floor import NOISE_NAME, SECTION

    path = settings.report_path / NOISE_NAME
    if not path.is_file():
        return settings, [
            f"judge noise: no {path} (run `stabtest judge-noise` on a report first); "
            "tolerances unchanged"
        ]
    try:
        floor = float(json.loads(path.read_text(encoding="utf-8"))[SECTION]["noise_floor"])
    except (ValueError, KeyError, TypeError) as error:
        raise StabtestError(f"{path}: not a judge-noise result ({error})") from None
    raised = replace(
        settings,
        baseline_si_tolerance=max(settings.baseline_si_tolerance, floor),
        baseline_fc_tolerance=max(settings.baseline_fc_tolerance, floor),
    )
    return raised, [
        f"judge noise floor {floor:.3f} ({path}): SI and FC changes within it are not "
        f"called regressions (tolerances SI +{raised.baseline_si_tolerance:.3f}, FC "
        f"-{raised.baseline_fc_tolerance:.3f})"
    ]
