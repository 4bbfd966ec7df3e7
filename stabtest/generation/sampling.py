"""Batch-invariant sampling for the hf backend: each row draws its own noise.

Sampling with one torch seed per batch makes an answer depend on which requests share its
batch, so `--stab-no-cache`, an added case or another batch size changes it. Here each
row draws Gumbel noise from a generator seeded by its own (prompt, system prompt, seed,
sample) and by the generated-token step (never the absolute position, so left padding
changes nothing); temperature and top_p are applied per row, and the argmax of
`logits / temperature + noise` over the top_p nucleus is a draw from that nucleus
(Gumbel-max). transformers then decodes greedily over the returned scores.

The noise is drawn on the CPU, so a seed gives the same noise on every device. What can
still differ between batch sizes is the logits' last bits (batched matmuls), which can
flip a near-tie: tests/integration/test_hf_sampling.py measures how often.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from stabtest.core.plan import GenerationParams, GenerationRequest


def _digest(payload: object) -> int:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def row_seed(request: GenerationRequest) -> int:
    """The seed of one request's noise: its own identity, nothing about its batch."""
    params = request.params
    identity: list[object] = [request.prompt, params.system_prompt, request.seed, request.sample]
    if request.history:  # a conversation's turn: its whole context, as in its cache key
        identity.append([list(pair) for pair in request.history])
    return _digest(identity)


def step_seed(row: int, step: int) -> int:
    """The seed of one row's noise at generated-token `step` (0 = first new token)."""
    return _digest([row, step])


class RowSampler:
    """A transformers logits processor (called as `processor(input_ids, scores)`) that
    turns greedy decoding into per-row seeded sampling; use with `do_sample=False`."""

    def __init__(
        self, requests: Sequence[GenerationRequest], params: GenerationParams, prompt_length: int
    ):
        if params.greedy:
            raise ValueError("RowSampler is for sampled requests (temperature > 0)")
        self.seeds = [row_seed(r) for r in requests]
        self.temperature = params.temperature
        self.top_p = params.top_p
        self.prompt_length = prompt_length
        """The padded prompt width: `input_ids.shape[1] - prompt_length` is the step."""

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        step = int(input_ids.shape[1]) - self.prompt_length
        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            logits = nucleus(logits, self.top_p)
        noise = torch.stack([gumbel(logits.shape[-1], step_seed(s, step)) for s in self.seeds])
        return logits + noise.to(logits.device)


def nucleus(logits: Any, top_p: float) -> Any:
    """`logits` with every token outside each row's top_p nucleus set to -inf (the most
    likely token always stays)."""
    import torch

    ordered, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(ordered, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs  # mass of the tokens ranked above
    drop = before >= top_p
    drop[..., 0] = False
    mask = torch.zeros_like(drop).scatter(-1, order, drop)
    return logits.masked_fill(mask, float("-inf"))


def gumbel(size: int, seed: int) -> Any:
    """`size` standard Gumbel draws from a CPU generator seeded with `seed`."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    uniform = torch.rand(size, generator=generator, dtype=torch.float64)
    tiny = torch.finfo(torch.float64).tiny
    return (-torch.log(-torch.log(uniform.clamp(tiny, 1.0 - 1e-16)))).float()
