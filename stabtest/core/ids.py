"""The one spelling of every id stabtest hands out.

A variant's uid is its pytest node id, its key in the JSON report, the gold store and
Label Studio's external id: written out in one place so the four never drift apart.
"""

from __future__ import annotations

from typing import Literal

CASE_ITEM = "stability"
"""The parameter id of the item that checks a whole case's thresholds."""

CollectMode = Literal["per-variant", "per-case"]
PER_VARIANT: CollectMode = "per-variant"
"""A case collects one item per variant (`c[v3]`) and one for its thresholds (`c[stability]`)."""
PER_CASE: CollectMode = "per-case"
"""A case collects one item (`c`, in a suite file) that checks all of it: a suite of a
million variants is not a million items. Results and their uids are the same."""
COLLECT_MODES: tuple[CollectMode, ...] = (PER_VARIANT, PER_CASE)


def collect_mode(value: object) -> CollectMode:
    """`value` as a collection mode (a suite's `collect` key, the marker's `collect=`);
    anything else is a ValueError that says what is allowed."""
    for mode in COLLECT_MODES:
        if value == mode:
            return mode
    raise ValueError(f"expected one of {', '.join(COLLECT_MODES)}, got {value!r}")


def item_name(case_id: str, variant_id: str) -> str:
    """`capital-of-france[v3]`: an item's name inside its suite file or test function."""
    return f"{case_id}[{variant_id}]"


def variant_uid(scope: str, case_id: str, variant_id: str) -> str:
    """`suites/capitals.yaml::capital-of-france[v3]`."""
    return f"{scope}::{item_name(case_id, variant_id)}"


def case_uid(scope: str, case_id: str) -> str:
    """`suites/capitals.yaml::capital-of-france`: the key of a case's result."""
    return f"{scope}::{case_id}"


def answer_uid(variant: str, answer_hash: str) -> str:
    """`suites/capitals.yaml::capital-of-france[v3]#a1b2`: one answer of one variant (a
    training example's uid, a Label Studio task's external id)."""
    return f"{variant}#{answer_hash}"


def case_of(uid: str) -> str:
    """The case uid inside a variant or answer uid: `suites/x.yaml::c[v3]#ab` ->
    `suites/x.yaml::c`. The one place a uid is read back."""
    head = variant_of(uid)
    return head[: head.rindex("[")] if head.endswith("]") and "[" in head else head


def variant_of(uid: str) -> str:
    """The variant uid of an answer uid (`...[v3]#ab` -> `...[v3]`); a variant uid as it is."""
    before, sep, _ = uid.rpartition("#")
    return before if sep and before.endswith("]") else uid


def scope_of(uid: str) -> str:
    """The suite file or test function of a case, variant or answer uid."""
    return uid.split("::", 1)[0]
