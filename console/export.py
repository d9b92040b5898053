"""Report exports written to a file the operator names: one rule for the CLI and the console.

A new file only (an existing one is replaced only with `force`), never inside the home (the state lives there),
never through a symbolic link, never readable by other users."""
from __future__ import annotations

import csv
import io
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
    target = private_target(path_text, home=home, force=force)
    return write_private(target, render(events, fmt), force=force)


def write_passwords(path_text: str, passwords: dict[str, str], *, home: Path) -> Path:
    """Initial passwords ("app: account" -> password) as CSV in a new 0600 file: never replaced, never in the home,
    never through a link. The caller offers it once; nothing else keeps them."""
    target = private_target(path_text, home=home, force=False)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["application", "account", "initial_password"])
    for who, password in passwords.items():
        app, _, account = who.partition(": ")
        writer.writerow([app, account, password])
    return write_private(target, out.getvalue().encode("utf-8"), force=False)


def private_target(path_text: str, *, home: Path, force: bool) -> Path:
    """Where a private export may go: a new file (or, with `force`, a regular one) outside the home, not a link."""
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
    return target


def write_private(target: Path, data: bytes, *, force: bool) -> Path:
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if force else os.O_EXCL)
    try:
        with os.fdopen(files.open_private(target, flags), "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise BadInput(f"cannot write {target}", detail=exc.strerror or str(exc),
                       hint="choose a writable place") from None
    return target
