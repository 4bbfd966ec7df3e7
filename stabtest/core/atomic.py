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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8) to `path` via a temporary sibling and a rename;
    parent directories are created. Returns `path`."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_writer(path) as out:
        out.write(payload)
    return path


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary handle on a temporary sibling of `path`, renamed over it when the block
    ends without an error (and removed when it raises): for files written as a stream
    (a plan of a million requests), which no reader may see half-written either."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644 & ~_umask()
        os.chmod(temporary, mode)  # mkstemp makes it 0600
        with os.fdopen(handle, "wb") as out:
            yield out
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
