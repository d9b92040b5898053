"""Loading people from CSV and JSON files: every bad row reported by line, the good rows loaded.

The import is all-or-nothing for the rows it accepts: the state is changed in memory, flushed once,
and rolled back if anything fails half-way, so the state is never left half-imported.
"""
from __future__ import annotations

import csv
import gc
import io
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from console.errors import BadInput, IdConsoleError, JournalError, ValidationError
from console.models import Event, User, utcnow
from console.store import Store
from console.validation import validate_user
from console.values import MAX_INT

COLUMNS = ("employeeId", "userName", "givenName", "familyName", "displayName", "email", "department", "title",
           "manager", "status")
FIELDS = (*COLUMNS, "emails")  # a JSON record may list several addresses
MAX_FILE_BYTES = 256 * 1024 * 1024
_STAMPS = frozenset({"id", "created", "updated"})  # not in a created person's record


@dataclass
class RowError:
    line: int
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = f" {self.field}" if self.field else ""
        return f"line {self.line}:{where} {self.reason}"


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": len(self.created), "updated": len(self.updated), "unchanged": len(self.unchanged),
            "errors": [e.__dict__ for e in self.errors], "dry_run": self.dry_run,
        }


def _read_regular_file(path: Path) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES; a directory, FIFO or device is refused before it is
    opened (a FIFO would block the import, a device never end), and so is a file that cannot be read."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file", hint="check the path") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror})", hint="check the path and its permissions") from None
    if not stat.S_ISREG(info.st_mode):
        what = ("a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode)
                else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "not a regular file")
        raise BadInput(f"{path} is {what}", hint="give a .csv or .json file")
    if info.st_size > MAX_FILE_BYTES:
        raise BadInput(f"{path} is larger than {MAX_FILE_BYTES // 1048576} MB", hint="split it into several files")
    try:
        with open(path, "rb", opener=_no_block) as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror})", hint="check the path and its permissions") from None
    if len(raw) > MAX_FILE_BYTES:
        raise BadInput(f"{path} is larger than {MAX_FILE_BYTES // 1048576} MB", hint="split it into several files")
    return raw


def _no_block(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK | os.O_NOCTTY)


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) pairs from a .csv or .json file; a malformed file is one clear BadInput."""
    raw = _read_regular_file(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path} is not UTF-8", detail=f"byte {exc.start}", hint="save the file as UTF-8") from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise BadInput(f"{path} is not valid JSON", detail=str(exc)) from None
        if isinstance(data, dict) and isinstance(data.get("users"), list):
            data = data["users"]
        if not isinstance(data, list):
            raise BadInput(f"{path} must hold a list of people", hint='e.g. [{"employeeId": "E1", "userName": …}]')
        return [(i + 1, row) for i, row in enumerate(data)]
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            header = reader.fieldnames or []
        except csv.Error as exc:
            raise BadInput(f"{path}: line 1: {exc}", hint="check the header line") from None
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise BadInput(f"{path}: the header repeats column(s) {', '.join(repeated)}",
                           hint="keep one column of each name (the values of the others would be lost)")
        missing = [c for c in ("employeeId", "userName") if c not in header]
        if missing:
            raise BadInput(f"{path}: the header lacks {', '.join(missing)}", hint=f"the columns are {','.join(COLUMNS)}")
        unknown = [c for c in header if c not in COLUMNS]
        if unknown:
            raise BadInput(f"{path}: unknown column(s) {', '.join(unknown)}", hint=f"the columns are {','.join(COLUMNS)}")
        rows = []
        try:
            for row in reader:  # line_num is where the row ends (blank lines are skipped): count back its breaks
                breaks = sum(v.count("\n") for v in row.values() if isinstance(v, str))
                rows.append((reader.line_num - breaks, row))
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (131,072 characters)
            raise BadInput(f"{path}: line {reader.line_num + 1}: {exc}",
                           hint="no field may be that long; check for an unclosed quote") from None
        return rows
    raise BadInput(f"{path}: unsupported file type {suffix or '(none)'}", hint="use a .csv or .json file")


def check_row(row: dict[str, Any]) -> None:
    """A record's fields are known and typed: unknown names (`emial`) are refused, not dropped; a string field
    takes text or a whole number (its digits), never true/false, a fraction, a list or an object; `emails` is a
    list of strings (one address goes in `email`)."""
    unknown = sorted(str(k) for k in row if k not in FIELDS)
    if unknown:
        raise ValidationError(unknown[0], ", ".join(unknown), "is not a field of a person",
                              hint=f"the fields are {', '.join(FIELDS)}")
    for name, value in row.items():
        if name == "emails":
            if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
                raise ValidationError("emails", repr(value)[:40], "must be a list of addresses",
                                      hint='e.g. "emails": ["a@example.com"], or "email": "a@example.com"')
        elif value is not None and (isinstance(value, bool) or not isinstance(value, str | int)
                                    or isinstance(value, int) and abs(value) > MAX_INT):
            raise ValidationError(name, repr(value)[:40], "must be text")


def row_to_user(row: dict[str, Any], existing: User | None) -> User:
    if not isinstance(row, dict):
        raise ValidationError("row", str(row)[:40], "is not an object with the person's fields")
    if None in row:
        raise ValidationError("row", "", "has more values than the header has columns")
    check_row(row)
    row = {k: str(v) if isinstance(v, int) else v for k, v in row.items()}
    email = row.get("email")
    emails = list(row["emails"]) if "emails" in row and row["emails"] is not None else ([email] if email else [])
    base = existing.to_doc() if existing else {}
    base.update({k: row[k] for k in COLUMNS if k in row and k != "email" and row[k] is not None})
    base["emails"] = emails if (email is not None or "emails" in row) else base.get("emails", [])
    base.setdefault("employeeId", "")  # missing keys are refused by validation ("is required"), by line
    base.setdefault("userName", "")
    base.setdefault("status", "active")
    if not base.get("status"):
        base["status"] = "active"
    return User.from_doc(base)


def import_users(store: Store, path: Path, *, dry_run: bool = False, operator: str = "", run_id: str = "") -> ImportResult:
    """Load the people of a .csv or .json file (see the module's docstring).

    The cyclic GC is paused meanwhile: an import builds ~20 objects a row (people, their records, their changes)
    that live until it ends, and with 100k people in memory the collections it would set off cost ~15% of it.
    Nothing here makes cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _import_users(store, path, dry_run=dry_run, operator=operator, run_id=run_id)
    finally:
        if enabled:
            gc.enable()


def _import_users(store: Store, path: Path, *, dry_run: bool, operator: str, run_id: str) -> ImportResult:
    result = ImportResult(dry_run=dry_run)
    rows = read_rows(Path(path))
    pk = store.primary_key
    accepted: list[tuple[int, User, User | None]] = []
    seen: dict[str, dict[str, int]] = {"key": {}, "userName": {}, "email": {}}
    for line, row in rows:
        try:
            key_value = str((row or {}).get(pk) or "").strip() if isinstance(row, dict) else ""
            existing = store.users.by_key(key_value) if key_value else None
            user = validate_user(row_to_user(row, existing), pk)
            for label, value in (("key", user.key(pk)), ("userName", user.userName), *(("email", e) for e in user.emails)):
                first = seen[label].get(value.casefold())
                if first is not None:
                    name = pk if label == "key" else label
                    raise ValidationError(name, value, f"repeats line {first} of this file")
            store.users._check(user)
            for label, value in (("key", user.key(pk)), ("userName", user.userName), *(("email", e) for e in user.emails)):
                seen[label][value.casefold()] = line
            accepted.append((line, user, existing))
        except ValidationError as exc:
            result.errors.append(RowError(line, exc.field, str(exc.value), f"{exc.value!r} {exc.rule}"))
    # managers may come later in the same file, so they are resolved (USER -> primary key) once every row is known
    in_file: dict[str, str] = {}
    for _, u, _ in accepted:
        for value in (u.key(pk), u.userName, *u.emails):
            in_file.setdefault(value.casefold(), u.key(pk))
    good: list[tuple[int, User, User | None]] = []
    for line, user, existing in accepted:
        if user.manager:
            known = store.users.find(user.manager)
            key = in_file.get(user.manager.casefold()) or (known.key(pk) if known else None)
            if key is None:
                result.errors.append(RowError(line, "manager", user.manager, f"{user.manager!r} is not a known person"))
                continue
            user.manager = key
        good.append((line, user, existing))
    changed: list[User] = []
    events: list[Event] = []
    source, message = f"file:{Path(path).name}", f"from {Path(path).name}"  # once, not per row (~10% of an import)
    for _, user, existing in good:
        if existing is None:
            result.created.append(user.label())
            # a person's fields are text, a list (emails) or an object (attributes): the empty ones are left out
            changes = {k: [None, v] for k, v in user.to_doc().items() if v and k not in _STAMPS}
            action = "import_create"
        else:
            before, after = existing.to_doc(), user.to_doc()
            changes = {k: [before[k], after[k]] for k in after if k not in ("updated",) and before.get(k) != after[k]}
            if not changes:
                result.unchanged.append(user.label())
                continue
            result.updated.append(user.label())
            action = "import_update"
            user.updated = utcnow()
        if user.source == "local":
            user.source = source
        changed.append(user)
        events.append(Event(action=action, status="success", app="", person=user.label(), person_id=user.id,
                            run=run_id, operator=operator, changes=changes, message=message))
    if dry_run or not changed:
        return result
    try:  # the events on disk first, then the state: no change is saved without its record (nor a record without it)
        store.users.put_many(changed)
        try:
            marks = store.events.append_many(events)
        except OSError as exc:
            raise JournalError(f"the import of {path} failed: the provisioning report cannot be written; nothing "
                               "was changed", detail=exc.strerror or str(exc),
                               hint=f"free space or fix {store.events.dir}, then import again") from None
        try:
            store.flush()
        except BaseException:
            store.events.withdraw(marks)
            raise
    except BaseException as exc:
        store.rollback()
        if isinstance(exc, IdConsoleError):
            raise
        raise BadInput(f"the import of {path} failed; nothing was changed", detail=type(exc).__name__) from exc
    return result
