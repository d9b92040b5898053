"""Property-based tests (Hypothesis) of what reads operators' and sources' data: the people importers (CSV and
JSON), the mapping formats and the report reader. Whatever the input: a clear error with a location, or the
data round-trips exactly. Example counts are bounded so the suite stays quick."""
from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.errors import BadInput
from console.eventlog import EventLog
from console.importer import COLUMNS, import_users
from console.mapping import Expression
from console.models import Event
from console.store import Store

BOUNDED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.function_scoped_fixture])
TEXT_FIELDS = ("givenName", "familyName", "department", "title")
any_text = st.text(max_size=30)
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cf", "Zl", "Zp", "Zs")),
                min_size=1, max_size=20)


def fresh_store() -> tuple[Store, Path]:
    home = Path(tempfile.mkdtemp(prefix="idc-prop-"))
    return Store.open(home / "home"), home


# ---- people importers ---------------------------------------------------------------------------------------------
@BOUNDED
@given(st.lists(st.fixed_dictionaries({field: any_text for field in TEXT_FIELDS}), min_size=1, max_size=5))
def test_csv_people_round_trip_exactly_or_each_bad_row_is_named_by_line_and_field(rows: list[dict[str, str]]) -> None:
    store, tmp = fresh_store()
    try:
        path = tmp / "people.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["employeeId", "userName", *TEXT_FIELDS])
            for n, row in enumerate(rows):
                writer.writerow([f"E{n}", f"user{n}", *(row[f] for f in TEXT_FIELDS)])
        try:
            result = import_users(store, path)
        except BadInput as exc:  # a whole-file refusal names the file
            assert str(path) in exc.title
            return
        bad = {e.line for e in result.errors}
        for error in result.errors:
            assert error.line >= 2 and error.field, error
        for n, row in enumerate(rows):
            person = store.users.by_key(f"E{n}")
            if person is None:
                assert bad, (n, row)  # refused rows are reported
                continue
            for field in TEXT_FIELDS:
                assert getattr(person, field) == row[field].strip(), field
    finally:
        store.close()


json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | any_text,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
                           max_leaves=6)


@BOUNDED
@given(st.lists(st.dictionaries(st.sampled_from([*COLUMNS, "emails", "emial", "x"]), json_values, max_size=6),
                min_size=1, max_size=4))
def test_any_json_records_are_imported_exactly_or_refused_by_line_and_field(records: list[dict[str, Any]]) -> None:
    store, tmp = fresh_store()
    try:
        path = tmp / "people.json"
        path.write_bytes(orjson.dumps(records))
        try:
            result = import_users(store, path)
        except BadInput as exc:
            assert str(path) in exc.title
            return
        for error in result.errors:
            assert 1 <= error.line <= len(records) and error.field, error
        for person in store.users:
            [record] = [r for r in records if str(r.get("userName", "")).strip() == person.userName]
            for field in TEXT_FIELDS:
                if field in record and record[field] is not None:
                    assert getattr(person, field) == str(record[field]).strip()
    finally:
        store.close()


# ---- mapping formats -------------------------------------------------------------------------------------------------
@BOUNDED
@given(st.text(max_size=40), st.dictionaries(names, json_values, max_size=4))
def test_a_mapping_format_is_refused_naming_itself_or_evaluates_to_text(text: str, record: dict[str, Any]) -> None:
    try:
        expression = Expression(text)
    except BadInput as exc:
        assert repr(text) in exc.title or "names no source field" in exc.title
        return
    value = expression.evaluate(record)
    assert value is None or isinstance(value, str)


@BOUNDED
@given(st.text(st.characters(exclude_characters="{}|"), max_size=10), names.filter(lambda n: not set(n) & set("{}|")),
       any_text)
def test_a_plain_format_round_trips_its_literal_and_value(literal: str, field: str, value: str) -> None:
    expression = Expression(f"{literal}{{{field}}}{literal}")
    assert expression.evaluate({field.strip(): value}) == f"{literal}{value}{literal}"


# ---- the report reader -------------------------------------------------------------------------------------------------
lines = st.one_of(st.binary(max_size=60).filter(lambda b: b"\n" not in b),
                  json_values.map(lambda v: orjson.dumps(v)),
                  st.dictionaries(st.sampled_from(["time", "action", "status", "changes", "person", "app"]),
                                  json_values, max_size=6).map(orjson.dumps))
events = st.builds(Event, action=names, status=st.sampled_from(["success", "failure"]), app=any_text,
                   person=any_text, error=any_text, message=any_text,
                   changes=st.dictionaries(names, st.tuples(any_text, any_text).map(list), max_size=3),
                   time=st.just("2026-11-02T10:00:00Z"))


@BOUNDED
@given(st.lists(events, max_size=4), st.lists(lines, max_size=6))
def test_the_report_reader_returns_every_record_exactly_and_skips_and_counts_the_rest(
        good: list[Event], junk: list[bytes]) -> None:
    home = Path(tempfile.mkdtemp(prefix="idc-prop-events-"))
    log = EventLog(home / "events")
    try:
        log.append_many(good)
        with open(home / "events" / "2026-11.jsonl", "ab") as fh:
            fh.write(b"".join(line + b"\n" for line in junk))
        found = log.query()
        assert [e.to_doc() for e in reversed(found)][:len(good)] == [e.to_doc() for e in good]
        assert len(found) + log.malformed() == len(good) + len(junk)
        for event in found:
            assert isinstance(event.changes, dict) and isinstance(event.time, str)
    finally:
        log.close()
