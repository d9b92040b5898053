"""Where each person's lines start in a month of the report: `events/by-person/<month>.idx`, kept by the writers.

A report filtered by a person (`EventLog.query`) looks its ids and its label up here and reads only those lines, instead
of searching the whole month: a display name many people share is hundreds of ids, found by one binary search each.

The file is a cache. It holds, sorted, a 64-bit key for each line of the month file's first `upto` bytes: the key of
its `person_id` and the key of its `person` label casefolded (blake2b; a collision only lets a line through that the
query's exact check then drops), with the line's offset. Its header names the month file (device, inode), `upto`, a
CRC of the month's last 4 KiB before `upto` and a CRC of the keys and offsets. A reader trusts it only when all of these
agree (a damaged, torn, stale or foreign file is not used: the month is searched instead), and searches the month's
bytes from `upto` on itself. Writers bring it up to date under the month's identities lock (`EventLog`) once their
month has grown `STEP` bytes past it, and write it whole to a new name renamed over the old: a reader sees the old file
or the new one.
"""
from __future__ import annotations

import mmap
import os
import stat
import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson

from console import files

DIR = "by-person"
STEP = 1 << 20  # a writer rewrites the index once its month has grown this much past it (readers search the rest)
MAGIC = b"IDCMIX1" + (b"l" if sys.byteorder == "little" else b"b")
_HEAD = struct.Struct("=8sQQQQII")  # magic, device, inode, upto, count, tail CRC, body CRC
_TAIL = 4096  # bytes of the month before `upto` whose CRC the header holds (a month cut back and written again)


_SEED = 0x9E3779B9
_SPAN = 40  # bits of a line's offset in a sortable entry (key << _SPAN | offset): months up to 1 TiB


def _key(kind: bytes, value: str) -> int:
    """64 bits from two CRC-32s of the value (a collision only lets a line through that the exact check drops)."""
    data = kind + value.encode("utf-8", "surrogatepass")
    return zlib.crc32(data) << 32 | zlib.crc32(data, _SEED)


def id_key(person_id: str) -> int:
    """The key of the lines whose `person_id` is `person_id`."""
    return _key(b"i", person_id)


def label_key(folded: str) -> int:
    """The key of the lines whose `person` label casefolds to `folded`."""
    return _key(b"l", folded)


def entries(data: bytes, base: int) -> list[int]:
    """The entries (key << _SPAN | offset: sorting them sorts by key) of every complete line of `data` (which starts at
    `base` in its month) that is a JSON object with a text `person_id` or `person`; other lines are no record a person
    filter can match."""
    found: list[int] = []
    add, loads, crc, seed = found.append, orjson.loads, zlib.crc32, _SEED
    lines = data.split(b"\n")
    lines.pop()  # what follows the last line break: nothing, or a line not complete yet
    at = base
    for line in lines:
        try:
            rec = loads(line)
        except orjson.JSONDecodeError:
            rec = None
        if type(rec) is dict:
            person_id, person = rec.get("person_id"), rec.get("person")
            if type(person_id) is str and person_id:
                value = b"i" + person_id.encode("utf-8", "surrogatepass")
                add((crc(value) << 32 | crc(value, seed)) << _SPAN | at)
            if type(person) is str and person:
                value = b"l" + person.casefold().encode("utf-8", "surrogatepass")
                add((crc(value) << 32 | crc(value, seed)) << _SPAN | at)
        at += len(line) + 1
    return found


def _open_regular(path: Path) -> int | None:
    """`path` open for reading when it is a regular file; None otherwise (missing, unreadable, or a directory or FIFO
    put in its place: opened without waiting for a FIFO's writer, so neither a report nor a writer hangs on one)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def tail_crc(fd: int, upto: int) -> int:
    """The CRC of the month's last `_TAIL` bytes before `upto`."""
    at = max(0, upto - _TAIL)
    return zlib.crc32(os.pread(fd, upto - at, at))


class MonthIndex:
    """A loaded index: sorted keys and the offsets of their lines (views of the mapped file)."""

    __slots__ = ("keys", "offsets", "upto")

    def __init__(self, keys: Sequence[int], offsets: Sequence[int], upto: int) -> None:
        self.keys, self.offsets, self.upto = keys, offsets, upto

    def lookup(self, wanted: Iterable[int]) -> list[int]:
        """Offsets of the lines under any of the `wanted` keys, sorted."""
        keys, offsets, count = self.keys, self.offsets, len(self.keys)
        found: set[int] = set()
        for key in wanted:
            at = bisect_left(keys, key)
            while at < count and keys[at] == key:
                found.add(offsets[at])
                at += 1
        return sorted(found)

    def entries(self) -> list[int]:
        return [key << _SPAN | offset for key, offset in zip(self.keys, self.offsets)]


def load(path: Path, month_fd: int, month_size: int, file: tuple[int, int]) -> MonthIndex | None:
    """The index at `path` when it is usable for the month file open as `month_fd` (its identity `file`, its size
    `month_size`): whole, of this file, not past its end, its last bytes before `upto` those it was made from. None
    otherwise (missing, torn, damaged, stale): the month is searched then. Mapped, not read: a new process would fault
    in the new memory of a copy."""
    if (fd := _open_regular(path)) is None:
        return None
    try:
        if os.fstat(fd).st_size < _HEAD.size:
            return None
        data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    magic, dev, ino, upto, count, tail, body = _HEAD.unpack_from(data)
    if magic != MAGIC or (dev, ino) != file or upto > month_size or len(data) != _HEAD.size + 16 * count:
        return None
    view = memoryview(data)[_HEAD.size:]
    if zlib.crc32(view) != body or tail_crc(month_fd, upto) != tail:
        return None
    return MonthIndex(view[:8 * count].cast("Q"), view[8 * count:].cast("Q"), upto)


def write(path: Path, entries: list[int], upto: int, file: tuple[int, int], month_fd: int, home: Path) -> None:
    """Write the index of the month's first `upto` bytes (its `entries`, sorted) to a new file renamed over `path`; the
    caller holds the month's writers' lock."""
    mask = (1 << _SPAN) - 1
    keys, offsets = array("Q", [e >> _SPAN for e in entries]), array("Q", [e & mask for e in entries])
    body = keys.tobytes() + offsets.tobytes()
    head = _HEAD.pack(MAGIC, file[0], file[1], upto, len(entries), tail_crc(month_fd, upto), zlib.crc32(body))
    files.make_private_dir(path.parent, home)
    for stale in path.parent.glob(f".{path.name}.*"):  # left by a writer killed while writing (the lock is ours now)
        stale.unlink(missing_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        files.write_private(temp, head + body, home=home)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def behind(path: Path, size: int, file: tuple[int, int], step: int | None = None) -> bool:
    """Whether the index at `path` may need writing for a month file `file` of `size` bytes: its header (all an append
    reads of it) is missing, torn or of another file, or covers less than `size - step`. Its CRCs are checked by
    `update` (at a writer's first append, and whenever the month has grown `step`) and by every reader."""
    if (fd := _open_regular(path)) is None:
        return True
    try:
        with os.fdopen(fd, "rb") as fh:
            head = fh.read(_HEAD.size)
            length = os.fstat(fh.fileno()).st_size
    except OSError:
        return True
    if len(head) < _HEAD.size:
        return True
    magic, dev, ino, upto, count, _, _ = _HEAD.unpack(head)
    step = STEP if step is None else step
    return magic != MAGIC or (dev, ino) != file or upto > size or length != _HEAD.size + 16 * count or \
        size - upto >= step


def update(path: Path, month: Path, home: Path, *, step: int | None = None) -> bool:
    """Bring the index of `month` up to its last complete line when the month has grown `step` bytes or more past it
    (or when it is not usable: rebuilt from the whole month). The caller holds the month's writers' lock. True when the
    index was written."""
    try:
        fd = os.open(month, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        st = os.fstat(fd)
        file = (st.st_dev, st.st_ino)
        index = load(path, fd, st.st_size, file)
        upto = index.upto if index is not None else 0
        step = STEP if step is None else step
        if index is not None and st.st_size - upto < step:
            return False
        data = os.pread(fd, st.st_size - upto, upto)
        data = data[:data.rfind(b"\n") + 1]  # a line being written by a process of older code waits
        if index is not None and not data:
            return False
        new = entries(data, upto)
        found = index.entries() + new if index is not None else new
        found.sort()  # two sorted runs when caught up: merged
        write(path, found, upto + len(data), file, fd, home)
        return True
    finally:
        os.close(fd)
