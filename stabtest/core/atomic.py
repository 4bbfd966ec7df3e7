"""One way to write a file that a reader never sees half-written.

Reports, dashboards, manifests and rewritten suites are read by other processes (a
browser, CI's artifact upload, the next run) and outlive crashes: each is written to a
temporary file in the same directory and renamed over the target, which POSIX makes
atomic. A file that already exists keeps its permissions.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8) to `path` via a temporary sibling and a rename;
    parent directories are created. Returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644 & ~_umask()
        os.chmod(temporary, mode)  # mkstemp makes it 0600
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
