"""Backend registry, the fake backend, and what the cache key treats as the same answer."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from pathlib import Path

import pytest

from stabtest.core.errors import BackendError
from stabtest.core.plan import GenerationParams, GenerationRequest
from stabtest.generation.backend import (
    BACKENDS,
    BUILTIN_BACKENDS,
    ENTRY_POINT_GROUP,
    Backend,
    available_backends,
    resolve_backend,
)
from stabtest.generation.fake import FakeBackend
from stabtest.generation.fingerprint import dir_digest, file_digest

GREEDY = GenerationParams()
SAMPLED = GenerationParams(temperature=0.7)


@pytest.fixture(autouse=True)
def _fresh_entry_points() -> Iterator[None]:
    """Entry points are read once per sys.path: these tests replace them."""
    BACKENDS.refresh()
    yield
    BACKENDS.refresh()


class NotABackend:
    def __init__(self, **options: object):
        self.options = options


def test_builtin_names() -> None:
    assert BUILTIN_BACKENDS == {
        "hf": "stabtest.generation.hf:HFBackend",
        "fake": "stabtest.generation.fake:FakeBackend",
        "openai": "stabtest.generation.openai_backend:OpenAIBackend",
        "vllm": "stabtest.generation.vllm_backend:VLLMBackend",
    }
    assert {"hf", "fake", "openai", "vllm"} <= set(available_backends())


def test_resolve_fake_passes_options() -> None:
    backend = resolve_backend("fake", answers={"france": "Paris."}, default="?")
    assert isinstance(backend, FakeBackend)
    assert isinstance(backend, Backend)
    assert backend.generate([GenerationRequest("Capital of France?", GREEDY)]) == ["Paris."]


def test_unset_generic_options_are_dropped_but_real_ones_are_not() -> None:
    assert isinstance(resolve_backend("fake", batch_size=None), FakeBackend)
    with pytest.raises(BackendError, match=r"does not accept option\(s\) batch_size.*answers"):
        resolve_backend("fake", batch_size=4)


def test_module_attr_spelling() -> None:
    backend = resolve_backend("stabtest.generation.fake:FakeBackend", default="x")
    assert isinstance(backend, FakeBackend)
    assert backend.default == "x"


def test_unknown_name_lists_known_names_and_entry_point_fix() -> None:
    with pytest.raises(BackendError) as info:
        resolve_backend("nope")
    message = str(info.value)
    assert "unknown backend 'nope'" in message
    assert "fake, hf" in message
    assert ENTRY_POINT_GROUP in message
    assert "module:attr" in message


def test_import_failure_names_the_module() -> None:
    with pytest.raises(BackendError, match=r"cannot import module 'no_such_pkg\.mod'"):
        resolve_backend("no_such_pkg.mod:Thing")
    with pytest.raises(BackendError, match="has no attribute 'Missing'"):
        resolve_backend("stabtest.generation.fake:Missing")


def test_object_without_backend_interface_is_rejected() -> None:
    with pytest.raises(BackendError, match="lacks the Backend interface"):
        resolve_backend(f"{__name__}:NotABackend")


def test_entry_point_is_loaded_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = importlib.metadata.EntryPoint(
        name="mine", value="stabtest.generation.fake:FakeBackend", group=ENTRY_POINT_GROUP
    )
    groups: list[str] = []

    def entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        groups.append(group)
        return [entry]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert available_backends()["mine"] == "stabtest.generation.fake:FakeBackend"
    backend = resolve_backend("mine", default="from plugin")
    assert isinstance(backend, FakeBackend)
    assert backend.default == "from plugin"
    assert set(groups) == {ENTRY_POINT_GROUP}
    with pytest.raises(BackendError, match="mine"):
        resolve_backend("other")


def test_broken_entry_point_names_its_target(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = importlib.metadata.EntryPoint(
        name="broken", value="no_such_pkg:Backend", group=ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda *, group: [entry])
    with pytest.raises(BackendError, match="no_such_pkg:Backend"):
        resolve_backend("broken")


def test_fake_answers_by_exact_prompt_then_substring_then_default() -> None:
    fake = FakeBackend({"Who?": "Exact.", "capital of france": "Paris."}, default="Dunno.")
    requests = [
        GenerationRequest("Who?", GREEDY),
        GenerationRequest("What is the CAPITAL of France?", GREEDY),
        GenerationRequest("Something else", GREEDY),
    ]
    assert fake.generate(requests) == ["Exact.", "Paris.", "Dunno."]
    assert fake.calls == 1
    assert fake.prompts_seen == [r.prompt for r in requests]
    assert fake.batches == [requests]


def test_fake_lists_simulate_an_unstable_model() -> None:
    fake = FakeBackend({"france": ["Paris.", "Lyon."]})
    sampled = [GenerationRequest("france", SAMPLED, seed=1, sample=i) for i in range(3)]
    assert fake.generate(sampled) == ["Paris.", "Lyon.", "Paris."]
    assert fake.generate([GenerationRequest("france", GREEDY, sample=1)]) == ["Paris."]


def test_fake_fingerprint_follows_the_answers() -> None:
    one = FakeBackend({"a": "1"}).fingerprint()
    assert one.startswith("fake:")
    assert one == FakeBackend({"a": "1"}).fingerprint()
    assert one != FakeBackend({"a": "2"}).fingerprint()
    assert one != FakeBackend({"a": "1"}, default="other").fingerprint()


def test_greedy_samples_share_a_key_sampled_ones_do_not() -> None:
    greedy = {
        GenerationRequest("q", GREEDY, seed=s, sample=i).key("fp") for s in (1, 2) for i in (0, 1)
    }
    assert len(greedy) == 1
    sampled = [GenerationRequest("q", SAMPLED, seed=1, sample=i).key("fp") for i in range(3)]
    assert len(set(sampled)) == 3
    assert GenerationRequest("q", SAMPLED, seed=1).key("fp") != GenerationRequest(
        "q", SAMPLED, seed=2
    ).key("fp")
    assert GenerationRequest("q", GREEDY).key("a") != GenerationRequest("q", GREEDY).key("b")


def test_file_digest_sees_same_size_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    data = bytearray(5 * 1024 * 1024)
    path.write_bytes(data)
    before = file_digest(path)
    data[-10] = 1  # beyond the first MiB, inside the last sampled block
    path.write_bytes(data)
    assert file_digest(path) != before


def test_dir_digest_covers_config_and_weights_not_location(tmp_path: Path) -> None:
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text('{"x": 1}')
        (folder / "model.safetensors").write_bytes(b"w" * 100)
        (folder / "README.md").write_text(name)
    assert dir_digest(tmp_path / "a") == dir_digest(tmp_path / "b")
    (tmp_path / "b" / "config.json").write_text('{"x": 2}')
    assert dir_digest(tmp_path / "a") != dir_digest(tmp_path / "b")
