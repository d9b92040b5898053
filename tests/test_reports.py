"""The provisioning report: time filters an operator types, who a person is, CSV and JSON of the same records."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from console import clock, reports
from console.errors import ValidationError
from console.models import Event
from console.reports import ReportFilter, parse_when
from console.service import Service
from console.store import Store

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("text", "expected"), [
    ("24h", NOW - timedelta(hours=24)),
    ("7d", NOW - timedelta(days=7)),
    (" 30D ", NOW - timedelta(days=30)),
    ("2w", NOW - timedelta(days=14)),
    ("2026-11-01", datetime(2026, 11, 1, tzinfo=timezone.utc)),
    ("2026-11-01T08:30:00Z", datetime(2026, 11, 1, 8, 30, tzinfo=timezone.utc)),
    ("2026-11-01T10:30:00+02:00", datetime(2026, 11, 1, 8, 30, tzinfo=timezone.utc)),
])
def test_spans_and_dates_are_understood_in_utc(text: str, expected: datetime) -> None:
    assert parse_when(text, "since", now=NOW) == expected


def test_an_end_date_means_the_end_of_that_day() -> None:
    assert parse_when("2026-11-01", "to", end_of_day=True) == datetime(2026, 11, 1, 23, 59, 59, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["yesterday", "7 days", "2026-02-30", "-3d", ""])
def test_anything_else_is_rejected_naming_the_option_and_value(text: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_when(text, "from")
    assert err.value.field == "from" and err.value.value == text and "2026-11-01" in err.value.hint


@pytest.fixture
def svc(state: Store) -> Iterator[Service]:
    """Two people and three records; the service's own records are made on 2026-11-23 (a fixed clock: on the wall
    clock, a run in December put them in another month than the records the tests add, in another order)."""
    with clock.fixed(datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)):
        service = Service(state, operator="ops@10.0.0.1")
        service.add_user(employeeId="E1", userName="zoe", givenName="Zoë", familyName="Ångström",
                         email="zoe@example.com")
        service.add_user(employeeId="E2", userName="sean", givenName="Seán", familyName="O'Brien")
        zoe = state.users.find("zoe")
        state.events.append_many([
            Event(action="create", status="success", app="scim", person="zoe", person_id=zoe.id,
                  changes={"displayName": [None, "Zoë Ångström"]}, time="2026-10-01T09:00:00Z"),
            Event(action="update", status="failure", app="ad", person="zoe", person_id=zoe.id,
                  error='Rejected: "title" too long, see\nline 2', time="2026-11-20T09:00:00Z"),
            Event(action="delete", status="success", app="scim", person="gone", person_id="old-id",
                  time="2026-11-21T09:00:00Z"),
        ])
        yield service


def query(svc: Service, **kw: object) -> list[tuple[str, str]]:
    events = reports.query(svc.store, ReportFilter(**kw))  # type: ignore[arg-type]
    return [(e.action, e.time[:10]) for e in events if e.app]


def test_a_person_is_matched_by_user_name_email_key_or_display_name(svc: Service) -> None:
    expected = [("update", "2026-11-20"), ("create", "2026-10-01")]
    for who in ("zoe", "ZOE@example.com", "e1", "zoë ångström"):
        assert query(svc, person=who) == expected, who


def test_a_person_no_longer_in_the_state_is_found_by_the_name_in_the_report(svc: Service) -> None:
    assert query(svc, person="Gone") == [("delete", "2026-11-21")]
    assert query(svc, person="nobody") == []


def test_filters_by_application_status_and_period(svc: Service) -> None:
    assert query(svc, app="scim") == [("delete", "2026-11-21"), ("create", "2026-10-01")]
    assert query(svc, status="failure") == [("update", "2026-11-20")]
    assert query(svc, start="2026-10-02", end="2026-11-20") == [("update", "2026-11-20")]
    assert query(svc, person="zoe", app="scim", start="2026-09-01", end="2026-10-31") == [("create", "2026-10-01")]
    assert query(svc, since="2026-11-21", start="2026-11-01") == [("delete", "2026-11-21")]  # the later one wins


def test_a_bad_status_or_an_inverted_period_is_rejected(svc: Service) -> None:
    with pytest.raises(ValidationError, match="status: 'ok' must be one of"):
        reports.query(svc.store, ReportFilter(status="ok"))
    with pytest.raises(ValidationError, match="is after --to"):
        reports.query(svc.store, ReportFilter(start="2026-11-02", end="2026-11-01"))


def test_csv_and_json_exports_hold_the_same_records(svc: Service) -> None:
    events = reports.query(svc.store, ReportFilter())
    as_json = orjson.loads(reports.to_json(events))
    as_csv = list(csv.DictReader(io.StringIO(reports.to_csv(events))))
    assert len(as_json) == len(as_csv) == 5  # two local user_create events and three target events
    for j, c in zip(as_json, as_csv):
        assert list(j) == list(c) == list(reports.EXPORT_FIELDS)
        raw = c.pop("changes")
        assert (orjson.loads(raw) if raw else {}) == j.pop("changes")
        assert c == {k: str(v) for k, v in j.items()}
    failure = next(j for j in orjson.loads(reports.to_json(events)) if j["status"] == "failure")
    assert failure["error"] == 'Rejected: "title" too long, see\nline 2' and failure["operator"] == ""
    create = next(j for j in as_json if j["action"] == "user_create" and j["person"] == "zoe")
    assert create["operator"] == "ops@10.0.0.1"


def test_describe_changes_reads_as_before_and_after() -> None:
    assert reports.describe_changes({"title": ["", "Boss"], "emails": [None, ["a@x.io"]]}) == (
        "title: '' → 'Boss'; emails: None → ['a@x.io']")


@pytest.fixture
def departed(svc: Service) -> Service:
    """Zoë renamed, then deleted; her accounts deactivated by a sync after the deletion."""
    svc.add_user(employeeId="E3", userName="zoey", givenName="Zoey", familyName="Park", email="zoey@example.com")
    zoe = svc.store.users.find("zoe")
    svc.edit_user("zoe", userName="zoe.a", email="zoe.a@example.com")
    svc.delete_user("zoe.a", confirm=True)
    svc.store.events.append_many([Event(action="deactivate", status="success", app="scim", person="zoe.a",
                                        person_id=zoe.id, time="2026-11-22T09:00:00Z")])
    return svc


def actions(svc: Service, **kw: object) -> list[str]:
    return [e.action for e in reports.query(svc.store, ReportFilter(**kw))]  # type: ignore[arg-type]


@pytest.mark.parametrize("who", ["zoe", "zoe.a", "ZOE@example.com", "zoe.a@example.com", "E1", "Zoë  Ångström"])
def test_a_deleted_person_is_found_exactly_by_any_identifier_they_ever_had(departed: Service, who: str) -> None:
    found = actions(departed, person=who)
    assert found[:3] == ["deactivate", "user_delete", "user_update"] and "update" in found and "create" in found
    assert "user_create" in found and len(found) == 6  # Zoey's records are not hers


def test_exact_is_exact_and_search_is_partial(departed: Service) -> None:
    assert actions(departed, person="zo") == [] and actions(departed, person="e") == []
    assert actions(departed, person="zoey") == ["user_create"]
    both = actions(departed, search="zo")
    assert both.count("user_create") == 2 and "deactivate" in both
    assert actions(departed, search="ångst")[0] == "deactivate"  # part of a deleted person's name
    assert actions(departed, search="zoë ång") == actions(departed, search="ångst")  # every word, any order
    assert actions(departed, search="e3") == ["user_create"]  # part of a key
    assert actions(departed, search="gon") == ["delete"]  # a label only the report knows
    assert actions(departed, search="nobody") == []


def test_user_and_search_together_are_refused(svc: Service) -> None:
    with pytest.raises(ValidationError, match="cannot be combined") as err:
        reports.query(svc.store, ReportFilter(person="zoe", search="zo"))
    assert "--search" in err.value.hint


def test_a_person_still_here_is_found_by_a_user_name_they_no_longer_have(svc: Service) -> None:
    svc.edit_user("sean", userName="sean.ob")
    assert actions(svc, person="sean") == ["user_update", "user_create"] == actions(svc, person="sean.ob")
