"""The headless CLI end to end: `python -m console …` in a subprocess on a temporary home (CLI.md's contract)."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from console.eventlog import EventLog
from console.models import Application, Event, utcnow
from console.service import Service
from console.store import Store
from tests.plugins.core import ROOT, CliRunner, child_env

PEOPLE = [  # employee id, userName, given, family, e-mail
    ("E1", "zoe", "Zoë", "Ångström", "zoe@example.com"),
    ("E2", "sean", "Seán", "O'Brien", "sean@example.ie"),
    ("E3", "li", "小龙", "李", "li@example.cn"),
    ("E4", "maria", "María", "Ñúñez-Ibáñez", "maria@example.es"),
]


def add_people(run_cli: CliRunner) -> None:
    for key, name, given, family, email in PEOPLE:
        run_cli.ok("users", "add", "--employee-id", key, "--user-name", name, "--given-name", given,
                   "--family-name", family, "--email", email)


def run_without(module: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a build where `module` is missing (as if its file were not there)."""
    code = (f"import sys; sys.modules[{module!r}] = None; from console.cli import main; "
            "raise SystemExit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, "--home", str(home), *args], cwd=ROOT,
                          env=child_env(SCIM_TOKEN="set-in-this-test"),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, encoding="utf-8", timeout=60)


def insert_app(home: Path, name: str = "Atlassian", kind: str = "atlassian") -> None:
    with Store.open(home) as store:
        store.applications.add(Application(name=name, kind=kind, settings={"base_url": "https://scim.example.com"},
                                           secrets={"token": "env:SCIM_TOKEN"}))


# ---- --home and IDCONSOLE_HOME --------------------------------------------------------------------
def test_home_may_come_from_the_environment_or_either_side_of_the_command(run_cli: CliRunner,
                                                                          state_home: Path) -> None:
    add_people(run_cli)
    via_env = json.loads(run_cli.ok("users", "list", "--json").stdout)
    before = json.loads(run_cli.ok("--home", str(state_home), "users", "list", "--json", env_home=False).stdout)
    after = json.loads(run_cli.ok("users", "list", "--json", "--home", str(state_home), env_home=False).stdout)
    assert [u["userName"] for u in via_env] == ["zoe", "sean", "li", "maria"]
    assert via_env == before == after


def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "console", "--version"], cwd=ROOT, env=child_env(),
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("idconsole ")


def test_the_headless_command_line_alone_says_where_the_console_is(run_cli: CliRunner) -> None:
    """`python -m console` is the CLI without the console (nothing under console/ imports it): no command is a clear
    refusal naming the command that starts it, never a traceback."""
    out = run_cli()
    assert out.returncode == 2 and "this command line has no console" in out.stderr and "idconsole" in out.stderr
    assert "Traceback" not in out.stderr


# ---- people ---------------------------------------------------------------------------------------
def test_unicode_names_round_trip_exactly_through_the_cli_and_the_state(run_cli: CliRunner, state_home: Path) -> None:
    add_people(run_cli)
    for key, name, given, family, email in PEOPLE:
        shown = json.loads(run_cli.ok("users", "show", email.upper(), "--json").stdout)
        assert (shown["employeeId"], shown["givenName"], shown["familyName"]) == (key, given, family)
        assert shown["displayName"] == f"{given} {family}" and shown["emails"] == [email]
    listed = json.loads(run_cli.ok("users", "list", "--json").stdout)
    assert [(u["givenName"], u["familyName"]) for u in listed] == [(p[2], p[3]) for p in PEOPLE]
    with Store.open(state_home, readonly=True) as store:
        assert store.users.find("li").displayName == "小龙 李"
    table = run_cli.ok("users", "list").stdout
    assert "Ñúñez-Ibáñez" in table and "Seán O'Brien" in table


def test_list_filter_matches_every_word(run_cli: CliRunner) -> None:
    add_people(run_cli)
    found = json.loads(run_cli.ok("users", "list", "--filter", "ÅNGSTRÖM zoe", "--json").stdout)
    assert [u["userName"] for u in found] == ["zoe"]


def test_edit_changes_fields_and_refuses_bad_values(run_cli: CliRunner) -> None:
    add_people(run_cli)
    run_cli.ok("users", "edit", "zoe", "--title", "Directrice", "--department", "Ventes", "--manager", "sean")
    shown = json.loads(run_cli.ok("users", "show", "E1", "--json").stdout)
    assert (shown["title"], shown["department"], shown["manager"]) == ("Directrice", "Ventes", "E2")
    bad = run_cli("users", "edit", "zoe", "--email", "not-an-address")
    assert bad.returncode == 2 and "email: 'not-an-address' is not a valid e-mail address" in bad.stderr
    taken = run_cli("users", "edit", "zoe", "--email", "SEAN@example.ie")
    assert taken.returncode == 2 and "is already used by sean" in taken.stderr
    assert json.loads(run_cli.ok("users", "show", "zoe", "--json").stdout)["emails"] == ["zoe@example.com"]
    run_cli.ok("users", "edit", "zoe", "--status", "leaver")
    assert json.loads(run_cli.ok("users", "show", "zoe", "--json").stdout)["status"] == "leaver"


def test_adding_a_duplicate_or_an_invalid_person_exits_2_naming_the_field(run_cli: CliRunner) -> None:
    add_people(run_cli)
    dup = run_cli("users", "add", "--employee-id", "e1", "--user-name", "new", "--given-name", "N",
                  "--family-name", "N")
    assert dup.returncode == 2 and "employeeId: 'e1' is already used by zoe" in dup.stderr
    bad = run_cli("users", "add", "--employee-id", "E9", "--user-name", "has space", "--given-name", "N",
                  "--family-name", "N")
    assert bad.returncode == 2 and "userName: 'has space'" in bad.stderr
    missing = run_cli("users", "add", "--employee-id", "E9")
    assert missing.returncode == 2 and "required" in missing.stderr
    assert len(json.loads(run_cli.ok("users", "list", "--json").stdout)) == 4


def test_show_of_an_unknown_person_exits_2_and_says_what_to_do(run_cli: CliRunner) -> None:
    out = run_cli("users", "show", "nobody")
    assert out.returncode == 2 and "no person 'nobody'" in out.stderr and "what to do:" in out.stderr


def test_delete_needs_yes_without_a_terminal_and_then_deletes(run_cli: CliRunner) -> None:
    add_people(run_cli)
    run_cli.ok("groups", "create", "Sales")
    run_cli.ok("groups", "add-member", "Sales", "zoe", "sean")
    refused = run_cli("users", "delete", "zoe")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert run_cli("users", "show", "zoe").returncode == 0
    run_cli.ok("users", "delete", "zoe", "--yes")
    assert run_cli("users", "show", "zoe").returncode == 2
    [sales] = json.loads(run_cli.ok("groups", "list", "--json").stdout)
    assert sales["members"] == ["sean"]  # and out of their groups


def test_import_reports_bad_rows_by_line_and_exits_1(run_cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("employeeId,userName,givenName,familyName,email\nE1,zoe,Zoë,Å,zoe@example.com\n"
                    "E2,sean,Seán,O,bad@\n", encoding="utf-8")
    dry = run_cli("users", "import", str(path), "--dry-run")
    assert dry.returncode == 1 and "would be written" in dry.stdout
    assert json.loads(run_cli.ok("users", "list", "--json").stdout) == []
    out = run_cli("users", "import", str(path), "--json")
    assert out.returncode == 1
    result = json.loads(out.stdout)
    assert result["created"] == 1 and [e["line"] for e in result["errors"]] == [3]
    assert [u["userName"] for u in json.loads(run_cli.ok("users", "list", "--json").stdout)] == ["zoe"]


# ---- groups -----------------------------------------------------------------------------------------
def test_groups_create_add_and_remove_members_and_delete(run_cli: CliRunner) -> None:
    add_people(run_cli)
    run_cli.ok("groups", "create", "Équipe Ventes", "--description", "sales team")
    assert run_cli("groups", "create", "équipe ventes").returncode == 2  # names are unique, case-insensitively
    run_cli.ok("groups", "add-member", "équipe ventes", "zoe", "li@example.cn", "E4")
    unknown = run_cli("groups", "add-member", "Équipe Ventes", "sean", "nobody")
    assert unknown.returncode == 2 and "nobody" in unknown.stderr
    run_cli.ok("groups", "remove-member", "Équipe Ventes", "E3")
    [group] = json.loads(run_cli.ok("groups", "list", "--json").stdout)
    assert group["name"] == "Équipe Ventes" and group["members"] == ["zoe", "maria"]  # all-or-nothing: no sean
    assert run_cli("groups", "delete", "Équipe Ventes").returncode == 2
    run_cli.ok("groups", "delete", "Équipe Ventes", "--yes")
    assert json.loads(run_cli.ok("groups", "list", "--json").stdout) == []


# ---- applications ---------------------------------------------------------------------------------------
def test_apps_list_show_and_set_on_an_application_in_the_state(run_cli: CliRunner, state_home: Path) -> None:
    insert_app(state_home)
    [listed] = json.loads(run_cli.ok("apps", "list", "--json").stdout)
    assert (listed["name"], listed["kind"]) == ("Atlassian", "atlassian")
    assert listed["secrets"] == {"token": "env:SCIM_TOKEN"}
    run_cli.ok("apps", "set", "atlassian", "deprovision=delete", "features.delete=true", "threshold_count=5",
               "secrets.token=env:OTHER_TOKEN")
    shown = json.loads(run_cli.ok("apps", "show", "Atlassian", "--json").stdout)
    assert (shown["deprovision"], shown["features"]["delete"], shown["threshold_count"]) == ("delete", True, 5)
    assert shown["secrets"] == {"token": "env:OTHER_TOKEN"}
    text = run_cli.ok("apps", "show", "Atlassian").stdout
    assert "<env:OTHER_TOKEN>" in text and "delete=on" in text
    for pair, says in (("deprovision=nuke", "must be one of deactivate, delete"),
                       ("features.fly=true", "is not a feature"), ("threshold_count=-1", "must not be negative"),
                       ("secrets.token=s3cr3t-value", "is not a secret reference"), ("nokey", "is not KEY=VALUE")):
        out = run_cli("apps", "set", "Atlassian", pair)
        assert out.returncode == 2 and says in out.stderr, (pair, out.stderr)
    assert run_cli("apps", "show", "nothing").returncode == 2


def test_adding_an_application_whose_connector_is_missing_exits_2_with_a_clear_message(state_home: Path) -> None:
    out = run_without("console.connectors.atlassian", state_home, "apps", "add", "atlassian", "Corp",
                      "--base-url", "https://scim.example.com", "--token-env", "SCIM_TOKEN")
    assert out.returncode == 2 and "the atlassian connector is not available in this build" in out.stderr
    with Store.open(state_home, readonly=True) as store:
        assert store.applications.all() == []


@pytest.mark.parametrize("kind", ["atlassian", "ad", "graph", "bitbucket"])
def test_apps_add_of_each_kind_stores_settings_and_only_secret_references(run_cli: CliRunner, state_home: Path,
                                                                         kind: str) -> None:
    flags = {"atlassian": ["--base-url", "https://api.atlassian.com/scim/directory/d1", "--token-env", "T"],
             "ad": ["--url", "ldaps://dc:636", "--bind-user", "u", "--password-env", "P", "--base-dn", "DC=x",
                    "--users-ou", "OU=u,DC=x"],
             "graph": ["--tenant-id", "t", "--client-id", "c", "--secret-env", "S"],
             "bitbucket": ["--workspace", "w", "--client-id", "c", "--secret-env", "S"]}[kind]
    secrets_set = {"T": "t0ken", "P": "passw0rd", "S": "s3cret"}  # a reference to an unset variable is refused
    run_cli.ok("apps", "add", kind, "X", *flags, **secrets_set)
    [app] = json.loads(run_cli.ok("apps", "list", "--json").stdout)
    assert app["kind"] == kind and all(ref.startswith("env:") for ref in app["secrets"].values())
    again = run_cli("apps", "add", kind, "x", *flags, **secrets_set)
    assert again.returncode == 2 and "already the name" in again.stderr


# ---- policies --------------------------------------------------------------------------------------------
def test_policies_create_enable_disable_and_delete(run_cli: CliRunner, state_home: Path) -> None:
    insert_app(state_home)
    add_people(run_cli)
    run_cli.ok("groups", "create", "Sales")
    run_cli.ok("groups", "add-member", "Sales", "zoe", "sean")
    run_cli.ok("users", "edit", "sean", "--status", "leaver")
    created = run_cli.ok("policies", "create", "Sales to Atlassian", "--app", "atlassian", "--group", "sales")
    assert "1 people in scope" in created.stdout  # leavers are out of scope
    [policy] = json.loads(run_cli.ok("policies", "list", "--json").stdout)
    assert (policy["app"], policy["groups"], policy["enabled"], policy["in_scope"]) == ("Atlassian", ["Sales"], True, 1)
    run_cli.ok("policies", "disable", "sales to atlassian")
    assert json.loads(run_cli.ok("policies", "list", "--json").stdout)[0]["enabled"] is False
    run_cli.ok("policies", "enable", "Sales to Atlassian")
    assert json.loads(run_cli.ok("policies", "list", "--json").stdout)[0]["enabled"] is True
    in_use = run_cli("groups", "delete", "Sales", "--yes")
    assert in_use.returncode == 2 and "used by policies" in in_use.stderr
    for bad in (["--app", "nothing", "--group", "Sales"], ["--app", "Atlassian", "--group", "nothing"]):
        assert run_cli("policies", "create", "Other", *bad).returncode == 2
    assert run_cli("policies", "delete", "Sales to Atlassian").returncode == 2
    run_cli.ok("policies", "delete", "Sales to Atlassian", "--yes")
    assert json.loads(run_cli.ok("policies", "list", "--json").stdout) == []


# ---- the report ------------------------------------------------------------------------------------------
@pytest.fixture
def reported(run_cli: CliRunner, state_home: Path) -> CliRunner:
    """Four people, two applications, and events of the past (fixed dates) and of today."""
    with Store.open(state_home) as store:  # in-process: the same service calls as the CLI, faster
        svc = Service(store, operator="ops")
        for key, name, given, family, email in PEOPLE:
            svc.add_user(employeeId=key, userName=name, givenName=given, familyName=family, email=email)
        zoe, li = store.users.find("zoe"), store.users.find("li")
    insert_app(state_home)
    insert_app(state_home, "Corp AD", "ad")
    log = EventLog(state_home / "events")
    log.append_many([
        Event(action="create", status="success", app="Atlassian", person="zoe", person_id=zoe.id,
              changes={"displayName": [None, "Zoë Ångström"]}, time="2026-01-05T10:00:00Z", run="r1"),
        Event(action="create", status="failure", app="Corp AD", person="zoe", person_id=zoe.id,
              error="Rejected: 53 unwilling to perform", time="2026-01-20T10:00:00Z", run="r1"),
        Event(action="update", status="success", app="Corp AD", person="li", person_id=li.id,
              changes={"title": ["", "工程师"], "department": ["a,b", 'say "hi"']}, time="2026-02-01T00:00:00Z"),
        Event(action="deactivate", status="skipped", app="Atlassian", person="zoe", person_id=zoe.id,
              message="feature off", time=utcnow()),
    ])
    log.close()
    return run_cli


def records(out: subprocess.CompletedProcess[str], fmt: str) -> list[dict]:
    if fmt == "json":
        return json.loads(out.stdout)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    for row in rows:
        row["changes"] = orjson.loads(row["changes"]) if row["changes"] else {}
    return rows


@pytest.mark.parametrize("filters", [
    [],
    ["--user", "ZOE@example.com"],
    ["--user", "Zoë Ångström", "--app", "corp ad"],
    ["--app", "Corp AD", "--from", "2026-01-01", "--to", "2026-01-31"],
    ["--from", "2026-01-20", "--to", "2026-02-01"],
    ["--since", "7d"],
    ["--action", "create", "--status", "failure"],
    ["--run", "r1"],
    ["--limit", "2"],
])
def test_report_filters_carry_the_same_records_in_csv_and_json(reported: CliRunner, filters: list[str]) -> None:
    as_json = records(reported.ok("report", *filters, "--format", "json"), "json")
    as_csv = records(reported.ok("report", *filters, "--format", "csv"), "csv")
    assert as_json == records(reported.ok("report", *filters, "--json"), "json")
    assert len(as_json) == len(as_csv)
    for j, c in zip(as_json, as_csv):
        assert {k: str(v) for k, v in j.items() if k != "changes"} == {k: v for k, v in c.items() if k != "changes"}
        assert j["changes"] == c["changes"]
        assert {"time", "run", "operator", "app", "person", "action", "status", "changes", "error"} <= set(j)
    table = reported.ok("report", *filters).stdout
    assert table.rstrip().endswith(f"{len(as_json)} event" + ("" if len(as_json) == 1 else "s"))


def test_report_filters_select_the_expected_events(reported: CliRunner) -> None:
    def actions(*filters: str) -> list[tuple[str, str]]:
        return [(r["time"][:10], r["action"]) for r in json.loads(reported.ok("report", *filters, "--json").stdout)
                if not r["action"].startswith("user_")]

    assert actions("--user", "zoe", "--app", "Atlassian")[1:] == [("2026-01-05", "create")]
    assert actions("--app", "Corp AD", "--from", "2026-01-01", "--to", "2026-01-31") == [("2026-01-20", "create")]
    assert actions("--from", "2026-01-20", "--to", "2026-02-01") == [("2026-02-01", "update"), ("2026-01-20", "create")]
    assert [a for _, a in actions("--since", "24h")] == ["deactivate"]
    assert actions("--status", "failure") == [("2026-01-20", "create")]
    [update] = json.loads(reported.ok("report", "--user", "li", "--action", "update", "--json").stdout)
    assert update["changes"] == {"title": ["", "工程师"], "department": ["a,b", 'say "hi"']}


@pytest.mark.parametrize(("args", "says"), [
    (["--since", "last tuesday"], "since: 'last tuesday' is not a time span or a date"),
    (["--from", "2026-13-01"], "from: '2026-13-01' is not a time span or a date"),
    (["--to", "soon"], "to: 'soon' is not a time span or a date"),
    (["--from", "2026-02-01", "--to", "2026-01-01"], "is after --to"),
    (["--status", "bogus"], "status: 'bogus' must be one of success, failure, skipped"),
    (["--app", "nothing"], "no application 'nothing'"),
])
def test_report_bad_input_exits_2_with_a_clear_message(reported: CliRunner, args: list[str], says: str) -> None:
    out = reported("report", *args)
    assert out.returncode == 2 and says in out.stderr and out.stdout == ""


def test_report_export_to_a_file(reported: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    out = reported.ok("report", "--format", "csv", "--output", str(target))
    assert out.stdout == "" and "events written to" in out.stderr
    assert target.read_text(encoding="utf-8").startswith("time,run,operator,app,person,action,status,changes,error")


# ---- state trouble --------------------------------------------------------------------------------------
def test_a_damaged_state_file_exits_2_and_is_left_alone(run_cli: CliRunner, state_home: Path) -> None:
    (state_home / "state.json").write_bytes(b'{"meta": {"1": {"schema"')
    out = run_cli("users", "add", "--employee-id", "E1", "--user-name", "zoe", "--given-name", "Z",
                  "--family-name", "A")
    assert out.returncode == 2 and "is damaged" in out.stderr and "what to do:" in out.stderr
    assert (state_home / "state.json").read_bytes() == b'{"meta": {"1": {"schema"'


def test_read_only_mode_refuses_changes(run_cli: CliRunner) -> None:
    add_people(run_cli)
    out = run_cli("--readonly", "users", "edit", "zoe", "--title", "x")
    assert out.returncode == 2 and "read-only" in out.stderr


def test_a_home_in_the_middle_of_a_long_write_still_answers_reads_and_refuses_writes_naming_the_holder(run_cli: CliRunner,
                                                                                state_home: Path) -> None:
    add_people(run_cli)
    with Store.open(state_home) as store, store.writing():  # this test process is in the middle of a write
        assert len(json.loads(run_cli.ok("users", "list", "--json").stdout)) == 4
        out = run_cli("groups", "create", "Sales")  # waits 5 s for the lock, then gives up
        assert out.returncode == 2 and f"pid {os.getpid()}" in out.stderr and "try again" in out.stderr
    assert json.loads(run_cli.ok("groups", "list", "--json").stdout) == []


def test_report_user_is_exact_and_search_is_partial(reported: CliRunner) -> None:
    def people(*filters: str) -> set[str]:
        return {r["person"] for r in json.loads(reported.ok("report", *filters, "--json").stdout)}

    assert people("--user", "zo") == set() and people("--user", "zoe") == {"zoe"}
    assert people("--search", "ZO") == {"zoe"}
    assert people("--search", "ångs") == {"zoe"}  # part of the display name
    both = reported("report", "--user", "zoe", "--search", "zo")
    assert both.returncode == 2 and "cannot be combined with --user" in both.stderr


def test_a_command_s_result_is_never_formatted_by_asyncio() -> None:
    """Python 3.11's `asyncio.run` formats its main task, result included, while restoring the SIGINT handler: a plan
    of 100k people took seconds to repr for nothing. `run_async` hands asyncio a result it cannot look into."""
    from console.cli.output import run_async

    shown: list[str] = []

    class Big:
        def __repr__(self) -> str:
            shown.append("repr")
            return "Big()"

    async def command() -> Big:
        return Big()

    assert isinstance(run_async(command()), Big)
    assert shown == []


@pytest.mark.parametrize("args", [("users", "list"), ("users", "list", "--json"), ("users", "show", "maria", "--json"),
                                  ("report",), ("report", "--json"), ("report", "--format", "csv")])
def test_output_sent_to_a_full_disk_says_so_and_what_to_do(run_cli: CliRunner, args: tuple[str, ...]) -> None:
    """`idconsole … > file` on a full disk: the output is named and the free space suggested (it said "cannot use:
    No space left on device" and "check the path", with no path given); a reader leaving (`| head`) stays silent."""
    add_people(run_cli)
    with open("/dev/full", "w") as full:  # Linux's always-full device
        proc = subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, env=child_env(run_cli.home),
                              stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE, text=True,
                              encoding="utf-8", timeout=60)
    assert proc.returncode == 2
    assert "error: cannot write the command's output" in proc.stderr and "No space left on device" in proc.stderr
    assert "make room there or send it elsewhere" in proc.stderr and "Traceback" not in proc.stderr
    head = subprocess.run(f"{sys.executable} -m console {' '.join(args)} | head -c 1", shell=True, cwd=ROOT,
                          env=child_env(run_cli.home), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          encoding="utf-8", timeout=60)
    assert head.returncode == 0 and len(head.stdout) == 1 and head.stderr == ""


@pytest.mark.parametrize("args", [("users", "edit", "maria", "--title", "Lead"), ("users", "list")])
def test_a_change_whose_output_cannot_be_written_says_it_was_saved(run_cli: CliRunner, args: tuple[str, ...]) -> None:
    """`idconsole users edit … > full-disk`: the change is made and recorded before its output is written; the error
    says so (it said only that the output could not be written, as if nothing had been done); a read says nothing."""
    add_people(run_cli)
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, env=child_env(run_cli.home),
                              stdin=subprocess.DEVNULL, stdout=full, stderr=subprocess.PIPE, text=True,
                              encoding="utf-8", timeout=60)
    assert proc.returncode == 2 and "error: cannot write the command's output" in proc.stderr
    saved = "the change itself was saved (idconsole report shows it)" in proc.stderr
    assert saved == (args[1] == "edit")
    if saved:
        assert json.loads(run_cli.ok("users", "show", "maria", "--json").stdout)["title"] == "Lead"


@pytest.mark.parametrize("args", [("users", "list", "--filter"), ("report", "--search"), ("report", "--user"),
                                  ("users", "show"), ("users", "edit", "zoe", "--title"), ("groups", "create")])
def test_arguments_that_are_not_utf8_are_refused_with_what_to_do(run_cli: CliRunner, args: tuple[str, ...]) -> None:
    """Bytes from a Latin-1 terminal or script (Python keeps them as lone surrogates): "unexpected error:
    UnicodeEncodeError" (or TypeError) before; now what was wrong and what to do, and nothing changed."""
    add_people(run_cli)
    before = (run_cli.home / "state.json").read_bytes()
    proc = subprocess.run([sys.executable.encode(), b"-m", b"console", *(a.encode() for a in args), b"Mu\xf1oz"],
                          cwd=ROOT, env=child_env(run_cli.home), stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=60)
    err = proc.stderr.decode("utf-8")
    assert proc.returncode == 2, err
    assert "'Mu\\xf1oz' is not UTF-8 text" in err and "UTF-8 terminal" in err and "unexpected" not in err
    assert (run_cli.home / "state.json").read_bytes() == before


@pytest.mark.parametrize("emit", ["emit_json", "emit_json_list"])
def test_json_written_past_the_control_filter_still_says_the_output_failed(emit: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON skips the control filter's pass (it holds no control), not its error: a write that fails at once (an
    output larger than the buffer, on a full disk) is the command's output failing, not "cannot use: …"."""
    import errno
    import io

    from console.cli import output
    from console.errors import IdConsoleError

    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sys, "stdout", output.VisibleText(Full(), output=True))
    with pytest.raises(IdConsoleError, match="cannot write the command's output"):
        getattr(output, emit)([{"userName": "zoe"}])
