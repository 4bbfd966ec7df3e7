"""Human adjudication: push verdicts to Label Studio, pull labels back into the gold store.

Nothing here imports label_studio_sdk at module level: the plugin imports this package in
every pytest run and must stay cheap when no server is configured.
"""

from __future__ import annotations

from stabtest.adjudication.calibrate import (
    CalibrationRow,
    CurvePoint,
    calibration_curve,
    choose_threshold,
)
from stabtest.adjudication.client import PullReport, PushReport, pull_gold, push_results
from stabtest.adjudication.gold import Correction, GoldRecord, GoldStore, UpsertReport
from stabtest.adjudication.outbox import Outbox
from stabtest.adjudication.paths import default_gold_path, default_outbox_path

__all__ = [
    "CalibrationRow",
    "Correction",
    "CurvePoint",
    "GoldRecord",
    "GoldStore",
    "Outbox",
    "PullReport",
    "PushReport",
    "UpsertReport",
    "calibration_curve",
    "choose_threshold",
    "default_gold_path",
    "default_outbox_path",
    "pull_gold",
    "push_results",
]
