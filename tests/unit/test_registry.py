"""The one lazy name registry (stabtest.core.registry) and the registries built on it."""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stabtest.core.errors import ConfigError, SuiteError
from stabtest.core.registry import Registry, did_you_mean, unknown_message
from stabtest.core.suite import Case

GROUP = "stabtest.tests"


class Boom(Exception):
    """The caller's own error type."""


@pytest.fixture
def lazy_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module on sys.path that nothing has imported yet."""
    name = "stab_registry_lazy_probe"
    (tmp_path / f"{name}.py").write_text("VALUE = 41\n\ndef make():\n    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch) -> list[importlib.metadata.EntryPoint]:
    """The group's entry points, as `importlib.metadata.entry_points` reports them; each
    read is counted in `reads`."""
    found: list[importlib.metadata.EntryPoint] = []
    reads: list[str] = []

    def read(*, group: str) -> list[importlib.metadata.EntryPoint]:
        reads.append(group)
        return [ep for ep in found if ep.group == group]

    monkeypatch.setattr(importlib.metadata, "entry_points", read)
    monkeypatch.setattr(sys.modules[__name__], "READS", reads, raising=False)
    return found


READS: list[str] = []


def point(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=GROUP)


def test_message_names_the_kind_the_name_the_closest_and_the_known() -> None:
    assert did_you_mean("tpyo", ["typo", "casing"]) == " (did you mean 'typo'?)"
    assert did_you_mean("zzz", ["typo"]) == ""
    assert unknown_message("adversarial family", "wrod", ["char", "word"], plural="families") == (
        "unknown adversarial family 'wrod' (did you mean 'word'?); valid families: char, word"
    )
    assert unknown_message("thing", "x", [], hint="; add one") == (
        "unknown thing 'x'; valid things: none; add one"
    )


def test_importing_nothing_until_a_name_is_loaded(lazy_module: str) -> None:
    registry: Registry[int] = Registry("probe", {"v": f"{lazy_module}:VALUE"})
    assert "v" in registry and registry.names() == ("v",) and len(registry) == 1
    assert registry.target("v") == f"{lazy_module}:VALUE"
    assert registry.check("v") == "v"
    assert lazy_module not in sys.modules
    assert registry.load("v") == 41
    assert lazy_module in sys.modules
    assert registry["v"] == 41 and dict(registry) == {"v": 41}


def test_unknown_name_raises_the_callers_error_with_did_you_mean() -> None:
    registry: Registry[int] = Registry(
        "widget", {"sprocket": "x:y", "gear": "x:z"}, error=Boom, hint=". Add one."
    )
    with pytest.raises(Boom) as caught:
        registry.load("sprockett")
    assert str(caught.value) == (
        "unknown widget 'sprockett' (did you mean 'sprocket'?); "
        "valid widgets: gear, sprocket. Add one."
    )
    with pytest.raises(Boom, match="unknown widget 'nope'; valid widgets"):
        registry.check("nope")
    # as a Mapping it behaves as a dict does
    with pytest.raises(KeyError):
        registry["nope"]
    assert registry.get("nope") is None and "nope" not in registry and 3 not in registry


def test_added_objects_keep_their_order_and_replace_a_target() -> None:
    assert list(Registry("word", objects={"z": "zed", "y": "why"}).items()) == [
        ("z", "zed"),
        ("y", "why"),
    ]
    registry: Registry[str] = Registry("word")
    registry.add("b", "bee")
    registry.add("a", "ay")
    registry.register("c", "string:ascii_lowercase")
    assert list(registry) == ["b", "a", "c"]
    assert registry.target("a") is None
    registry.add("c", "see")
    assert registry.load("c") == "see" and list(registry.values()) == ["bee", "ay", "see"]
    with pytest.raises(ValueError, match=r"not of the form 'package\.module:attr'"):
        registry.register("d", "no-colon")


def test_literal_targets_only_where_accepted(lazy_module: str) -> None:
    closed: Registry[object] = Registry("probe", error=Boom)
    with pytest.raises(Boom, match="unknown probe"):
        closed.load(f"{lazy_module}:make")
    open_: Registry[object] = Registry("probe", targets=True, error=Boom)
    assert open_.check(f"{lazy_module}:make") == f"{lazy_module}:make"
    made = open_.load(f"{lazy_module}:make")
    assert callable(made) and made() == 42
    assert f"{lazy_module}:make" not in open_.names()  # a spelled-out target is not a name


def test_targets_that_do_not_import_say_why() -> None:
    registry: Registry[object] = Registry(
        "probe",
        {"gone": "no_such_pkg_xyz.mod:Thing", "typo": "stabtest.core.registry:Missing"},
        error=Boom,
    )
    with pytest.raises(Boom, match=r"probe 'gone': cannot import module 'no_such_pkg_xyz\.mod'"):
        registry.load("gone")
    with pytest.raises(Boom, match=r"module 'stabtest\.core\.registry' has no attribute 'Missing'"):
        registry.load("typo")
    with pytest.raises(Boom, match="is not of the form"):
        Registry("probe", targets=True, error=Boom).load("stabtest.core.registry:")


def test_entry_points_are_read_lazily_once_per_sys_path(
    entry_points: list[importlib.metadata.EntryPoint],
    lazy_module: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry_points += [point("theirs", f"{lazy_module}:VALUE"), point("ours", "elsewhere:X")]
    registry: Registry[int] = Registry("probe", {"ours": "string:digits"}, group=GROUP)
    assert registry.load("ours") == "0123456789"  # a built-in name reads no entry point
    assert READS == []
    assert registry.names() == ("ours", "theirs")  # built-ins are never shadowed
    assert registry.target("ours") == "string:digits"
    assert registry.target("theirs") == f"{lazy_module}:VALUE"
    assert lazy_module not in sys.modules
    assert registry.load("theirs") == 41
    assert READS == [GROUP]
    entry_points.append(point("later", "string:digits"))
    assert "later" not in registry  # read once ...
    monkeypatch.syspath_prepend("/nonexistent-for-stabtest")
    assert "later" in registry  # ... and again when sys.path changes
    entry_points.append(point("latest", "string:digits"))
    registry.refresh()
    assert "latest" in registry
    assert READS == [GROUP] * 3


def test_a_broken_entry_point_names_its_target_and_group(
    entry_points: list[importlib.metadata.EntryPoint],
) -> None:
    entry_points.append(point("broken", "no_such_pkg_xyz:Thing"))
    registry: Registry[object] = Registry("probe", group=GROUP, error=Boom)
    with pytest.raises(Boom, match=r"entry point 'no_such_pkg_xyz:Thing' \(group 'stabtest"):
        registry.load("broken")


# --- the registries moved onto it -------------------------------------------------------


def test_every_registry_names_its_kind_and_the_closest_name() -> None:
    from stabtest.annotators.registry import build_judges
    from stabtest.core.errors import BackendError
    from stabtest.generation.backend import resolve_backend
    from stabtest.generation.embedder import resolve_embedder
    from stabtest.importers import import_suite
    from stabtest.variants.adversarial import attack
    from stabtest.variants.perturb import validate_operators

    with pytest.raises(BackendError, match=r"unknown backend 'fak' \(did you mean 'fake'\?\)"):
        resolve_backend("fak")
    with pytest.raises(ConfigError, match=r"--stab-judges: unknown judge 'semantik' \(did you"):
        build_judges(["semantik"])
    with pytest.raises(ConfigError, match=r"unknown embedder 'lexcal' \(did you mean 'lexical'"):
        resolve_embedder("lexcal")
    with pytest.raises(ConfigError, match=r"unknown importer 'gsm8" r"' \(did you mean 'gsm8k'"):
        import_suite("gsm8", Path("x"))
    with pytest.raises(ValueError, match=r"unknown adversarial family 'chr' \(did you mean"):
        attack("chr", "text", __import__("random").Random(0))
    with pytest.raises(ValueError, match=r"unknown perturbation operator 'tpyo' \(did you"):
        validate_operators(["tpyo"])


def test_embedders_resolve_by_name_or_target() -> None:
    from stabtest.generation.embedder import resolve_embedder
    from stabtest.generation.lexical import LexicalEmbedder

    assert isinstance(resolve_embedder("lexical"), LexicalEmbedder)
    assert isinstance(
        resolve_embedder("stabtest.generation.lexical:LexicalEmbedder"), LexicalEmbedder
    )
    with pytest.raises(ConfigError, match="cannot import module 'no_such_pkg_xyz'"):
        resolve_embedder("no_such_pkg_xyz:Embedder")


def test_checks_accept_builtins_and_the_names_the_caller_knows() -> None:
    case = Case.model_validate(
        {"id": "a", "prompt": "q", "checks": ["semantic", "acme"]}, context={"checks": ["acme"]}
    )
    assert case.checks == ("semantic", "acme")
    with pytest.raises(ValueError, match=r"unknown check 'acm' \(did you mean 'acme'\?\)"):
        Case.model_validate(
            {"id": "a", "prompt": "q", "checks": ["acm"]}, context={"checks": ["acme"]}
        )


def test_an_unknown_check_in_a_suite_names_file_line_and_key() -> None:
    from stabtest.core.loader import parse_suite

    text = "cases:\n  - id: a\n    prompt: q\n    checks: [semantc]\n"
    with pytest.raises(SuiteError) as caught:
        parse_suite(text, "suites/s.yaml")
    message = str(caught.value)
    assert message.startswith("suites/s.yaml:4 [cases[0].checks]: unknown check 'semantc'")
    assert "did you mean 'semantic'?" in message and "stabtest.judges" in message


class Acme:
    """A third party's judge, as an entry point names it."""

    made = 0
    name = "acme"
    aspect = "correctness"

    def __init__(self) -> None:
        Acme.made += 1

    def applies(self, case: Case) -> bool:
        return True

    def votes(self, evidence: object) -> list[str]:
        return ["acme's vote"]


class AskingAcme(Acme):
    def __init__(self, generate: object = None) -> None:
        super().__init__()
        self.generate = generate


@pytest.fixture
def acme_entry_point(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from stabtest.annotators.registry import JUDGES

    found = [
        importlib.metadata.EntryPoint(
            name="acme", value=f"{__name__}:Acme", group="stabtest.judges"
        ),
        importlib.metadata.EntryPoint(
            name="asking", value=f"{__name__}:AskingAcme", group="stabtest.judges"
        ),
    ]
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda *, group: [e for e in found if e.group == group]
    )
    JUDGES.refresh()
    Acme.made = 0
    yield "acme"
    JUDGES.refresh()


def test_an_unlisted_third_party_judge_is_dormant_and_built_lazily(acme_entry_point: str) -> None:
    from stabtest.annotators.registry import DormantJudge, build_judges

    judges = build_judges(["semantic"])
    assert [j.name for j in judges] == ["semantic", "acme", "asking"]
    dormant = judges[1]
    assert isinstance(dormant, DormantJudge) and Acme.made == 0
    plain = Case(id="a", prompt="q")
    named = Case.model_validate(
        {"id": "b", "prompt": "q", "checks": ["semantic", "acme"]}, context={"checks": ["acme"]}
    )
    assert not dormant.applies(plain) and Acme.made == 0
    assert dormant.applies(named) and Acme.made == 1
    assert dormant.aspect == "correctness"
    assert dormant.votes(None) == ["acme's vote"]  # type: ignore[arg-type]
    assert Acme.made == 1


def test_a_listed_third_party_judge_judges_every_case_and_may_take_generate(
    acme_entry_point: str,
) -> None:
    from stabtest.annotators.registry import build_judges

    def generate(requests: object) -> list[str]:
        return []

    judges = build_judges(["semantic", "acme", "asking"])
    assert [type(j).__name__ for j in judges] == ["SemanticJudge", "Acme", "AskingAcme"]
    assert judges[1].applies(Case(id="a", prompt="q"))
    asking = build_judges(["asking"], generate=generate)[0]
    assert isinstance(asking, AskingAcme) and asking.generate is generate
    with pytest.raises(ConfigError, match=r"unknown judge 'acmee' \(did you mean 'acme'\?\)"):
        build_judges(["acmee"])
