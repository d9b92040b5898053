"""Loading people from CSV and JSON files: every bad row reported by line, the good rows loaded.

The import is all-or-nothing for the rows it accepts: the state is changed in memory, flushed once,
and rolled back if anything fails half-way, so the state is never left half-imported.
"""
from __future__ import annotations

import copy
import csv
import dataclasses
import gc
import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from console.errors import BadInput, IdConsoleError, JournalError, ValidationError
from console.models import USER_STATUSES, Event, User, new_id, utcnow
from console.shown import has_controls
from console.store import Store
from console.validation import EMAIL_RE, KEY_RE, LIMITS, USER_NAME_RE, validate_user
from console.values import MAX_INT

COLUMNS = ("employeeId", "userName", "givenName", "familyName", "displayName", "email", "department", "title",
           "manager", "status")
FIELDS = (*COLUMNS, "emails")  # a JSON record may list several addresses
MAX_FILE_BYTES = 256 * 1024 * 1024
# a created person's record: their set fields but the stamps (id, created, updated)
_RECORDED = tuple(f.name for f in dataclasses.fields(User) if f.name not in ("id", "created", "updated"))


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
    return list(iter_rows(path))


def iter_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """`read_rows` one row at a time, so that an import never holds every row's record at once (at 100k people
    they were ~100 MB). The file is read and its header checked before the first row; a CSV row that cannot be
    parsed raises BadInput when it is reached."""
    raw = _read_regular_file(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path} is not UTF-8", detail=f"byte {exc.start}", hint="save the file as UTF-8") from None
    del raw
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise BadInput(f"{path} is not valid JSON", detail=str(exc)) from None
        del text
        if isinstance(data, dict) and isinstance(data.get("users"), list):
            data = data["users"]
        if not isinstance(data, list):
            raise BadInput(f"{path} must hold a list of people", hint='e.g. [{"employeeId": "E1", "userName": …}]')
        for i, row in enumerate(data):
            data[i] = None  # handed on: the import keeps what it needs of it
            yield i + 1, row
        return
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        del text
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
        last = reader.line_num
        while True:
            try:
                row = next(reader, None)
            except csv.Error as exc:  # e.g. a field over csv.field_size_limit() (131,072 characters)
                raise BadInput(f"{path}: line {reader.line_num + 1}: {exc}",
                               hint="no field may be that long; check for an unclosed quote") from None
            if row is None:
                return
            # line_num is where the row ends (blank lines are skipped): count back its breaks, which a row read
            # from one line cannot hold
            line = reader.line_num
            if line - last > 1:
                line -= sum(v.count("\n") for v in row.values() if isinstance(v, str))
            last = reader.line_num
            yield line, row
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
    pk = store.primary_key
    users = store.users
    now = utcnow()  # the import's one moment: the people it creates or changes, and its records, bear it
    accepted: list[tuple[int, User, User | None]] = []
    # casefolded key, userName and e-mail of the rows accepted so far -> their index in `accepted`
    seen: tuple[dict[str, int], dict[str, int], dict[str, int]] = ({}, {}, {})
    by_key, by_name, by_email = seen
    for line, row in iter_rows(Path(path)):
        try:
            key_value = str((row or {}).get(pk) or "").strip() if isinstance(row, dict) else ""
            existing = users.by_key(key_value) if key_value else None
            user: User | None = None
            if existing is not None and pk == "employeeId" and _same(row, existing):
                user = existing  # the stored person as they are (never changed here)
            elif pk == "employeeId":
                user = _plain_user(row, existing, now)
            if user is None:  # anything but plain text, or a value validation would refuse or change: its word
                user = validate_user(row_to_user(row, existing), pk)
                if existing is None:
                    user.created = user.updated = now
            key = user.key(pk)
            key_folded, name_folded = key.casefold(), user.userName.casefold()
            mails = [e.casefold() for e in user.emails]
            if key_folded in by_key or name_folded in by_name or any(m in by_email for m in mails):
                for index, value, label in ((by_key, key, pk), (by_name, user.userName, "userName"),
                                            *((by_email, e, "email") for e in user.emails)):
                    first = index.get(value.casefold())
                    if first is not None:
                        raise ValidationError(label, value, f"repeats line {accepted[first][0]} of this file")
            if user is not existing:  # (a stored person's values are theirs in the store)
                users._check(user)
            at = len(accepted)
            by_key[key_folded] = by_name[name_folded] = at
            for m in mails:
                by_email[m] = at
            accepted.append((line, user, existing))
        except ValidationError as exc:
            result.errors.append(RowError(line, exc.field, str(exc.value), f"{exc.value!r} {exc.rule}"))
    source, message = f"file:{Path(path).name}", f"from {Path(path).name}"  # once, not per row (~10% of an import)
    changed: list[tuple[User, User | None]] = []
    for line, user, existing in accepted:
        manager = user.manager
        if manager:
            # managers may come later in the same file: resolved (USER -> primary key) once every row is known,
            # to the first row having it as its key, userName or e-mail, else to a stored person
            folded = manager.casefold()
            rows = [i for i in (by_key.get(folded), by_name.get(folded), by_email.get(folded)) if i is not None]
            if rows:
                manager = accepted[min(rows)][1].key(pk)
            else:
                known = users.find(manager)
                if known is None:
                    result.errors.append(RowError(line, "manager", manager, f"{manager!r} is not a known person"))
                    continue
                manager = known.key(pk)
        if user is existing:  # the row holds the stored values (the stored object, never changed here)
            if manager == existing.manager:
                result.unchanged.append(user.label())
                continue
            user = _copy(existing)
        user.manager = manager
        if existing is None:
            result.created.append(user.label())
        elif all(getattr(user, name) == getattr(existing, name) for name in _IMPORTED):
            result.unchanged.append(user.label())
            continue
        else:
            result.updated.append(user.label())
            user.updated = now
        if user.source == "local":
            user.source = source
        changed.append((user, existing))
    del accepted, seen, by_key, by_name, by_email
    if dry_run or not changed:
        return result

    def events() -> Iterator[Event]:
        """Each person's record, made as the report is written (not all held at once): a created person's set
        fields, an updated one's changed fields, before -> after."""
        for user, existing in changed:
            if existing is None:  # a person's fields are text, a list (emails) or an object (attributes)
                # (dumped as it is made: the person's own values, not copies)
                changes = {k: [None, v] for k in _RECORDED if (v := getattr(user, k))}
                action = "import_create"
            else:
                changes = {k: [_copied(getattr(existing, k)), _copied(getattr(user, k))] for k in _IMPORTED
                           if getattr(user, k) != getattr(existing, k)}
                action = "import_update"
            yield Event(action=action, status="success", app="", person=user.label(), person_id=user.id,
                        run=run_id, operator=operator, changes=changes, message=message, time=now)

    try:  # the events on disk first, then the state: no change is saved without its record (nor a record without it)
        users.put_many(user for user, _ in changed)
        try:
            marks = store.events.append_many(events())
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


# what a file sets of a person (`email` is the first of `emails`); the other fields are kept as they are
_IMPORTED = ("employeeId", "userName", "givenName", "familyName", "displayName", "emails", "department", "title",
             "manager", "status")
_STRIPPED = ("employeeId", "userName", "givenName", "familyName", "displayName", "department", "title", "manager")
_PLAIN = frozenset(COLUMNS)
_KEY_LIMIT, _NAME_LIMIT, _GIVEN_LIMIT, _FAMILY_LIMIT, _DISPLAY_LIMIT, _DEPARTMENT_LIMIT, _TITLE_LIMIT, _EMAIL_LIMIT = (
    LIMITS[name] for name in ("employeeId", "userName", "givenName", "familyName", "displayName", "department", "title",
                              "email"))
_FIELDS = tuple(f.name for f in dataclasses.fields(User) if f.name != "attributes")


def _copied(value: Any) -> Any:
    return list(value) if type(value) is list else value  # the imported fields: text, or a list of text (emails)


def _same(row: Any, existing: User) -> bool:
    """True when a row of plain text gives exactly the stored values of a person typed in or imported from a file
    (validated as a file's rows are; a source's people are kept as the source has them): the import would change
    nothing but (perhaps) their manager, which is resolved as any row's is."""
    if type(row) is not dict or not row.keys() <= _PLAIN or not (existing.source == "local"
                                                                  or existing.source.startswith("file:")):
        return False
    for name, value in row.items():
        if value is None:
            continue
        if name == "email":
            if existing.emails != ([value] if value else []):
                return False
        elif name == "status":
            if (value or "active") != existing.status:
                return False
        elif value != getattr(existing, name):
            return False
    return True


def _copy(user: User) -> User:
    return User(**{name: _copied(getattr(user, name)) for name in _FIELDS},
                attributes=copy.deepcopy(user.attributes) if user.attributes else {})


def _plain_user(row: Any, existing: User | None, now: str) -> User | None:
    """The person `validate_user(row_to_user(row, existing))` makes of a row of plain text that validation
    accepts as it is, built without going through them (most of an import's time at 100k people); None for
    anything else — another type, an `emails` list, a value validation would refuse — which takes their path,
    and their exact error. `tests/test_import_paths.py` checks both paths make the same person from any row."""
    if type(row) is not dict or not row.keys() <= _PLAIN:
        return None
    get = row.get
    try:  # text only: anything else has no strip()
        if existing is None:
            employee_id, user_name, given, family, display, department, title, manager = [
                "" if (v := get(name)) is None else v.strip() for name in _STRIPPED]
        else:
            employee_id, user_name, given, family, display, department, title, manager = [
                (getattr(existing, name) if (v := get(name)) is None else v).strip() for name in _STRIPPED]
        email = get("email")
        if email is not None:
            email = email.strip()
            emails = [email] if email else []
        else:
            emails = [e.strip() for e in existing.emails if e.strip()] if existing is not None else []
        status = get("status")
        status = ("active" if existing is None else existing.status) if status is None else status or "active"
    except AttributeError:
        return None
    if (not employee_id or not user_name or status not in USER_STATUSES or len(employee_id) > _KEY_LIMIT
            or len(user_name) > _NAME_LIMIT or len(given) > _GIVEN_LIMIT or len(family) > _FAMILY_LIMIT
            or len(display) > _DISPLAY_LIMIT or len(department) > _DEPARTMENT_LIMIT or len(title) > _TITLE_LIMIT
            or has_controls(" ".join((employee_id, user_name, given, family, display, department, title)))
            or not KEY_RE.match(employee_id) or not USER_NAME_RE.match(user_name)):
        return None
    for e in emails:
        if len(e) > _EMAIL_LIMIT or not EMAIL_RE.match(e) or ".." in e:
            return None
    if len(emails) > 1 and len({e.casefold() for e in emails}) != len(emails):
        return None
    if not display:
        display = " ".join(p for p in (given, family) if p) or user_name
    if existing is None:
        return User(employeeId=employee_id, userName=user_name, givenName=given, familyName=family,
                    displayName=display, emails=emails, department=department, title=title, manager=manager,
                    status=status, id=new_id(), created=now, updated=now)
    return User(employeeId=employee_id, userName=user_name, givenName=given, familyName=family, displayName=display,
                emails=emails, department=department, title=title, manager=manager, status=status,
                source=existing.source, attributes=copy.deepcopy(existing.attributes) if existing.attributes else {},
                id=existing.id, created=existing.created, updated=existing.updated)
