"""The baseline stabtest is measured against: plain transformers `generate` in batches plus
sentence-transformers embeddings, as one would write it by hand, with no harness.

    python benchmarks/raw_generate.py JOB.json OUT.json

JOB holds `prompts`, `embed_texts` (extra texts to embed, e.g. references), `model_dir`,
`embedder_dir`, `batch_size` and `max_new_tokens`. OUT receives the answers and the
seconds spent loading, generating and embedding. Same chat template, left padding and
greedy decoding as the hf backend, so the two do the same work.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(job_path: str, out_path: str) -> None:
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    started = time.perf_counter()
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(job["model_dir"], local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        job["model_dir"], dtype=torch.float32, local_files_only=True
    ).eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    embedder = SentenceTransformer(job["embedder_dir"], device="cpu", local_files_only=True)
    loaded = time.perf_counter()

    prompts, size = job["prompts"], job["batch_size"]
    answers: list[str] = []
    for start in range(0, len(prompts), size):
        chunk = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            )
            for p in prompts[start : start + size]
        ]
        inputs = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=job["max_new_tokens"],
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = output[:, inputs["input_ids"].shape[1] :]
        answers += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    generated = time.perf_counter()

    texts = sorted(set(answers) | set(job.get("embed_texts", [])))
    embedder.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    embedded = time.perf_counter()

    result = {
        "answers": answers,
        "load_seconds": loaded - started,
        "generate_seconds": generated - loaded,
        "embed_seconds": embedded - generated,
        "embedded": len(texts),
    }
    Path(out_path).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:3])
