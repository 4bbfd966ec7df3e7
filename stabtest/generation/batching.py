"""How many rows the hf backend decodes at once when the user has not said (`auto`).

The rule: a padded batch holds, per row, a key/value cache of (longest prompt +
max_new_tokens) x bytes per token (2 x layers x key/value heads x head size x dtype size),
times `OVERHEAD` for activations, logits and allocator slack, plus the attention scores of
the prompt's prefill (heads x prompt tokens squared x dtype size, one layer at a time),
which outgrow the cache for long prompts. Rows that fit in `FREE_SHARE` of the free memory
are used, capped at `ACCELERATOR_CAP` on a GPU and `CPU_CAP` on a CPU.

Why those caps (`benchmarks/batch_rows.py`, 2 cores, SmolLM2-135M, greedy, float32): a
decode step reads every weight once whatever its rows, so rows share that cost. A step took
33.5 ms for 1 row, 105.5 ms for 32 (3.3 ms a row), 226.7 ms for 96 (2.4), 284 ms for 128
(2.2) and 2.2 ms a row again at 192; prefilling 256 rows took 2.6 times as long as 128.
Whole plans agree: 96 open questions with 128 new tokens took 43.3 s in batches of 32 and
32.8 s in one of 96; 955 ParaRel prompts with 16 new tokens 71.5 s (32 rows), 64.6 s (64)
and 58.3 s (128), with the same answers at every size. Batches are filled evenly
(`stabtest.core.plan.even_batches`), so a plan one row over the cap never leaves a batch
of one. An explicit `--stab-batch-size N` is used as given.
"""

from __future__ import annotations

import os
from typing import Any

FREE_SHARE = 0.5
OVERHEAD = 3
CPU_CAP = 128
ACCELERATOR_CAP = 256


def device_cap(*, accelerator: bool) -> int:
    """The most rows worth decoding at once on this kind of device."""
    return ACCELERATOR_CAP if accelerator else CPU_CAP


def auto_batch_size(
    *,
    free_bytes: int,
    bytes_per_token: int,
    tokens_per_row: int,
    accelerator: bool,
    score_bytes_per_row: int = 0,
) -> int:
    """Rows per batch: as many as fit in a share of free memory, within the device cap."""
    per_row = max(1, bytes_per_token * max(1, tokens_per_row) * OVERHEAD + score_bytes_per_row)
    fits = int(free_bytes * FREE_SHARE) // per_row
    return max(1, min(device_cap(accelerator=accelerator), fits))


def kv_bytes_per_token(config: Any, dtype_bytes: int = 4) -> int:
    """Key/value cache bytes per token of one row, from a transformers model config."""
    layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    kv_heads = int(getattr(config, "num_key_value_heads", 0) or heads)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    head_dim = int(getattr(config, "head_dim", 0) or (hidden // heads if heads else 0))
    return max(1, 2 * layers * kv_heads * head_dim * dtype_bytes)


def score_bytes_per_row(config: Any, prompt_tokens: int, dtype_bytes: int = 4) -> int:
    """Attention scores of one row's prefill in one layer (heads x prompt^2): measured on
    SmolLM2-135M with 2,000-token prompts, peak memory grew 144 MB a row, against 88 MB of
    key/value cache and 137 MB of these scores."""
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    return heads * prompt_tokens * prompt_tokens * dtype_bytes


def free_memory(device: Any) -> int:
    """Free bytes on `device` (a torch.device): the GPU's free memory, else the host's
    available memory."""
    if getattr(device, "type", "cpu") == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30  # unknown (not Linux): assume 8 GiB
