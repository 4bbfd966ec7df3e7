"""How many rows the hf backend decodes at once when the user has not said (`auto`).

The rule: the key/value cache of a padded batch grows with rows x (longest prompt +
max_new_tokens) x bytes per token (2 x layers x key/value heads x head size x dtype
size). Half the free memory (`FREE_SHARE`), divided by `OVERHEAD` (activations, logits,
allocator slack) for that cache, gives the rows that fit; the result is capped at
`ACCELERATOR_CAP` on a GPU and, on a CPU, where larger batches stop paying (compute-bound),
at `CPU_CAP` rows, or `CPU_CAP_SHORT` when answers are short (`max_new_tokens` at most
`SHORT_ANSWER_TOKENS`). Measured on 2 cores with SmolLM2-135M (benchmarks/overhead.py):
with 16 new tokens 64 rows beat 32 (the fixed cost of a decode step is shared by more
rows, and short answers waste little on rows that finished early); with 128 new tokens 64
rows were 24% slower than 32 (a batch runs until its longest answer, and attention over
longer rows costs more). An explicit `--stab-batch-size N` is used as given.
"""

from __future__ import annotations

import os
from typing import Any

FREE_SHARE = 0.5
OVERHEAD = 3
CPU_CAP = 32
CPU_CAP_SHORT = 64
SHORT_ANSWER_TOKENS = 32
ACCELERATOR_CAP = 256


def device_cap(*, accelerator: bool, new_tokens: int) -> int:
    """The most rows worth decoding at once on this kind of device for answers this long."""
    if accelerator:
        return ACCELERATOR_CAP
    return CPU_CAP_SHORT if new_tokens <= SHORT_ANSWER_TOKENS else CPU_CAP


def auto_batch_size(
    *,
    free_bytes: int,
    bytes_per_token: int,
    tokens_per_row: int,
    accelerator: bool,
    new_tokens: int = SHORT_ANSWER_TOKENS + 1,
) -> int:
    """Rows per batch: as many as fit in a share of free memory, within the device cap."""
    per_row = max(1, bytes_per_token * max(1, tokens_per_row) * OVERHEAD)
    fits = int(free_bytes * FREE_SHARE) // per_row
    return max(1, min(device_cap(accelerator=accelerator, new_tokens=new_tokens), fits))


def kv_bytes_per_token(config: Any, dtype_bytes: int = 4) -> int:
    """Key/value cache bytes per token of one row, from a transformers model config."""
    layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    kv_heads = int(getattr(config, "num_key_value_heads", 0) or heads)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    head_dim = int(getattr(config, "head_dim", 0) or (hidden // heads if heads else 0))
    return max(1, 2 * layers * kv_heads * head_dim * dtype_bytes)


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
