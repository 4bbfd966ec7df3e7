"""The SQLite store of generations and embeddings, shared by pytest-xdist workers.

One file per project cache dir. WAL mode lets readers proceed while a writer commits, and
a busy timeout makes concurrent workers wait instead of failing. Every `put_*` call is its
own transaction, so a crash or Ctrl-C keeps every batch that had finished.
Pure stdlib (numpy only for embeddings): a fully cached rerun must not import torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from stabtest.core.errors import StabtestError
from stabtest.core.plan import GenerationRequest, transcript

if TYPE_CHECKING:
    from stabtest.core.embedding import Vectors

BUSY_TIMEOUT_MS = 60_000
T = TypeVar("T")
_CHUNK = 500  # below SQLite's bound-parameter limit on every build

_SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    prompt TEXT NOT NULL,
    params TEXT NOT NULL,
    seed INTEGER NOT NULL,
    sample INTEGER NOT NULL,
    text TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS generations_fingerprint ON generations (fingerprint);
CREATE TABLE IF NOT EXISTS embeddings (
    fingerprint TEXT NOT NULL,
    text_sha TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (fingerprint, text_sha)
);
"""


_COLUMNS = {
    "generations": ["key", "fingerprint", "prompt", "params", "seed", "sample", "text", "created"],
    "embeddings": ["fingerprint", "text_sha", "dim", "vector"],
}


class CacheError(StabtestError):
    """The cache file cannot be used; the message names it and says what was done."""


class CacheRecovered(UserWarning):
    """A corrupt cache file was moved aside and a fresh one started."""


def _is_lock_contention(error: sqlite3.Error) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Cache:
    """Generations by cache key and embeddings by (embedder fingerprint, text).

    `fresh=True` is `--stab-no-cache`: stored generations are not read, so everything is
    generated again, but new answers are still written and replace the old ones. It does
    not affect embeddings, which are a pure function of the embedder and the text.
    """

    def __init__(self, path: Path | str, *, fresh: bool = False):
        self.path = Path(path)
        self.fresh = fresh
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def disabled(cls, path: Path | str) -> Cache:
        """A cache that never answers from stored generations but still records new ones."""
        return cls(path, fresh=True)

    @property
    def conn(self) -> sqlite3.Connection:
        """Opened on first use, so a Cache can be built (or pickled) before forking.

        A file that is not a usable cache (garbage, truncated, another schema, a directory
        in its place) is moved aside as `<name>.corrupt-<time>` and a fresh cache started:
        the answers in it are lost either way, and the run goes on. A warning names both."""
        if self._conn is None:
            if str(self.path) == ":memory:":
                self._conn = self._open()
                return self._conn
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._conn = self._open()
            except (sqlite3.DatabaseError, CacheError) as error:
                if isinstance(error, sqlite3.OperationalError) and _is_lock_contention(error):
                    raise CacheError(f"the cache {self.path} is locked: {error}") from None
                self._conn = self._recover(str(error))
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise CacheError("a directory stands where the cache file should be")
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; fsync per checkpoint
            with conn:
                conn.executescript(_SCHEMA)
            for table, columns in _COLUMNS.items():
                found = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
                if found != columns:
                    raise CacheError(f"table {table} has columns {found}, expected {columns}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _recover(self, problem: str) -> sqlite3.Connection:
        """Move the unusable file aside (under a lock: xdist workers may all find it
        broken at once) and open a fresh one."""
        from filelock import FileLock

        with FileLock(str(self.path) + ".recover.lock"):
            try:  # another process may have recovered it while we waited
                return self._open()
            except (sqlite3.DatabaseError, CacheError):
                pass
            aside = self.path.with_name(
                f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
            )
            try:
                os.replace(self.path, aside)
                for suffix in ("-wal", "-shm"):
                    side = Path(str(self.path) + suffix)
                    if side.exists():
                        os.replace(side, Path(str(aside) + suffix))
            except OSError as error:
                raise CacheError(
                    f"the cache {self.path} is unusable ({problem}) and could not be moved "
                    f"aside ({error.strerror}); delete it and rerun"
                ) from None
            warnings.warn(
                CacheRecovered(
                    f"stabtest: the cache {self.path} was unusable ({problem}); moved it to "
                    f"{aside} and started a fresh cache (its answers will be generated again)"
                ),
                stacklevel=2,
            )
            return self._open()

    def _recovering(self, action: Callable[[sqlite3.Connection], T]) -> T:
        """Run `action` on the connection. Corruption found only now (a truncated file
        reads its first page fine) moves the file aside and runs `action` once more on a
        fresh cache: the run goes on and loses only what the broken file held."""
        try:
            return action(self.conn)
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and _is_lock_contention(error):
                raise CacheError(f"the cache {self.path} is locked: {error}") from None
            self.close()
            self._conn = self._recover(str(error))
            return action(self._conn)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, object]:
        return {"path": self.path, "fresh": self.fresh, "_conn": None}

    # -- generations -------------------------------------------------------------------
    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        """Stored answers for those keys that have one (none at all when fresh)."""
        if self.fresh:
            return {}
        wanted = list(dict.fromkeys(keys))

        def read(conn: sqlite3.Connection) -> dict[str, str]:
            found: dict[str, str] = {}
            for chunk in _chunks(wanted):
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT key, text FROM generations WHERE key IN ({marks})", tuple(chunk)
                )
                found.update(rows)
            return found

        return self._recovering(read)

    def put_many(
        self, rows: Iterable[tuple[str, GenerationRequest, str]], fingerprint: str
    ) -> None:
        """Store (key, request, text) rows in one transaction; a key seen again is replaced."""
        now = time.time()
        values = [
            (
                key,
                fingerprint,
                transcript(request),  # a conversation's turn: the whole conversation
                json.dumps(request.params.as_dict(), sort_keys=True),
                request.seed,
                request.sample,
                text,
                now,
            )
            for key, request, text in rows
        ]
        self._write("INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values)

    def _write(self, statement: str, values: Sequence[tuple[object, ...]]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            with conn:
                conn.executemany(statement, values)

        self._recovering(write)

    def count(self, fingerprint: str | None = None) -> int:
        """Stored generations, all or for one model fingerprint."""
        return self._count("generations", fingerprint)

    def _count(self, table: str, fingerprint: str | None) -> int:
        def read(conn: sqlite3.Connection) -> int:
            if fingerprint is None:
                row = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
            else:
                row = conn.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE fingerprint = ?", (fingerprint,)
                ).fetchone()
            return int(row[0])

        return self._recovering(read)

    # -- embeddings ----------------------------------------------------------------------
    def get_embeddings(self, fingerprint: str, texts: Iterable[str]) -> dict[str, Vectors]:
        """Stored vectors (float32) by text, for those texts that have one."""
        import numpy as np

        by_sha = {text_sha(t): t for t in texts}

        def read(conn: sqlite3.Connection) -> dict[str, Vectors]:
            found: dict[str, Vectors] = {}
            for chunk in _chunks(list(by_sha)):
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT text_sha, dim, vector FROM embeddings "
                    f"WHERE fingerprint = ? AND text_sha IN ({marks})",
                    (fingerprint, *chunk),
                )
                for sha, dim, blob in rows:
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if vector.shape == (dim,):
                        found[by_sha[sha]] = vector
            return found

        return self._recovering(read)

    def put_embeddings(self, fingerprint: str, mapping: Mapping[str, Vectors]) -> None:
        import numpy as np

        values: list[tuple[object, ...]] = []
        for text, vector in mapping.items():
            flat = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
            values.append((fingerprint, text_sha(text), int(flat.shape[0]), flat.tobytes()))
        self._write("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", values)

    def count_embeddings(self, fingerprint: str | None = None) -> int:
        return self._count("embeddings", fingerprint)
