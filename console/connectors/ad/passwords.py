"""Hand-over of generated initial passwords: appended to a file only its owner can read, never logged."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from console.errors import ConfigError
from console.models import utcnow


class PasswordFile:
    """Appends `time<TAB>sAMAccountName<TAB>userPrincipalName<TAB>password` lines; the file is mode 0600."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()

    def _open(self) -> int:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            raise ConfigError(f"password_file {self.path} cannot be written", detail=exc.strerror or "",
                              hint="point password_file at a file in a directory you own") from None
        info = os.fstat(fd)
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or info.st_uid != os.geteuid():
            os.close(fd)
            raise ConfigError(f"password_file {self.path} is readable by others",
                              hint=f"chmod 600 {self.path} (and make sure you own it) or choose another file")
        return fd

    def check(self) -> None:
        """Fail before anything is created if the passwords could not be handed over."""
        os.close(self._open())

    def deliver(self, sam: str, upn: str, password: str) -> None:
        fd = self._open()
        try:
            os.write(fd, f"{utcnow()}\t{sam}\t{upn}\t{password}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
