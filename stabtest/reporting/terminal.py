"""The terminal summary printed after pytest's own: one row per case, then totals."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ap_lines(summary: dict[str, Any]) -> list[str]:
    """Annotation Precision of the ensemble and of each judge, when humans labelled
    answers of this run (their labels override the automatic verdicts)."""
    extra = summary.get("extra") or {}
    labelled = extra.get("human_labelled") or 0
    if not labelled:
        return []
    judges = ", ".join(f"{j} {_fmt(ap)}" for j, ap in sorted(extra.get("ap_per_judge", {}).items()))
    return [
        f"human labels: {labelled} answer(s) | AP ensemble {_fmt(summary.get('ap'))}"
        + (f" | AP per judge: {judges}" if judges else "")
    ]


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
    lines = [table, totals, *_ap_lines(s)]
    g = report.get("generation")
    if g and g["requests"]:
        lines.append(
            f"generation: {g['requests']} requests, {g['cached']} from the cache, "
            f"{g['generated']} generated in {g['generate_seconds']:.1f} s; "
            f"embedding {g['embed_seconds']:.1f} s"
        )
    return "\n".join(lines)
