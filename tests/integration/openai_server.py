"""A real OpenAI-compatible server (`transformers serve`) over the bundled model, and a small
forwarding proxy that counts requests in flight and injects failures; shared by
tests/integration/test_openai_backend.py and benchmarks/http_backend.py.

`transformers serve` samples only when the model's generation_config says `do_sample`
(a request's temperature alone leaves it greedy), so the server gets a copy of the
converted checkpoint (weights symlinked) whose generation_config enables sampling;
temperature 0 still decodes greedily.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

START_SECONDS = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sampling_copy(model_dir: Path, target: Path) -> Path:
    """`model_dir` with weights linked and generation_config set to sample."""
    target.mkdir(parents=True, exist_ok=True)
    for item in model_dir.iterdir():
        link = target / item.name
        if item.name != "generation_config.json" and not link.exists():
            link.symlink_to(item.resolve())
    config: dict[str, Any] = {}
    source = model_dir / "generation_config.json"
    if source.is_file():
        config = json.loads(source.read_text())
    config.update(do_sample=True, top_k=0)  # top_k 0: as the hf backend samples
    (target / "generation_config.json").write_text(json.dumps(config))
    return target


def server_command() -> list[str] | None:
    """The `transformers serve` command line, or None when it cannot run here."""
    exe = Path(sys.executable).with_name("transformers")
    found = str(exe) if exe.is_file() else shutil.which("transformers")
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return None
    return [found, "serve"] if found else None


class Server:
    """`transformers serve DIR` on a free port of 127.0.0.1, in its own process group."""

    def __init__(self, model_dir: Path, log: Path, *, threads: int = 1):
        command = server_command()
        if command is None:
            raise RuntimeError(
                "`transformers serve` needs fastapi and uvicorn: "
                "pip install -e '.[dev]' (or bash scripts/install.sh)"
            )
        self.model = str(model_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "OMP_NUM_THREADS": str(threads),
        }
        args = ["--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu"]
        args += ["--dtype", "float32", "--log-level", "warning"]
        self.started = time.perf_counter()
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*command, self.model, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.start_seconds = self._wait()

    def _wait(self) -> float:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"transformers serve exited ({self.process.returncode}): {tail}")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - self.started
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"transformers serve did not answer within {START_SECONDS:.0f} s")

    def stop(self) -> None:
        """Kill the whole process group (the server may fork workers)."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        except ProcessLookupError:
            pass


Inject = Callable[[int, dict[str, str]], tuple[int, str] | None]
"""(request number from 1, headers) -> (status, body) to answer instead, or None to forward."""


class Proxy:
    """A threaded HTTP proxy to `upstream` (a base URL ending in /v1) that counts requests
    and the most in flight at once, and answers chosen requests itself."""

    def __init__(self, upstream: str, inject: Inject | None = None, *, keep_alive: bool = False):
        """`keep_alive`: answer in HTTP/1.1 and keep connections open, as real servers do
        (the benchmark's stub, where a new connection per request would be the cost)."""
        self.upstream = upstream.rstrip("/").removesuffix("/v1")
        self.inject = inject
        self.count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"
            disable_nagle_algorithm = keep_alive  # headers and body go out at once

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                proxy._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("content-length", 0)))
        with self._lock:
            self.count += 1
            number = self.count
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.bodies.append(json.loads(body))
        try:
            injected = self.inject(number, dict(handler.headers)) if self.inject else None
            if injected is None:
                status, text = self._forward(handler.path, body)
            else:
                status, text = injected
            data = text.encode()
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _forward(self, path: str, body: bytes) -> tuple[int, str]:
        request = urllib.request.Request(
            self.upstream + path, data=body, headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError as error:
            return 502, json.dumps({"error": f"upstream unreachable: {error}"})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
