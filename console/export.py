"""Report exports written to a file the operator names: one rule for the CLI and the console.

A new file only (an existing one is replaced only with `force`), never inside the home (the state lives there),
never through a symbolic link, never readable by other users."""
from __future__ import annotations

import os
from pathlib import Path

from console import files, reports
from console.errors import BadInput
from console.models import Event

FORMATS = ("csv", "json")


def render(events: list[Event], fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise BadInput(f"unknown export format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    return reports.to_json(events) + b"\n" if fmt == "json" else reports.to_csv(events).encode("utf-8")


def write_export(path_text: str, fmt: str, events: list[Event], *, home: Path, force: bool = False) -> Path:
    """Write `events` as CSV or JSON to `path_text`; refused with what to do instead when that is not safe."""
    if not path_text.strip():
        raise BadInput("no file name given", hint="type a path such as ~/report.csv")
    path = Path(path_text.strip()).expanduser()
    parent = path.parent.resolve()
    if not parent.is_dir():
        raise BadInput(f"{path.parent} is not a directory", hint="create it first or choose another place")
    target = parent / path.name
    home_dir = home.resolve()
    if target == home_dir or home_dir in target.parents:
        raise BadInput(f"{path} is inside the idconsole home {home_dir}",
                       hint="export somewhere else (e.g. your home directory); the home holds the state")
    if path.is_symlink():
        raise BadInput(f"{path} is a symbolic link", hint="give the real file name; links are never followed")
    if path.exists() and not force:
        raise BadInput(f"{path} exists already", hint="choose another file name, or pass --force to replace it")
    if path.exists() and not path.is_file():
        raise BadInput(f"{path} is not a regular file", hint="choose a file name")
    data = render(events, fmt)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if force else os.O_EXCL)
    try:
        with os.fdopen(files.open_private(target, flags), "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise BadInput(f"cannot write {path}", detail=exc.strerror or str(exc), hint="choose a writable place") from None
    return target
