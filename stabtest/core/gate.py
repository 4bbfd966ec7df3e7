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
    one that was missed, worded for the failure message. A repeat gate is None when it
    is not set or its figure is undefined."""

    max_si: float
    min_fc: float | None
    failures: tuple[str, ...]
    min_pass_rate: float | None = None
    min_pass_k: float | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


def _either(own: float | None, default: float | None) -> float | None:
    return default if own is None else own


def gate_case(
    metrics: CaseMetrics,
    thresholds: Thresholds,
    default_max_si: float,
    default_min_fc: float,
    default_min_pass_rate: float | None = None,
    default_min_pass_k: float | None = None,
) -> GateResult:
    """A case fails when SI > max_si, or FC < min_fc where FC is defined; over repeats,
    when pass rate < min_pass_rate or pass^k < min_pass_k where they are defined and set;
    with an evidence probe (when the case sets it), when its failure-to-update rate >
    max_update_failure."""
    max_si = default_max_si if thresholds.max_si is None else thresholds.max_si
    min_fc = default_min_fc if thresholds.min_fc is None else thresholds.min_fc
    min_rate = _either(thresholds.min_pass_rate, default_min_pass_rate)
    min_k = _either(thresholds.min_pass_k, default_min_pass_k)
    failures = []
    if metrics.si > max_si:
        failures.append(f"SI {metrics.si:.3f} > max_si {max_si:.3f}")
    if metrics.fc is not None and metrics.fc < min_fc:
        failures.append(f"FC {metrics.fc:.3f} < min_fc {min_fc:.3f}")
    rate, hat = metrics.pass_rate, metrics.pass_hat_k
    if min_rate is not None and rate is not None and rate < min_rate:
        failures.append(f"pass rate {rate:.3f} < min_pass_rate {min_rate:.3f}")
    if min_k is not None and hat is not None and hat < min_k:
        failures.append(f"pass^{metrics.k} {hat:.3f} < min_pass_k {min_k:.3f}")
    if (
        (cap := thresholds.max_update_failure) is not None
        and (stuck := metrics.update_failure_rate) is not None
        and stuck > cap
    ):
        failures.append(f"failed to update {stuck:.3f} > max_update_failure {cap:.3f}")
    return GateResult(
        max_si,
        min_fc if metrics.fc is not None else None,
        tuple(failures),
        min_rate if rate is not None else None,
        min_k if hat is not None else None,
    )
