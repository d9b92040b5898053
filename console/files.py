"""File modes of a home: the one place that decides them, whatever the umask.

A home is private to its owner (0700, files 0600) unless operators share it through a group — the
directory setgid and group-owned by a group other than the owner's primary group, as in the README's SSH
set-up — then 0770/0660 (setgid kept). Nothing the product writes is ever readable by other users.
"""
from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path
from typing import IO

PRIVATE = (0o700, 0o600)
SHARED = (0o2770, 0o660)


def is_shared(home: Path) -> bool:
    """True when the home is shared through its group (setgid, group other than the owner's primary group)."""
    try:
        st = os.stat(home)
    except OSError:
        return False
    if not st.st_mode & stat.S_ISGID:
        return False
    try:
        primary = pwd.getpwuid(st.st_uid).pw_gid
    except KeyError:
        return True  # no passwd entry for the owner: the setgid bit alone says it is shared
    return st.st_gid != primary


def private_modes(home: Path) -> tuple[int, int]:
    """(directory mode, file mode) for everything under `home`."""
    return SHARED if is_shared(home) else PRIVATE


def make_private_dir(path: Path, home: Path | None = None) -> None:
    """Create `path` (and missing parents) with the home's directory mode; tighten it when it exists looser."""
    dir_mode, _ = private_modes(home or path)
    path.mkdir(parents=True, exist_ok=True)
    tighten(path, dir_mode)


def tighten(path: Path, mode: int) -> None:
    """Set `path` to `mode` when it grants more than that (a file we do not own is left alone)."""
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
        if current & ~mode & 0o777 or (mode & stat.S_ISGID and not current & stat.S_ISGID):
            os.chmod(path, (current & mode & 0o777) | (mode & stat.S_ISGID) | (mode & 0o700))
    except (FileNotFoundError, PermissionError):
        pass


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_APPEND, home: Path | None = None) -> int:
    """os.open with the home's file mode, set exactly (the umask cannot widen or narrow it): a raw fd."""
    _, file_mode = private_modes(home or path.parent)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), file_mode)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != file_mode:
            os.fchmod(fd, file_mode)
    except PermissionError:
        pass  # someone else's file (a shared home): its owner set its mode
    return fd


def open_private_file(path: Path, mode: str = "ab", home: Path | None = None) -> IO[bytes]:
    """A binary file object opened through `open_private` ("ab", "wb", "w+b" to read it back too, or "xb" for a new
    file only)."""
    flags = {"ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND, "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
             "w+b": os.O_RDWR | os.O_CREAT | os.O_TRUNC, "xb": os.O_WRONLY | os.O_CREAT | os.O_EXCL}[mode]
    return os.fdopen(open_private(path, flags, home), mode.replace("x", "w"))


def write_private(path: Path, data: bytes, *, exclusive: bool = False, home: Path | None = None) -> None:
    """Write a whole file with the private mode; `exclusive` refuses an existing file (FileExistsError)."""
    with open_private_file(path, "xb" if exclusive else "wb", home) as handle:
        handle.write(data)


def tighten_home(home: Path) -> None:
    """Bring an existing home to its modes: the directory, the state and its backups, the lock, the report."""
    dir_mode, file_mode = private_modes(home)
    tighten(home, dir_mode)
    for sub in ("events", "secrets"):
        if (home / sub).is_dir():
            tighten(home / sub, dir_mode)
            for item in (home / sub).iterdir():
                if item.is_file():
                    tighten(item, file_mode)
    for item in home.iterdir():
        if item.is_file():
            tighten(item, file_mode)
