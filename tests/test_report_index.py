"""The report's person filter on a store opened through the state's index (`idconsole report` at any number of
people): the people it may mean are screened through the stored search lines and only they are loaded, and it finds
exactly who the person-by-person test finds on the whole state, renamed and deleted people included."""
from __future__ import annotations

from pathlib import Path

import pytest

from console import reports
from console.models import Application, Event, User
from console.reports import ReportFilter
from console.service import Service
from console.store import Store
from tests.test_report_people import PEOPLE, TEXTS, by_scan

FILLER = 200  # people no text below names: a screen that loaded everyone would load them too
RENAMED = ["zoe.a", "ZOE.A@example.com", "zoe", "zoe@example.com", "E1", "Zoë  Ångström", "Zoë Ångström-Berg",
           "sean", "sean.ob", "Seán O'Brien", "zoey", "E7"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """PEOPLE and fillers; then Zoë renamed and married (a new family name), then deleted; Seán renamed; Zoey added;
    events in two applications for each of them."""
    with Store.open(tmp_path) as store:
        store.users.put_many([User.from_doc(u.to_doc()) for u in PEOPLE])
        store.users.put_many([User(employeeId=f"F{i}", userName=f"filler{i}", givenName="Fill", familyName=f"Er{i}",
                                   displayName=f"Fill Er{i}", emails=[f"filler{i}@example.org"])
                              for i in range(FILLER)])
        store.applications.put_many([Application(name=name, kind="atlassian") for name in ("scim", "ad")])
        store.flush()
        svc = Service(store, operator="ops@10.0.0.1")
        svc.add_user(employeeId="E7", userName="sean", givenName="Seán", familyName="O'Brien")
        svc.add_user(employeeId="E8", userName="zoey", givenName="Zoey", familyName="Park", email="zoey@example.net")
        zoe = store.users.find("zoe")
        svc.edit_user("zoe", userName="zoe.a", email="zoe.a@example.com", familyName="Ångström-Berg",
                      displayName="Zoë Ångström-Berg")
        svc.edit_user("sean", userName="sean.ob")
        sean = store.users.find("sean.ob")
        store.events.append_many([
            Event(action="create", status="success", app=app, person=who.userName, person_id=who.id,
                  time=f"2026-11-{day:02d}T09:00:00Z")
            for day, who in enumerate([zoe, sean, store.users.find("zoey")], start=10) for app in ("scim", "ad")])
        svc.delete_user("zoe.a", confirm=True)
    return tmp_path


def test_the_person_filter_through_the_index_finds_who_the_whole_state_and_the_scan_find(home: Path) -> None:
    with Store.open(home, readonly=True) as partial, Store.open(home, readonly=True) as whole:
        assert partial.partial
        whole.users.all()
        for text in [*TEXTS, *RENAMED]:
            for is_partial in (False, True):
                got = reports.person_ids(partial, text, partial=is_partial)
                assert got == reports.person_ids(whole, text, partial=is_partial), (text, is_partial)
                scan = by_scan(whole, text, partial=is_partial)  # who is in the state; the report adds the gone
                assert got == scan if scan and not is_partial else got >= scan, (text, is_partial)
        assert partial.partial, "the report loaded every person"


@pytest.mark.parametrize("text", ["zoe.a", "E1", "annabelle smith", "Seán O'Brien", "zoey@example.net", "nobody"])
def test_a_narrow_person_filter_loads_only_the_people_it_may_mean(home: Path, text: str) -> None:
    with Store.open(home, readonly=True) as store:
        for is_partial in (False, True):
            reports.person_ids(store, text, partial=is_partial)
        assert store.partial and store.users.loaded() <= 2, store.users.loaded()


def test_the_report_is_the_same_through_the_index_and_on_the_whole_state(home: Path) -> None:
    with Service.open(home, readonly=True) as partial, Service.open(home, readonly=True) as whole:
        whole.store.users.all()
        for text in [*TEXTS, *RENAMED]:
            for flt in (ReportFilter(person=text), ReportFilter(search=text), ReportFilter(person=text, app="scim"),
                        ReportFilter(search=text, since="2026-11-11")):
                assert partial.report(flt) == whole.report(flt), flt
        assert partial.store.partial and not whole.store.partial


def test_a_renamed_and_a_deleted_person_are_found_through_the_index(home: Path) -> None:
    with Service.open(home, readonly=True) as svc:
        for who in ("zoe.a", "zoe@example.com", "zoë ångström", "Zoë Ångström-Berg"):
            found = svc.report(ReportFilter(person=who))
            assert {e.person for e in found} == {"zoe", "zoe.a"}, who  # Zoey's records are not hers
            assert sorted(e.action for e in found) == ["create", "create", "user_delete", "user_update"], who
        assert {e.action for e in svc.report(ReportFilter(person="sean"))} == {"create", "user_create", "user_update"}
        assert svc.report(ReportFilter(person="seán o'brien", app="ad"))[0].person == "sean.ob"
        assert svc.store.partial
