"""The one spelling of every id stabtest hands out.

A variant's uid is its pytest node id, its key in the JSON report, the gold store and
Label Studio's external id: written out in one place so the four never drift apart.
"""

from __future__ import annotations

CASE_ITEM = "stability"
"""The parameter id of the item that checks a whole case's thresholds."""


def item_name(case_id: str, variant_id: str) -> str:
    """`capital-of-france[v3]`: an item's name inside its suite file or test function."""
    return f"{case_id}[{variant_id}]"


def variant_uid(scope: str, case_id: str, variant_id: str) -> str:
    """`suites/capitals.yaml::capital-of-france[v3]`."""
    return f"{scope}::{item_name(case_id, variant_id)}"


def case_uid(scope: str, case_id: str) -> str:
    """`suites/capitals.yaml::capital-of-france`: the key of a case's result."""
    return f"{scope}::{case_id}"
