"""Plan ordering, the `auto` batch size rule, sampled-key versioning and the per-row
sampler's pure parts: what makes local generation fast and sampled answers batch-free."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest

from stabtest.core.plan import (
    GenerationParams,
    GenerationPlan,
    GenerationRequest,
    batches,
    even_batches,
)
from stabtest.core.settings import resolve_settings
from stabtest.generation.backend import DEFAULT_REQUESTS_PER_CALL
from stabtest.generation.batching import (
    ACCELERATOR_CAP,
    CPU_CAP,
    auto_batch_size,
    kv_bytes_per_token,
    score_bytes_per_row,
)
from stabtest.generation.generator import Generator
from stabtest.generation.sampling import row_seed, step_seed

GREEDY = GenerationParams()
HOT = GenerationParams(temperature=0.8, top_p=0.9)


def test_batches_keep_every_key_once_grouped_by_params_longest_first() -> None:
    prompts = ["a" * n for n in (3, 9, 1, 9, 17, 30, 2)]
    items = [
        (f"k{i}", GenerationRequest(p, GREEDY if i % 2 else HOT)) for i, p in enumerate(prompts)
    ]
    out = list(batches(items, 2))
    flat = [item for batch in out for item in batch]
    assert sorted(flat) == sorted(items)  # each (key, request) once, unchanged
    assert all(len(batch) <= 2 for batch in out)
    assert all(len({r.params for _, r in batch}) == 1 for batch in out)
    for params in (GREEDY, HOT):
        lengths = [len(r.prompt) for _, r in flat if r.params == params]
        assert lengths == sorted(lengths, reverse=True)
    ties = [key for key, r in flat if len(r.prompt) == 9]
    assert ties == ["k1", "k3"]  # stable: equal lengths keep plan order


def test_batches_follow_the_backends_own_lengths_when_given() -> None:
    prompts = ["aaaa", "b", "cc", "ddd", "eeeee"]
    items = [(f"k{i}", GenerationRequest(p, GREEDY)) for i, p in enumerate(prompts)]
    by_chars = [[key for key, _ in batch] for batch in batches(items, 2)]
    assert by_chars == [["k4", "k0"], ["k3", "k2"], ["k1"]]
    tokens = {"k0": 1, "k1": 9, "k2": 5, "k3": 2, "k4": 3}  # a tokenizer disagrees
    by_tokens = [[key for key, _ in batch] for batch in batches(items, 3, tokens)]
    assert by_tokens == [["k1", "k2", "k4"], ["k3", "k0"]]


def test_the_runner_orders_by_what_the_backend_measures(tmp_path: Path) -> None:
    from stabtest.generation.fake import FakeBackend
    from stabtest.generation.runner import run_plan

    seen: list[list[str]] = []

    class Measuring(FakeBackend):
        def prompt_lengths(self, requests):  # type: ignore[no-untyped-def]
            return [-len(r.prompt) for r in requests]  # shortest "longest"

        def generate(self, requests):  # type: ignore[no-untyped-def]
            seen.append([r.prompt for r in requests])
            return super().generate(requests)

    backend = Measuring()
    requests = [GenerationRequest("x" * n, GREEDY) for n in (3, 1, 2, 4)]
    plan = GenerationPlan.build(backend.fingerprint(), requests)
    run_plan(plan, backend, None, batch_size=2)
    assert seen == [["x", "xx"], ["xxx", "xxxx"]]


def _old_key(request: GenerationRequest, fingerprint: str) -> str:
    sample, seed = (0, 0) if request.params.greedy else (request.sample, request.seed)
    payload = json.dumps(
        [fingerprint, request.prompt, asdict(request.params), seed, sample],
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def test_only_sampled_keys_change_with_the_batch_invariant_sampler() -> None:
    greedy = GenerationRequest("q", GREEDY, seed=3, sample=2)
    sampled = GenerationRequest("q", HOT, seed=3, sample=2)
    assert greedy.key("hf:x") == _old_key(greedy, "hf:x")  # greedy cache still served
    assert sampled.key("hf:x") != _old_key(sampled, "hf:x")  # old batch-seeded answers not
    assert sampled.key("hf:x") != GenerationRequest("q", HOT, 3, 1).key("hf:x")


def test_auto_batch_size_fits_memory_within_the_device_cap() -> None:
    rule = dict(bytes_per_token=46_080, tokens_per_row=200)
    assert auto_batch_size(free_bytes=64 << 30, accelerator=False, **rule) == CPU_CAP
    assert auto_batch_size(free_bytes=64 << 30, accelerator=True, **rule) == ACCELERATOR_CAP
    # 100 MB free: half of it over 3 x 46,080 B x 200 tokens per row -> 1 row... 1.8
    assert auto_batch_size(free_bytes=100_000_000, accelerator=True, **rule) == 1
    assert auto_batch_size(free_bytes=1_000_000_000, accelerator=True, **rule) == 18
    assert auto_batch_size(free_bytes=0, accelerator=False, **rule) == 1  # never zero
    longer = auto_batch_size(
        free_bytes=1_000_000_000, accelerator=True, bytes_per_token=46_080, tokens_per_row=2000
    )
    assert longer < 18  # longer prompts, fewer rows


def test_long_prompts_count_their_attention_scores() -> None:
    smollm = SimpleNamespace(num_attention_heads=9)
    assert score_bytes_per_row(smollm, 2000) == 9 * 2000 * 2000 * 4
    rule = dict(free_bytes=24 << 30, bytes_per_token=46_080, accelerator=False)
    without = auto_batch_size(tokens_per_row=8192, **rule)
    with_scores = auto_batch_size(
        tokens_per_row=8192, score_bytes_per_row=score_bytes_per_row(smollm, 8064), **rule
    )
    assert with_scores < without  # 2.3 GB of scores a row at 8k tokens: they dominate
    assert auto_batch_size(tokens_per_row=200, score_bytes_per_row=0, **rule) == CPU_CAP


@pytest.mark.parametrize(
    ("rows", "most", "sizes"),
    [
        (0, 128, []),
        (96, 128, [96]),
        (128, 128, [128]),
        (129, 128, [65, 64]),
        (955, 128, [120] * 3 + [119] * 5),
        (5, 2, [2, 2, 1]),
        (7, 1, [1] * 7),
    ],
)
def test_even_batches_are_the_fewest_and_never_leave_a_straggler(
    rows: int, most: int, sizes: list[int]
) -> None:
    assert even_batches(rows, most) == sizes
    assert sum(sizes) == rows and all(size <= most for size in sizes)


def test_kv_bytes_per_token_from_a_llama_config() -> None:
    smollm = SimpleNamespace(
        num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, hidden_size=576
    )
    assert kv_bytes_per_token(smollm) == 2 * 30 * 3 * 64 * 4


def test_batch_size_setting_is_auto_unless_given() -> None:
    assert resolve_settings({}, {}, {}).batch_size is None
    assert resolve_settings({"batch_size": "auto"}, {}, {"batch_size": 8}).batch_size is None
    assert resolve_settings({}, {"batch_size": "12"}, {}).batch_size == 12
    assert resolve_settings({}, {}, {"batch_size": 5}).batch_size == 5


def test_an_auto_generator_hands_the_backend_its_own_call_size(tmp_path: Path) -> None:
    from stabtest.generation.cache import Cache
    from stabtest.generation.fake import FakeBackend

    seen: list[int] = []

    class Counting(FakeBackend):
        def generate(self, requests):  # type: ignore[no-untyped-def]
            seen.append(len(requests))
            return super().generate(requests)

    class Sized(Counting):
        asked = 0

        def requests_per_call(self) -> int:
            self.asked += 1
            return 10

    Generator(Counting(), batch_size=None)(
        [GenerationRequest(f"q{i}", GREEDY) for i in range(DEFAULT_REQUESTS_PER_CALL + 5)]
    )
    assert seen == [35, 34]  # a backend that names no size: 64 at most, filled evenly
    seen.clear()
    sized = Sized()
    generator = Generator(sized, batch_size=None, cache=Cache(tmp_path / "cache.sqlite"))
    generator([GenerationRequest(f"p{i}", GREEDY) for i in range(25)])
    assert seen == [9, 8, 8]
    generator([GenerationRequest(f"p{i}", GREEDY) for i in range(25)])  # all cached
    assert sized.asked == 1  # never asked when nothing is generated
    seen.clear()
    Generator(Sized(), batch_size=4)([GenerationRequest(f"r{i}", GREEDY) for i in range(6)])
    assert seen == [3, 3]  # the user's size wins


def test_row_seeds_depend_on_the_request_alone() -> None:
    one = GenerationRequest("q", HOT, seed=1, sample=0)
    assert row_seed(one) == row_seed(GenerationRequest("q", HOT, seed=1, sample=0))
    others = [
        GenerationRequest("q", HOT, seed=1, sample=1),
        GenerationRequest("q", HOT, seed=2, sample=0),
        GenerationRequest("p", HOT, seed=1, sample=0),
        GenerationRequest("q", GenerationParams(0.8, system_prompt="s"), seed=1, sample=0),
    ]
    assert len({row_seed(r) for r in [one, *others]}) == 5
    assert step_seed(row_seed(one), 0) != step_seed(row_seed(one), 1)


def test_row_sampler_draws_each_row_alone_whatever_its_batch() -> None:
    torch = pytest.importorskip("torch")
    from stabtest.generation.sampling import RowSampler

    requests = [GenerationRequest("q", HOT, seed=s, sample=0) for s in range(4)]
    scores = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    ids = torch.zeros(4, 7, dtype=torch.long)  # padded prompt width 5, step 2
    together = RowSampler(requests, HOT, 5)(ids, scores).argmax(-1)
    alone = [
        RowSampler([r], HOT, 5)(ids[i : i + 1], scores[i : i + 1]).argmax(-1).item()
        for i, r in enumerate(requests)
    ]
    assert together.tolist() == alone
    wider = torch.zeros(1, 19, dtype=torch.long)  # more left padding, same step 2
    assert RowSampler(requests[:1], HOT, 17)(wider, scores[:1]).argmax(-1).item() == alone[0]


def test_row_sampler_follows_the_distribution_inside_the_nucleus() -> None:
    torch = pytest.importorskip("torch")
    from stabtest.generation.sampling import RowSampler

    probs = torch.tensor([[0.6, 0.3, 0.05, 0.05]])
    params = GenerationParams(temperature=1.0, top_p=0.8)
    counts = [0, 0, 0, 0]
    for sample in range(2000):
        sampler = RowSampler([GenerationRequest("q", params, sample=sample)], params, 0)
        counts[int(sampler(torch.zeros(1, 0), probs.log()).argmax(-1))] += 1
    assert counts[2] == counts[3] == 0  # outside the 0.8 nucleus: never drawn
    assert 0.62 < counts[0] / 2000 < 0.72  # 0.6 / 0.9 = 0.667 renormalised
