"""`SUITE::CASE` on the command line -> the suite file, its scope and the case."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stabtest.core.errors import StabtestError, SuiteError
from stabtest.core.loader import load_suite
from stabtest.core.suite import Case
from stabtest.variants.perturb import OPERATORS


@dataclass(frozen=True)
class Target:
    """A case of a suite file. `scope` is the file as a run names it (its path relative
    to the rootdir, as in `suites/capitals.yaml::capital-of-france[v3]`)."""

    path: Path
    scope: str
    case: Case


def resolve_target(target: str, rootdir: Path, cwd: Path | None = None) -> Target:
    """Load the suite named by `SUITE::CASE` (SUITE relative to `cwd`) and find the case;
    errors name the file and list the cases it has."""
    suite_part, sep, case_id = target.rpartition("::")
    if not sep or not suite_part or not case_id:
        raise StabtestError(
            f"{target!r}: expected SUITE::CASE, e.g. suites/capitals.yaml::capital-of-france"
        )
    path = Path(cwd or Path.cwd(), suite_part)
    scope = _scope(path, rootdir, suite_part)
    suite = load_suite(path, scope, operators=OPERATORS)
    for case in suite.cases:
        if case.id == case_id:
            return Target(path, scope, case)
    known = ", ".join(c.id for c in suite.cases)
    raise SuiteError(scope, f"no case {case_id!r} (cases: {known})")


def _scope(path: Path, rootdir: Path, given: str) -> str:
    try:
        return path.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return given
