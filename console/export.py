"""Report exports written to a file the operator names: one rule for the CLI and the console.

A new file only (an existing one is replaced only with `force`), never inside the home (the state lives there),
never through a symbolic link, never readable by other users."""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from console import files, reports
from console.errors import BadInput, output_failed
from console.models import Event

FORMATS = ("csv", "json")


def chunks(events: Iterable[Event], fmt: str) -> Iterator[bytes]:
    """The export's bytes, made as the events come (a million events are never all in memory)."""
    if fmt not in FORMATS:
        raise BadInput(f"unknown export format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    return _chunks(events, fmt)


def _chunks(events: Iterable[Event], fmt: str) -> Iterator[bytes]:
    if fmt == "json":
        yield from reports.json_chunks(events)
        yield b"\n"
    else:
        for text in reports.csv_chunks(events):
            yield text.encode("utf-8")


class _Counted:
    """The events, counted as they pass."""

    def __init__(self, events: Iterable[Event]) -> None:
        self.events, self.count = events, 0

    def __iter__(self) -> Iterator[Event]:
        for event in self.events:
            self.count += 1
            yield event


def write_to(sink: BinaryIO, fmt: str, events: Iterable[Event]) -> int:
    """Write the export of `events` to `sink` (the CLI's standard output) as they come; how many were written."""
    counted = _Counted(events)
    for data in chunks(counted, fmt):
        try:
            sink.write(data)
        except BrokenPipeError:
            raise  # the reader left (`| head`): the front end says nothing more
        except OSError as exc:
            raise output_failed(exc) from None
    return counted.count


def write_export(path_text: str, fmt: str, events: Iterable[Event], *, home: Path,
                 force: bool = False) -> tuple[int, Path]:
    """Write `events` as CSV or JSON to `path_text` as they come: (how many, where); refused with what to do instead
    when that is not safe."""
    counted = _Counted(events)
    data = chunks(counted, fmt)  # an unknown format is refused before any file is made
    written = write_private(private_target(path_text, home=home, force=force), data, force=force)
    return counted.count, written


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
    return write_private(target, [out.getvalue().encode("utf-8")], force=False)


def private_target(path_text: str, *, home: Path, force: bool) -> Path:
    """Where a private export may go: a new file (or, with `force`, a regular one) outside the home, not a link."""
    if not path_text.strip():
        raise BadInput("no file name given", hint="type a path such as ~/report.csv")
    try:
        return _private_target(path_text, home=home, force=force)
    except (OSError, RuntimeError) as exc:  # a name too long, a directory it cannot look into, ~nosuchuser, …
        detail = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
        raise BadInput(f"cannot use {path_text.strip()} as the file", detail=detail,
                       hint="choose another file name (shorter, in a directory you can read)") from None


def _private_target(path_text: str, *, home: Path, force: bool) -> Path:
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
    if path.exists() and not path.is_file():
        raise BadInput(f"{path} is not a regular file", hint="choose a file name")
    if path.exists() and not force:
        raise BadInput(f"{path} exists already", hint="choose another file name, or pass --force to replace it")
    return target


def write_private(target: Path, data: Iterable[bytes], *, force: bool) -> Path:
    """Write `data` (its pieces as they come) to a new 0600 file, or with `force` to a new file renamed over a regular
    one once whole: a write that fails part-way removes what it wrote and leaves the file it was to replace as it was,
    so no half export is left to be taken for a whole one and no earlier export is lost."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_EXCL
    written = target.with_name(f".{target.name}.{os.getpid()}.part") if force else target
    try:
        handle = os.fdopen(files.open_private(written, flags), "wb")
    except OSError as exc:
        raise BadInput(f"cannot write {target}", detail=exc.strerror or str(exc),
                       hint="choose a writable place") from None
    try:
        with handle:
            for piece in data:
                handle.write(piece)
        if written != target:
            os.replace(written, target)
    except BaseException as exc:
        written.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            kept = " and the file there before is as it was" if written != target else ""
            raise BadInput(f"cannot write {target}", detail=exc.strerror or str(exc),
                           hint=f"make room or choose another place; the part written was removed{kept}") from None
        raise
    return target
