"""The terminal summary printed after pytest's own: one row per case, then totals."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render_summary(report: dict[str, Any]) -> str:
    variants_by_case: dict[str, list[dict[str, Any]]] = {}
    for v in report["variants"]:
        variants_by_case.setdefault(f"{v['suite']}::{v['case_id']}", []).append(v)
    rows = []
    for case in report["cases"]:
        variants = variants_by_case.get(case["uid"], [])
        outcomes = [v["outcome"] for v in variants if not v.get("rejected")]
        m = case["metrics"]
        rows.append(
            [
                case["suite"],
                case["case_id"],
                f"{outcomes.count('pass')}/{len(outcomes)}",
                outcomes.count("escalate") or "",
                _fmt(m["si"]),
                _fmt(m["fc"]),
                _fmt(m["rdr"]),
                "PASS" if case["passed"] else "FAIL",
            ]
        )
    table = tabulate(
        rows,
        headers=["suite", "case", "variants ok", "escalated", "SI", "FC", "RDR", "case"],
        disable_numparse=True,
    )
    s = report["summary"]
    totals = (
        f"cases {s['cases'] - s['cases_failed']}/{s['cases']} passed, "
        f"variants {s['variants'] - s['variants_failed'] - s['escalated']}/{s['variants']} passed, "
        f"{s['escalated']} escalated to humans | "
        f"SI {_fmt(s['si'])} (lower is better), FC {_fmt(s['fc'])}, RDR {_fmt(s['rdr'])}, "
        f"AP {_fmt(s['ap'])}"
    )
    return table + "\n" + totals
