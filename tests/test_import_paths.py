"""The import's quick paths (issue 16) make what validation's path makes: a row of plain text built into its person
directly, a re-imported row found equal to the stored person, the records made as the report is written.

The reference is the importer as it was before them (every row through `row_to_user` and `validate_user`, managers
resolved through a map of every accepted row's identifiers), kept here as the oracle; Hypothesis draws files whose
keys, names and addresses collide, whose managers are given by any identifier, and whose values carry padding,
controls, bad addresses and wrong statuses, and imports them twice into one home.
"""
from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from console.errors import ValidationError
from console.importer import (
    _IMPORTED,
    COLUMNS,
    _plain_user,
    _same,
    import_users,
    read_rows,
    row_to_user,
)
from console.models import User
from console.store import Store
from console.validation import validate_user

BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                           HealthCheck.filter_too_much])


def reference(store: Store, path: Path) -> dict[str, Any]:
    """What the importer before the quick paths decided for `path` against `store` (nothing written): the
    result's lists, and each created or updated person's imported fields by label."""
    pk = store.primary_key
    errors: list[tuple[int, str, str]] = []
    accepted: list[tuple[int, User, User | None]] = []
    seen: dict[str, dict[str, int]] = {"key": {}, "userName": {}, "email": {}}
    for line, row in read_rows(path):
        try:
            key_value = str((row or {}).get(pk) or "").strip() if isinstance(row, dict) else ""
            existing = store.users.by_key(key_value) if key_value else None
            user = validate_user(row_to_user(row, existing), pk)
            pairs = (("key", user.key(pk)), ("userName", user.userName), *(("email", e) for e in user.emails))
            for label, value in pairs:
                first = seen[label].get(value.casefold())
                if first is not None:
                    raise ValidationError(pk if label == "key" else label, value, f"repeats line {first} of this file")
            store.users._check(user)
            for label, value in pairs:
                seen[label][value.casefold()] = line
            accepted.append((line, user, existing))
        except ValidationError as exc:
            errors.append((line, exc.field, f"{exc.value!r} {exc.rule}"))
    in_file: dict[str, str] = {}
    for _, u, _ in accepted:
        for value in (u.key(pk), u.userName, *u.emails):
            in_file.setdefault(value.casefold(), u.key(pk))
    out: dict[str, Any] = {"created": [], "updated": [], "unchanged": [], "people": {}}
    for line, user, existing in accepted:
        if user.manager:
            known = store.users.find(user.manager)
            key = in_file.get(user.manager.casefold()) or (known.key(pk) if known else None)
            if key is None:
                errors.append((line, "manager", f"{user.manager!r} is not a known person"))
                continue
            user.manager = key
        fields = {name: getattr(user, name) for name in _IMPORTED}
        if existing is None:
            out["created"].append(user.label())
        elif fields == {name: getattr(existing, name) for name in _IMPORTED}:
            out["unchanged"].append(user.label())
            continue
        else:
            out["updated"].append(user.label())
        out["people"][user.label()] = fields
    out["errors"] = sorted(errors)
    return out


KEYS = st.sampled_from(["E1", "E2", "e1", "E3", " E4 ", "", "E 5", "E6"])
NAMES = st.sampled_from(["ann", "bob", "Ann", "carl", "d e", "", " erin", "E2"])
EMAILS = st.sampled_from(["", "a@example.com", "A@example.com ", "bad", "b@example.com", "ann", "c..d@example.com"])
MANAGERS = st.sampled_from(["", "E1", "ann", "a@example.com", "E9", "bob", " E2", "e3"])
TEXTS = st.sampled_from(["", "ann", "Zoë", " Seán ", "李", "x" * 70, "tab\there", "bidi\u202e", "nl\nx", "Ñúñez"])
STATUSES = st.sampled_from(["", "active", "leaver", "gone", " active"])
ROW = st.fixed_dictionaries({
    "employeeId": KEYS, "userName": NAMES, "givenName": TEXTS, "familyName": TEXTS, "displayName": TEXTS,
    "email": EMAILS, "department": TEXTS, "title": TEXTS, "manager": MANAGERS, "status": STATUSES,
})
FILE = st.lists(ROW, min_size=1, max_size=6)


def write_file(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> Path:
    if path.suffix == ".json":
        path.write_bytes(orjson.dumps([{c: r[c] for c in columns} for r in rows]))
        return path
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        writer.writerows([[r[c] for c in columns] for r in rows])
    return path


def _row(**values: str) -> dict[str, Any]:
    return {c: values.get(c, "") for c in COLUMNS}


@BOUNDED
@example(first=[_row(employeeId="E1", userName="E2"), _row(employeeId="E2", userName="bob"),
                _row(employeeId="E3", userName="carl", manager="e2")],  # the first row having it, by any identifier
         second=[], keep=[True] * 6, suffix=".csv", columns=set())
@example(first=[_row(employeeId="E1", userName="ann", displayName="ann", manager="E2"),
                _row(employeeId="E2", userName="bob")],
         # ann's row re-imported as stored, but "E2" is now first the userName of a row before hers
         second=[_row(employeeId="E9", userName="E2"),
                 _row(employeeId="E1", userName="ann", displayName="ann", manager="E2"),
                 _row(employeeId="E2", userName="bob")], keep=[False] * 6, suffix=".csv", columns=set(COLUMNS[2:]))
@given(first=FILE, second=FILE, keep=st.lists(st.booleans(), min_size=6, max_size=6),
       suffix=st.sampled_from([".csv", ".json"]), columns=st.sets(st.sampled_from(COLUMNS[2:])))
def test_two_imports_into_one_home_decide_what_the_reference_decides(first: list[dict[str, Any]],
                                                                      second: list[dict[str, Any]],
                                                                      keep: list[bool], suffix: str,
                                                                      columns: set[str]) -> None:
    # the second file partly repeats the first (re-imported rows) and may leave columns out (kept as stored)
    second = [row for row, k in zip(first, keep) if k] + second
    chosen = ["employeeId", "userName", *[c for c in COLUMNS[2:] if c in columns]]
    with tempfile.TemporaryDirectory(prefix="idc-paths-") as tmp:
        home = Path(tmp)
        with Store.open(home / "home") as store:
            for n, (rows, cols) in enumerate(((first, list(COLUMNS)), (second, chosen))):
                path = write_file(home / f"people{n}{suffix}", rows, cols)
                expected = reference(store, path)
                result = import_users(store, path)
                got = {"created": result.created, "updated": result.updated, "unchanged": result.unchanged,
                       "errors": sorted((e.line, e.field, e.reason) for e in result.errors)}
                assert got == {k: v for k, v in expected.items() if k != "people"}
                for label, fields in expected["people"].items():
                    person = store.users.by_key(fields["employeeId"])
                    assert person is not None
                    assert {name: getattr(person, name) for name in _IMPORTED} == fields, label


PLAIN_ROW = st.fixed_dictionaries({"employeeId": KEYS, "userName": NAMES}, optional={
    "givenName": TEXTS | st.none(), "familyName": TEXTS | st.none(), "displayName": TEXTS | st.none(),
    "email": EMAILS | st.none(), "department": TEXTS | st.none(), "title": TEXTS | st.none(),
    "manager": MANAGERS | st.none(), "status": STATUSES | st.none(), "emails": st.lists(EMAILS, max_size=2),
})
STORED = st.builds(User, employeeId=st.sampled_from(["E1", "E2"]), userName=st.sampled_from(["ann", "bob"]),
                   givenName=TEXTS, familyName=TEXTS, displayName=TEXTS, department=TEXTS, title=TEXTS,
                   emails=st.lists(EMAILS, max_size=2), manager=MANAGERS, status=STATUSES,
                   source=st.sampled_from(["local", "file:a.csv", "bitbucket:bb"]))


@BOUNDED
@given(row=PLAIN_ROW | st.dictionaries(st.sampled_from([*COLUMNS, "x"]), st.integers() | st.booleans() | NAMES),
       stored=st.none() | STORED)
def test_a_row_built_directly_is_the_person_validation_makes_and_only_of_rows_it_accepts(
        row: dict[str, Any], stored: User | None) -> None:
    try:
        expected: User | None = validate_user(row_to_user(dict(row), stored), "employeeId")
    except ValidationError:
        expected = None
    built = _plain_user(dict(row), stored, "2026-01-01T00:00:00Z")
    if built is None:
        return  # validation's path decides (and words the error)
    assert expected is not None, "a row validation refuses was built"
    assert built.to_doc() | {"created": "", "updated": "", "id": ""} == \
        expected.to_doc() | {"created": "", "updated": "", "id": ""}
    if stored is not None:
        assert (built.id, built.created, built.updated) == (stored.id, stored.created, stored.updated)


@BOUNDED
@given(row=PLAIN_ROW, stored=STORED)
def test_a_row_found_equal_to_the_stored_person_is_what_validation_makes_of_it(row: dict[str, Any],
                                                                                stored: User) -> None:
    if stored.source != "bitbucket:bb":  # people typed in or from a file are stored as validation made them
        try:
            stored = validate_user(stored, "employeeId")
        except ValidationError:
            assume(False)
    if not _same(dict(row), stored):
        return
    assert stored.source != "bitbucket:bb"  # a source's people keep their values: validation's path decides
    expected = validate_user(row_to_user(dict(row), stored), "employeeId")
    assert {name: getattr(expected, name) for name in _IMPORTED} == {name: getattr(stored, name) for name in _IMPORTED}


def test_the_quick_paths_are_taken_for_plain_rows() -> None:
    row = {"employeeId": "E1", "userName": "zoe", "givenName": "Zoë", "familyName": "Ångström", "displayName": "",
           "email": "zoe@example.com", "department": "Sales", "title": "Engineer", "manager": "E2", "status": ""}
    built = _plain_user(row, None, "2026-01-01T00:00:00Z")
    assert built is not None and built.displayName == "Zoë Ångström" and built.status == "active"
    assert _same({**row, "displayName": "Zoë Ångström"}, built)
    assert not _same(row, built)  # an empty displayName is derived: validation's path decides
    assert _plain_user({**row, "title": "bidi\u202e"}, None, "2026-01-01T00:00:00Z") is None
