"""The threshold gate of one case: its metrics against its resolved thresholds.

Pure: the session feeds it metrics and the settings' defaults, and the same function
serves a rerun, a remediation comparison or a report read back from disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from stabtest.core.results import CaseMetrics
from stabtest.core.suite import Thresholds


@dataclass(frozen=True)
class GateResult:
    """The thresholds that applied (a case's own, else the session default) and every
    one that was missed, worded for the failure message."""

    max_si: float
    min_fc: float | None
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def gate_case(
    metrics: CaseMetrics, thresholds: Thresholds, default_max_si: float, default_min_fc: float
) -> GateResult:
    """A case fails when SI > max_si, or FC < min_fc where FC is defined, or (when the
    case sets it) its failure-to-update rate > max_update_failure."""
    max_si = default_max_si if thresholds.max_si is None else thresholds.max_si
    min_fc = default_min_fc if thresholds.min_fc is None else thresholds.min_fc
    failures = []
    if metrics.si > max_si:
        failures.append(f"SI {metrics.si:.3f} > max_si {max_si:.3f}")
    if metrics.fc is not None and metrics.fc < min_fc:
        failures.append(f"FC {metrics.fc:.3f} < min_fc {min_fc:.3f}")
    if (
        (cap := thresholds.max_update_failure) is not None
        and (rate := metrics.update_failure_rate) is not None
        and rate > cap
    ):
        failures.append(f"failed to update {rate:.3f} > max_update_failure {cap:.3f}")
    return GateResult(max_si, min_fc if metrics.fc is not None else None, tuple(failures))
