"""Loading people from files: bad rows by line, good rows loaded, all-or-nothing, idempotent re-imports."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from console.errors import BadInput
from console.importer import import_users
from console.store import Store

HEADER = "employeeId,userName,givenName,familyName,displayName,email,department,title,manager,status\n"


def write(path: Path, text: str, *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def snapshot(store: Store) -> tuple[bytes, list[dict], list[str]]:
    """What must not move when an import fails: the file, the people in memory, the report."""
    events = sorted(p.name + p.read_text(encoding="utf-8") for p in store.events.dir.glob("*.jsonl"))
    return (store.path.read_bytes(), sorted((u.to_doc() for u in store.users), key=lambda d: d["id"]), events)


@pytest.fixture
def people_csv(tmp_path: Path) -> Path:
    return write(tmp_path / "people.csv", HEADER + "\n".join([
        "E1,zoe,Zoë,Ångström,,zoe@example.com,Sales,Engineer,E2,active",
        "E2,sean,Seán,O'Brien,,sean@example.com,Sales,Manager,,active",
        "E3,li,小龙,李,李小龙,li@example.com,Engineering,,sean,",
        "E4,maria,María,Ñúñez-Ibáñez,,,Legal,,,leaver",
    ]) + "\n")


def test_good_rows_load_with_unicode_kept_and_an_event_each(state: Store, people_csv: Path) -> None:
    result = import_users(state, people_csv, operator="ops")
    assert (len(result.created), len(result.updated), result.errors) == (4, 0, [])
    zoe = state.users.find("zoe@example.com")
    assert (zoe.givenName, zoe.familyName, zoe.displayName, zoe.source) == ("Zoë", "Ångström", "Zoë Ångström",
                                                                            "file:people.csv")
    assert state.users.find("li").displayName == "李小龙"
    assert state.users.find("maria").status == "leaver" and state.users.find("maria").emails == []
    with Store.open(state.home, readonly=True) as again:  # flushed
        assert again.users.find("E4").familyName == "Ñúñez-Ibáñez"
    events = state.events.query(action="import_create")
    assert len(events) == 4 and {e.operator for e in events} == {"ops"}
    assert next(e for e in events if e.person == "zoe").changes["givenName"] == [None, "Zoë"]


def test_a_manager_given_later_in_the_file_by_any_identifier_resolves_to_the_primary_key(state: Store,
                                                                                           people_csv: Path) -> None:
    import_users(state, people_csv)
    assert state.users.find("zoe").manager == "E2"  # the key of a person defined on the next line
    assert state.users.find("li").manager == "E2"  # given as a userName


def test_an_unknown_manager_is_rejected_with_its_line(state: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", HEADER + "E1,zoe,Zoë,A,,,,,E99,\nE2,sean,Seán,B,,,,,,\n")
    result = import_users(state, path)
    assert [(e.line, e.field, e.value) for e in result.errors] == [(2, "manager", "E99")]
    assert "is not a known person" in str(result.errors[0])
    assert result.created == ["sean"] and state.users.find("zoe") is None


def test_every_bad_row_is_reported_by_line_with_its_reason_and_good_rows_still_load(state: Store,
                                                                                     tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", HEADER + "\n".join([
        "E1,zoe,Zoë,A,,zoe@example.com,,,,",  # 2 good
        "E2,,Seán,B,,,,,,",  # 3 no userName
        "E3,li,Li,C,,not-an-address,,,,",  # 4 bad e-mail
        "",  # 5 blank: skipped, but lines after it keep their numbers
        "E4,ZOE,X,D,,,,,,",  # 6 userName repeats line 2
        "E5,maria,María,E,,,,,,gone",  # 7 bad status
        '"E6","ana","Ana","multi',
        'line",,,,,,',  # 8-9 a line break inside a quoted field: reported at the line where the row starts
        "e1,other,O,F,,,,,,",  # 10 primary key repeats line 2
        "E7,kim,Kim,G,,,,,,,extra",  # 11 too many values
        "E8,ok,Ok,H,,,,,,",  # 12 good
    ]) + "\n")
    result = import_users(state, path)
    reasons = {e.line: (e.field, str(e)) for e in result.errors}
    assert sorted(reasons) == [3, 4, 6, 7, 8, 10, 11]
    assert reasons[3][0] == "userName" and "is required" in reasons[3][1]
    assert reasons[4] == ("email", "line 4: email 'not-an-address' is not a valid e-mail address")
    assert reasons[6][0] == "userName" and "repeats line 2" in reasons[6][1]
    assert reasons[7][0] == "status" and "must be one of active, leaver" in reasons[7][1]
    assert reasons[10][0] == "employeeId" and "repeats line 2" in reasons[10][1]
    assert reasons[8] == ("familyName", "line 8: familyName 'multi\\nline' contains control characters")
    assert "more values than the header" in reasons[11][1]
    assert sorted(result.created) == ["ok", "zoe"]


def test_a_byte_order_mark_is_handled(state: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "bom.csv", HEADER + "E1,zoe,Zoë,Ångström,,,,,,\n", bom=True)
    result = import_users(state, path)
    assert result.errors == [] and state.users.find("E1").givenName == "Zoë"


def test_json_lists_and_users_objects_load_and_bad_items_are_reported_by_position(state: Store,
                                                                                   tmp_path: Path) -> None:
    items = [
        {"employeeId": "E1", "userName": "zoe", "givenName": "Zoë", "emails": ["zoe@example.com", "z@example.org"]},
        {"employeeId": "E2", "userName": "sean", "email": "bad@"},
        "not an object",
        {"employeeId": 3, "userName": "li", "manager": "zoe@example.com"},
    ]
    path = tmp_path / "people.json"
    path.write_bytes(b"\xef\xbb\xbf" + orjson.dumps({"users": items}))
    result = import_users(state, path)
    assert [(e.line, e.field) for e in result.errors] == [(2, "email"), (3, "row")]
    assert state.users.find("z@example.org").userName == "zoe"
    assert state.users.find("3").manager == "E1"


@pytest.mark.parametrize(("name", "content", "says"), [
    ("p.csv", b"\xff\xfeE\x00", "is not UTF-8"),
    ("p.csv", b"userName,givenName\nzoe,Z\n", "lacks employeeId"),
    ("p.csv", b"employeeId,userName,shoeSize\nE1,zoe,42\n", "unknown column(s) shoeSize"),
    ("p.json", b"[{]", "is not valid JSON"),
    ("p.json", b'{"people": []}', "must hold a list of people"),
    ("p.xlsx", b"PK", "unsupported file type .xlsx"),
])
def test_a_file_that_cannot_be_read_is_one_clear_error(state: Store, tmp_path: Path, name: str, content: bytes,
                                                       says: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadInput, match=says.replace("(", r"\(").replace(")", r"\)")):
        import_users(state, path)
    assert len(state.users) == 0


def test_a_missing_file_is_a_clear_error(state: Store, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        import_users(state, tmp_path / "nope.csv")


def test_re_importing_the_same_file_changes_nothing(state: Store, people_csv: Path) -> None:
    import_users(state, people_csv)
    before = snapshot(state)
    result = import_users(state, people_csv)
    assert (result.created, result.updated, len(result.unchanged), result.errors) == ([], [], 4, [])
    assert snapshot(state) == before


def test_every_created_or_updated_person_has_one_record_naming_them(state: Store, people_csv: Path,
                                                                   tmp_path: Path) -> None:
    import_users(state, people_csv, run_id="r1")
    changed = write(tmp_path / "people.csv", people_csv.read_text(encoding="utf-8").replace(",Sales,", ",Legal,"))
    result = import_users(state, changed, run_id="r2")
    assert sorted(result.updated) == ["sean", "zoe"]
    created, updated = state.events.query(run="r1"), state.events.query(run="r2")
    assert sorted((e.action, e.person_id) for e in created) == sorted(("import_create", u.id) for u in state.users)
    assert sorted((e.person, e.changes["department"][1]) for e in updated) == [("sean", "Legal"), ("zoe", "Legal")]
    assert {e.action for e in updated} == {"import_update"} and all(e.time for e in created + updated)


def test_a_changed_row_updates_the_person_and_records_what_changed(state: Store, people_csv: Path,
                                                                   tmp_path: Path) -> None:
    import_users(state, people_csv)
    changed = write(tmp_path / "people.csv", people_csv.read_text(encoding="utf-8").replace(",Engineer,", ",Director,"))
    result = import_users(state, changed)
    assert (result.updated, len(result.unchanged)) == (["zoe"], 3)
    assert state.users.find("zoe").title == "Director"
    [event] = state.events.query(action="import_update")
    assert event.changes == {"title": ["Engineer", "Director"]}


def test_a_dry_run_changes_nothing(state: Store, people_csv: Path) -> None:
    before = snapshot(state)
    result = import_users(state, people_csv, dry_run=True)
    assert len(result.created) == 4 and result.dry_run
    assert snapshot(state) == before and len(state.users) == 0


def test_a_failure_half_way_leaves_the_state_exactly_as_before(state: Store, people_csv: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import_users(state, write(tmp_path / "first.csv", HEADER + "E9,first,First,One,,,,,,\n"))
    before = snapshot(state)
    real_flush = state.flush
    calls = []

    def flush_failing_once() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk full")
        real_flush()

    monkeypatch.setattr(state, "flush", flush_failing_once)
    with pytest.raises(BadInput, match="nothing was changed"):
        import_users(state, people_csv)
    assert snapshot(state) == before
    assert state.users.find("zoe") is None and state.users.find("first") is not None
    with Store.open(state.home, readonly=True) as again:
        assert sorted(u.userName for u in again.users) == ["first"]
    result = import_users(state, people_csv)  # the same import works once the fault is gone
    assert len(result.created) == 4 and len(state.users) == 5


def test_a_created_persons_record_holds_their_set_fields_only(state: Store, people_csv: Path) -> None:
    import_users(state, people_csv)
    maria = next(e for e in state.events.query(action="import_create") if e.person == "maria")
    person = state.users.find("maria")
    assert maria.changes == {k: [None, v] for k, v in person.to_doc().items()
                             if v not in ("", [], {}) and k not in ("id", "created", "updated")}
    assert maria.changes["source"] == [None, "file:people.csv"]  # as stored (it read "local" before issue 16)
    assert "emails" not in maria.changes and "attributes" not in maria.changes and "title" not in maria.changes
    assert maria.changes["status"] == [None, "leaver"] and maria.message == "from people.csv"
