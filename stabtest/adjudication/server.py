"""Start and stop a real, throw-away Label Studio server on 127.0.0.1.

Label Studio lives in its own virtual environment (its pins conflict with ours), so we run
its `label-studio` executable as a subprocess in its own process group and talk to it over
HTTP only. A fresh data dir costs ~30 s of migrations; an initialised *template* data dir,
copied for each start, brings that down to a few seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from stabtest.core.errors import StabtestError

BIN_ENV = "STABTEST_LABEL_STUDIO_BIN"
INSTALL_HINT = 'python3 -m venv .venv-ls && .venv-ls/bin/pip install "label-studio>=1.23,<1.24"'
# Local, loopback-only throw-away server: a fixed default keeps template data dirs reusable.
DEFAULT_USERNAME = "stabtest@localhost"
DEFAULT_PASSWORD = "stabtest-local-password"
DEFAULT_TOKEN = "stabtest-local-server-token"
_MARKER = ".stabtest-template.json"
_BOUND = re.compile(r"Starting development server at http://[^\s:/]+:(\d+)/")
_STRAY = ("USERNAME", "PASSWORD", "PORT", "HOST", "USER_TOKEN", "DATA_DIR")


class LabelStudioServerError(StabtestError):
    """The server could not be found, started or reached; the message says what to do."""


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def find_binary() -> Path:
    """$STABTEST_LABEL_STUDIO_BIN, else <repo>/.venv-ls/bin/label-studio, else PATH."""
    explicit = os.environ.get(BIN_ENV)
    if explicit:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise LabelStudioServerError(f"{BIN_ENV}={explicit} is not an executable file")
    local = _repo_root() / ".venv-ls" / "bin" / "label-studio"
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which("label-studio")
    if found:
        return Path(found)
    raise LabelStudioServerError(
        "label-studio executable not found: looked at $" + BIN_ENV + f", {local} and PATH. "
        f"Install it in its own environment (its pins conflict with ours): {INSTALL_HINT}"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _credential_digest(username: str, token: str) -> str:
    """Identifies which credentials a template was built with, without storing the token."""
    return hashlib.sha256(f"{username}\0{token}".encode()).hexdigest()


class LabelStudioServer:
    """Context manager: `with LabelStudioServer() as ls: ls.url, ls.token`.

    `template_dir`: an initialised data dir to copy (built on first use, reused after).
    `data_dir`: where the server keeps its database; a temp dir removed on stop if omitted.
    """

    def __init__(
        self,
        *,
        data_dir: str | Path | None = None,
        template_dir: str | Path | None = None,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        token: str = DEFAULT_TOKEN,
        binary: str | Path | None = None,
        startup_timeout: float = 180.0,
        log_path: str | Path | None = None,
    ):
        self.username = username
        self._password = password
        self.token = token
        self.binary = Path(binary) if binary else None
        self.startup_timeout = startup_timeout
        self.template_dir = Path(template_dir) if template_dir else None
        self._own_dir: Path | None = None  # scratch: HOME, default data dir and log
        self._own_data = False
        self.data_dir = Path(data_dir) if data_dir else None
        self._log_arg = Path(log_path) if log_path else None
        self.log_path: Path | None = None
        self._log_offset = 0
        self.port: int | None = None
        self.url = ""
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: object | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> LabelStudioServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LabelStudioServer:
        binary = self.binary or find_binary()
        self._own_dir = Path(tempfile.mkdtemp(prefix="stabtest-ls-"))
        if self.data_dir is None:
            self._own_data = True
            self.data_dir = self._own_dir / "data"
        if self.template_dir is not None:
            self._ensure_template(binary)
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)
            shutil.copytree(
                self.template_dir, self.data_dir, ignore=shutil.ignore_patterns(_MARKER)
            )
        began = time.monotonic()
        self._launch(binary, self.data_dir)
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Terminate the whole process group (label-studio forks), then clean temp dirs."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
            except ProcessLookupError:
                pass
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None
            if self._own_data:
                self.data_dir = None

    # -- internals -------------------------------------------------------------------------

    def _env(self, data_dir: Path, home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _STRAY}
        env.pop("LABEL_STUDIO_API_KEY", None)
        env.update(
            LABEL_STUDIO_USERNAME=self.username,
            LABEL_STUDIO_PASSWORD=self._password,
            LABEL_STUDIO_USER_TOKEN=self.token,
            LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
            LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
            LATEST_VERSION_CHECK="false",
            COLLECT_ANALYTICS="false",
            SENTRY_DSN="",
            FRONTEND_SENTRY_DSN="",
            HOME=str(home),
            PYTHONUNBUFFERED="1",
        )
        return env

    def _launch(self, binary: Path, data_dir: Path) -> None:
        assert self._own_dir is not None
        data_dir.mkdir(parents=True, exist_ok=True)
        home = self._own_dir / "home"
        home.mkdir(exist_ok=True)
        log_path = self._log_arg or self._own_dir / "label-studio.log"
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = log_path.stat().st_size if log_path.exists() else 0
        self._log_file = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        requested = free_port()
        command = [
            str(binary),
            "start",
            "--no-browser",
            "--enable-legacy-api-token",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(requested),
            "--data-dir",
            str(data_dir),
        ]
        self._process = subprocess.Popen(
            command,
            env=self._env(data_dir, home),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.port = self._wait_ready(requested)
        except BaseException:
            self._own_dir = None  # keep the log (and data) of a failed start for a post-mortem
            self.stop()
            raise
        self.url = f"http://127.0.0.1:{self.port}"

    def _log_text(self) -> str:
        """This start's part of the log (a reused log file keeps earlier starts)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as handle:
            handle.seek(self._log_offset)
            return handle.read().decode(errors="replace")

    def _log_tail(self, lines: int = 30) -> str:
        text = self._log_text().replace(self.token, "***") or "(empty log)"
        return "\n".join(text.splitlines()[-lines:])

    def _bound_port(self) -> int | None:
        """The port the server says it bound: it silently moves to the next free one."""
        found = _BOUND.findall(self._log_text())
        return int(found[-1]) if found else None

    def _probe(self, port: int) -> int | None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/current-user/whoami",
            headers={"Authorization": f"Token {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except (urllib.error.URLError, OSError):
            return None

    def _wait_ready(self, requested: int) -> int:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LabelStudioServerError(
                    f"label-studio exited with code {self._process.returncode} during start "
                    f"(log {self.log_path}):\n{self._log_tail()}"
                )
            port = self._bound_port()
            if port is not None:
                status = self._probe(port)
                if status == 200:
                    return port
                if status in (401, 403):
                    raise LabelStudioServerError(
                        f"label-studio on port {port} refused our token (HTTP {status}); "
                        f"a template data dir built with other credentials? "
                        f"(log {self.log_path}):\n{self._log_tail()}"
                    )
            time.sleep(0.25)
        raise LabelStudioServerError(
            f"label-studio did not answer within {self.startup_timeout:.0f} s "
            f"(asked for port {requested}; log {self.log_path}):\n{self._log_tail()}"
        )

    def _ensure_template(self, binary: Path) -> None:
        """Build the template once (a cold start, then stop); a lock keeps xdist workers
        from building it twice, a marker makes a half-built one count as missing."""
        from filelock import FileLock

        assert self.template_dir is not None
        template = self.template_dir
        template.parent.mkdir(parents=True, exist_ok=True)
        wanted = {"credentials": _credential_digest(self.username, self.token)}
        marker = template / _MARKER
        with FileLock(str(template) + ".lock"):
            if marker.exists():
                try:
                    if json.loads(marker.read_text()) == wanted:
                        return
                except ValueError:
                    pass
            if template.exists():
                shutil.rmtree(template)
            builder = LabelStudioServer(
                data_dir=template,
                username=self.username,
                password=self._password,
                token=self.token,
                binary=binary,
                startup_timeout=self.startup_timeout,
                log_path=template.parent / (template.name + ".log"),
            )
            builder.start()
            builder.stop()
            marker.write_text(json.dumps(wanted))
