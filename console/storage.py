"""TinyDB storage that writes atomically with orjson, and the inter-process write lock of a home.

The state file is written as temp file + fsync + rename + fsync(dir), so a crash leaves either the
old or the new state, never a torn one. A file that cannot be parsed is refused, never overwritten.
The lock is held for one write at a time (`Store.writing`), never for as long as a console is open.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from tinydb.middlewares import CachingMiddleware
from tinydb.storages import Storage

from console import files
from console.errors import ReadOnly, StateCorrupt, StateError, StateLocked
from console.operator import os_account


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileRange(NamedTuple):
    """A part of a file being written that is copied from another file: `size` bytes at `offset` of `fd`."""

    fd: int
    offset: int
    size: int


def _copy_range(part: FileRange, fh: Any) -> None:
    done = 0
    while done < part.size:
        chunk = os.pread(part.fd, min(part.size - done, 1 << 22), part.offset + done)
        if not chunk:
            raise OSError(f"the file copied from is shorter than expected ({done} of {part.size} bytes)")
        fh.write(chunk)
        done += len(chunk)


def atomic_write(path: Path, data: bytes | list[Any], *, read_back: bool = False) -> bytes:
    """Replace `path` with `data` (or the bytes of a list of parts joined, without joining them — a part may be a
    `FileRange` of another file, copied a few MB at a time: the list is emptied
    once written, so what it kept alive, e.g. the bytes of the file it replaces, may be freed). `read_back`: the bytes
    are read back from the very file written and returned (b"" otherwise) — at 100k people the old and the new
    state's bytes are then never both in memory."""
    parts = data if isinstance(data, list) else [data]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    written = b""
    try:
        with files.open_private_file(tmp, "w+b" if read_back else "wb") as fh:
            for part in parts:
                if type(part) is FileRange:  # copied a few MB at a time (the unchanged documents of the state)
                    _copy_range(part, fh)
                else:
                    fh.write(part)
            size = fh.tell()
            parts.clear()
            fh.flush()
            os.fsync(fh.fileno())
            if read_back:
                written = _pread_exactly(fh.fileno(), size)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # the old file is intact; leave no stray temp file behind
        raise
    fsync_dir(path.parent)
    return written


def _pread_exactly(fd: int, size: int) -> bytes:
    chunks, done = [], 0
    while done < size:
        chunk = os.pread(fd, size - done, done)
        if not chunk:
            raise OSError(f"the file written is shorter than written ({done} of {size} bytes)")
        chunks.append(chunk)
        done += len(chunk)
    return b"".join(chunks)


class OrjsonStorage(Storage):
    """Whole-file JSON storage: orjson to parse and dump, atomic replace to write."""

    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly

    def read(self) -> dict[str, dict[str, Any]] | None:
        return self.read_stamped()[0]

    def stamp(self) -> tuple[int, int, int] | None:
        """(inode, mtime ns, size) of the state file: a replaced file is a new inode."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def read_stamped(self) -> tuple[dict[str, dict[str, Any]] | None, tuple[int, int, int] | None]:
        """The parsed state and the stamp of the very file that was read (None, None when there is none)."""
        try:
            with open(self.path, "rb") as fh:
                st = os.fstat(fh.fileno())
                raw = fh.read()
        except FileNotFoundError:
            return None, None
        return self.parse(raw), (st.st_ino, st.st_mtime_ns, st.st_size)

    def parse(self, raw: bytes) -> dict[str, dict[str, Any]]:
        if not raw or raw.isspace():  # (no strip(): it would copy the whole file)
            raise StateCorrupt(
                f"state file {self.path} is empty",
                hint="it was left as it is; restore it from a backup or move it away to start a fresh state",
            )
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise StateCorrupt(
                f"state file {self.path} is damaged",
                detail=str(exc),
                hint="it was left as it is; restore it from a backup (state.json.bak-*) or move it away",
            ) from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise StateCorrupt(f"state file {self.path} is not an idconsole state", hint="check --home / IDCONSOLE_HOME")
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self.write_bytes(orjson.dumps(data))

    def write_bytes(self, data: bytes) -> None:
        """Replace the state file with `data` (the JSON of the tables) atomically."""
        with self._writing():
            atomic_write(self.path, data)

    def write_parts(self, parts: list[Any], *, read_back: bool = True) -> bytes:
        """Replace the state file with the bytes of `parts` joined, atomically (see `atomic_write`); those bytes
        (`read_back`, else b"")."""
        data = b""
        with self._writing():
            data = atomic_write(self.path, parts, read_back=read_back)
        return data

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        if self.readonly:
            raise ReadOnly("the console is read-only", hint="restart without --readonly to change anything")
        try:
            yield
        except OSError as exc:  # disk full, quota, a read-only file system: the old state is intact
            raise StateError(f"cannot write the state file {self.path}: {exc.strerror or type(exc).__name__}",
                             hint="free some space or fix the permissions, then try again; the state on disk was "
                                  "left as it was") from None

    def close(self) -> None:
        pass


class FlushOnDemand(CachingMiddleware):
    """CachingMiddleware that writes only when told to (`flush`), so a step is one write."""

    cache: dict[str, dict[str, Any]] | None  # set by CachingMiddleware (untyped)

    def __init__(self, storage_cls: type[Storage]) -> None:
        super().__init__(storage_cls)  # type: ignore[no-untyped-call]  # tinydb's middlewares are not annotated
        self.dirty = False
        # what `Store` needs to merge with other writers: the stored document each unflushed change replaced
        # ({table: {id: doc or None}}), and the documents others changed that this process may not change unseen
        self.base: dict[str, dict[str, Any]] = {}
        self.stale: dict[str, dict[str, tuple[Any, Any]]] = {}

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self.cache = data
        self.dirty = True

    def tables(self) -> dict[str, dict[str, Any]]:
        """The cached tables, for in-place changes by the store (call `touch()` after changing them). A partial store
        (`Store.partial`) holds only the small tables here: its people and links are changed through their repos."""
        if self.read() is None:  # type: ignore[no-untyped-call]  # tinydb's middlewares are not annotated
            self.cache = {}
        assert self.cache is not None  # read() filled it
        return self.cache

    def touch(self) -> None:
        self.dirty = True

    def flush(self) -> None:
        if self.dirty and self.cache is not None:
            self.storage.write(self.cache)
        self.dirty = False

    def discard(self) -> None:
        """Forget unflushed changes; the next read comes from disk."""
        self.cache = None
        self.dirty = False
        self.base = {}


class HomeLock:
    """An exclusive flock on HOME/lock for one write (or on another file of the home, e.g. `sync.lock` for a whole
    run); the holder's pid, account and command are written in it."""

    def __init__(self, home: Path, name: str = "lock") -> None:
        self.path = home / name
        self.fd: int | None = None

    def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip() or "another process"
        except OSError:
            return "another process"

    def acquire(self, wait: float = 10.0) -> None:
        fd = files.open_private(self.path, os.O_RDWR | os.O_CREAT)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise StateLocked(
                        f"this home is busy: {self.holder()} has been writing to it for more than {wait:g} s",
                        hint="nothing was changed; try again in a moment (a write normally takes well under a second)",
                    ) from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        info = f"pid {os.getpid()} ({os_account()}@{socket.gethostname()}: {' '.join(sys.argv[:3])})"
        os.write(fd, info.encode())
        self.fd = fd

    def try_acquire(self) -> bool:
        """Take the lock only if it is free right now."""
        try:
            self.acquire(wait=0)
        except StateLocked:
            return False
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
