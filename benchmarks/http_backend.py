"""Requests/s through the openai backend against a local `transformers serve`, next to the
same requests sent straight to the server (plain concurrent httpx, no stabtest), at
concurrency 1, 4 and 16; prints stabtest's overhead (target: at most 5%).

    .venv/bin/python benchmarks/http_backend.py [--requests 32] [--max-new-tokens 8] [--repeats 2]

Needs fastapi and uvicorn (the `dev` extra); converts the bundled model once (set
STABTEST_CACHE_DIR to reuse it). Each figure is the best of `--repeats` runs, and the two
clients alternate so that a busy machine slows both alike. `--parts stub` runs only the
second half: a stub server that answers at once, so the difference per request is the
client's own cost (to set against the real server's seconds per request).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the server launcher lives in tests/integration

from stabtest.core.plan import GenerationParams, GenerationRequest  # noqa: E402
from stabtest.generation.hf import HFBackend  # noqa: E402
from stabtest.generation.openai_backend import (  # noqa: E402
    OpenAIBackend,
    answer_text,
    request_body,
)
from tests.integration.openai_server import Proxy, Server  # noqa: E402

TOPICS = ["France", "Japan", "Italy", "Spain", "Egypt", "Canada", "Peru", "Kenya"]


def direct(url: str, requests: list[GenerationRequest], model: str, concurrency: int) -> float:
    """Seconds for the plain client: one POST per request, `concurrency` threads."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency)
    with httpx.Client(timeout=300, limits=limits, trust_env=False) as http:

        def one(request: GenerationRequest) -> str:
            response = http.post(
                url + "/chat/completions", json=request_body(request, model, "chat")
            )
            response.raise_for_status()
            return answer_text(response.json(), "chat")

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, requests))
        return time.perf_counter() - started


def through_stabtest(backend: OpenAIBackend, requests: list[GenerationRequest]) -> float:
    started = time.perf_counter()
    backend.generate(requests)
    return time.perf_counter() - started


def compare(url: str, model: str, requests: list[GenerationRequest], repeats: int) -> None:
    print(
        f"{'concurrency':>11}  {'direct req/s':>12}  {'stabtest req/s':>14}  overhead  per request"
    )
    for concurrency in (1, 4, 16):
        backend = OpenAIBackend(model, base_url=url, concurrency=concurrency)
        direct(url, requests[:2], model, concurrency)  # warm up
        plain, ours = [], []
        for _ in range(repeats):
            plain.append(direct(url, requests, model, concurrency))
            ours.append(through_stabtest(backend, requests))
        backend.close()
        best_plain, best_ours = min(plain), min(ours)
        overhead = (best_ours - best_plain) / best_plain * 100
        print(
            f"{concurrency:>11}  {len(requests) / best_plain:>12.2f}  "
            f"{len(requests) / best_ours:>14.2f}  {overhead:+7.1f}%  "
            f"{(best_ours - best_plain) / len(requests) * 1000:+.3f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="server torch threads")
    parser.add_argument(
        "--parts", default="server,stub", help="server: the real server; stub: client cost only"
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    params = GenerationParams(max_new_tokens=args.max_new_tokens)
    requests = [
        GenerationRequest(f"What is the capital of {TOPICS[i % len(TOPICS)]}? ({i})", params)
        for i in range(args.requests)
    ]
    if "server" in parts:
        real_server(requests, args)
    if "stub" in parts:
        stub_server(params, args)


def real_server(requests: list[GenerationRequest], args: argparse.Namespace) -> None:
    model_dir = HFBackend().model_dir()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(model_dir, Path(tmp) / "serve.log", threads=args.threads)
        print(f"transformers serve on {server.url}: answered after {server.start_seconds:.1f} s")
        try:
            print(f"{args.requests} greedy requests, max_new_tokens {args.max_new_tokens}")
            compare(server.url, server.model, requests, args.repeats)
        finally:
            server.stop()


def stub_server(params: GenerationParams, args: argparse.Namespace) -> None:
    """The client alone: a stub that answers at once, so only client-side cost is left."""
    reply = '{"choices": [{"message": {"content": "Paris."}}]}'
    stub = Proxy(
        "http://127.0.0.1:9/v1", inject=lambda number, headers: (200, reply), keep_alive=True
    )
    print(f"\nstub server answering at once, {args.requests * 10} requests (client cost only)")
    try:
        many = [GenerationRequest(f"q{i}", params) for i in range(args.requests * 10)]
        compare(stub.url, "stub", many, args.repeats)
    finally:
        stub.close()


if __name__ == "__main__":
    main()
