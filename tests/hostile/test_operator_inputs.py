"""Every row of the adversarial pass (issue 15), as an operator meets it: the CLI in a subprocess, a clear message,
never a traceback, nothing leaked, nothing lost."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import orjson
import pytest

from console.errors import StateError
from console.models import Event
from console.service import Service
from console.store import Store
from tests.plugins.core import CliRunner

ESC_TITLE = "\x1b]2;pwned\x07"


FAKE_KEY = "value-of-the-token-123"  # what the tests give as the key: never a real one


def ok_clean(result, code: int = 0) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr


def no_controls(text: str) -> None:
    assert not any(c in text for c in ("\x1b", "\x07", "\x9b", "\x9d", "\u202e")), repr(text)


def add_person(run_cli: CliRunner) -> None:
    ok_clean(run_cli("users", "add", "--employee-id", "E1", "--user-name", "zoe", "--given-name", "Zoe",
                     "--family-name", "Ng", "--email", "zoe@example.com"))


# ---- terminal escapes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [f"ops{ESC_TITLE}", "ops\x9b31m", "ops\x9d0;x\x9c", "ops\u202egnp.exe", "two\nlines"])
def test_a_typed_name_with_controls_or_bidi_is_refused_at_entry(run_cli: CliRunner, name: str) -> None:
    for args in (("groups", "create", name), ("users", "add", "--employee-id", "E9", "--user-name", "x",
                                              "--given-name", name, "--family-name", "Ng")):
        result = run_cli(*args)
        ok_clean(result, 2)
        assert "contains control" in result.stderr
        no_controls(result.stderr + result.stdout)


def test_text_from_a_target_is_shown_neutralised_by_every_cli_output(run_cli: CliRunner) -> None:
    with Service.open(run_cli.home) as svc:
        svc.store.events.append(Event(action="create", status="failure", app="jira", person=f"zoe{ESC_TITLE}",
                                      error=f"target says {ESC_TITLE} \x9b2J \u202eevil"))
    table = run_cli("report")
    ok_clean(table)
    no_controls(table.stdout)
    assert "␛]2;pwned␇" in table.stdout and "<U+202E>" in table.stdout
    as_json = run_cli("report", "--json")
    no_controls(as_json.stdout)
    assert json.loads(as_json.stdout)[0]["person"] == f"zoe{ESC_TITLE}"  # the JSON value itself is exact


def test_a_person_from_a_source_keeps_a_bidi_name_and_typed_ones_are_refused() -> None:
    from console.errors import ValidationError
    from console.models import User
    from console.validation import validate_user

    source = validate_user(User(employeeId="", userName="ali", displayName="Ali \u202eredla"), "bitbucketAccountId",
                           from_source=True)
    assert source.displayName == "Ali \u202eredla"
    with pytest.raises(ValidationError, match="control or bidi"):
        validate_user(User(employeeId="E1", userName="ali", displayName="Ali \u202eredla"))


def test_the_console_shows_controls_instead_of_sending_them(state_home: Path) -> None:
    from rich.segment import Segment
    from textual.color import Color

    from screens.app import IdConsoleApp
    from screens.visible import SHOW_CONTROLS

    line = [Segment("name: "), Segment(f"zoe{ESC_TITLE}\u202e!"), Segment("   |")]
    shown = SHOW_CONTROLS.apply(line, Color(0, 0, 0))
    text = "".join(s.text for s in shown)
    no_controls(text)
    assert text.startswith("name: zoe␛]2;pwned␇<U+")  # shown; the line keeps its width (its end is cut)
    assert Segment.get_line_length(shown) == Segment.get_line_length(line)
    with Service.open(state_home, readonly=True) as svc:
        assert SHOW_CONTROLS in IdConsoleApp(svc, readonly=True).get_line_filters()


# ---- CSV ------------------------------------------------------------------------------------------------------
def test_report_csv_neutralises_formulas(run_cli: CliRunner) -> None:
    ok_clean(run_cli("groups", "create", "=cmd|' /C calc'!A0"))
    for name in ("+1+1", "@A1", "-2+3"):
        ok_clean(run_cli("users", "add", "--employee-id", f"E{len(name)}{ord(name[0])}", f"--user-name={name}",
                         "--given-name", "A", "--family-name", "B"))
    csv_text = run_cli("report", "--format", "csv").stdout
    assert "'=cmd|' /C calc'!A0" in csv_text
    rows = list(csv.reader(io.StringIO(csv_text)))
    assert len(rows) == 5
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row


# ---- TLS by default --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ("atlassian", "jira", "--base-url", "http://scim.corp.example/scim/directory/d1", "--token-env", "JIRA_TOKEN"),
    ("atlassian", "jira", "--base-url", "https://api.atlassian.com/scim/directory/d1", "--client-id", "c",
     "--client-secret-env", "JIRA_TOKEN", "--token-url", "http://auth.corp.example/oauth/token"),
    ("bitbucket", "bb", "--workspace", "acme", "--client-id", "c", "--secret-env", "JIRA_TOKEN",
     "--base-url", "http://bitbucket.corp.example/2.0"),
    ("bitbucket", "bb", "--workspace", "acme", "--client-id", "c", "--secret-env", "JIRA_TOKEN",
     "--token-url", "http://bitbucket.corp.example/token"),
    ("graph", "m365", "--tenant-id", "t", "--client-id", "c", "--secret-env", "JIRA_TOKEN",
     "--base-url", "http://graph.corp.example/v1.0"),
    ("graph", "m365", "--tenant-id", "t", "--client-id", "c", "--secret-env", "JIRA_TOKEN",
     "--authority", "http://login.corp.example"),
    ("ad", "corp", "--url", "ldap://dc1.corp.example:389", "--bind-user", "svc", "--password-env", "JIRA_TOKEN",
     "--base-dn", "DC=corp,DC=example", "--users-ou", "OU=Staff"),
])
def test_a_secret_is_never_configured_to_travel_in_clear(run_cli: CliRunner, args: tuple[str, ...]) -> None:
    result = run_cli("apps", "add", *args, JIRA_TOKEN=FAKE_KEY)
    ok_clean(result, 2)
    assert "without TLS" in result.stderr and "allow_insecure" in result.stderr


def test_loopback_and_start_tls_are_accepted(run_cli: CliRunner) -> None:
    ok_clean(run_cli("apps", "add", "atlassian", "jira", "--base-url", "http://127.0.0.1:9/scim/directory/d1",
                     "--token-env", "JIRA_TOKEN", JIRA_TOKEN=FAKE_KEY))
    ok_clean(run_cli("apps", "add", "ad", "corp", "--url", "ldap://dc1.corp.example:389", "--start-tls",
                     "--bind-user", "svc", "--password-env", "JIRA_TOKEN", "--base-dn", "DC=corp,DC=example",
                     "--users-ou", "OU=Staff", JIRA_TOKEN=FAKE_KEY))


def test_allowing_clear_text_is_explicit_recorded_and_warned_on_every_test(run_cli: CliRunner) -> None:
    ok_clean(run_cli("apps", "add", "atlassian", "jira", "--base-url", "https://127.0.0.1:9/scim/directory/d1",
                     "--token-env", "JIRA_TOKEN", JIRA_TOKEN=FAKE_KEY))
    # An IPv4-mapped address counts as not loopback for the rule, yet the packets stay on this machine (port 9:
    # nobody listens): no test ever sends anything beyond 127.0.0.0/8.
    clear = "base_url=http://[::ffff:127.0.0.1]:9/scim/directory/d1"
    ok_clean(run_cli("apps", "set", "jira", clear), 2)
    result = run_cli("apps", "set", "jira", "allow_insecure=true", clear)
    ok_clean(result)
    assert "warning:" in result.stderr and "INSECURE" in result.stderr
    events = json.loads(run_cli("report", "--json", "--action", "app_update").stdout)
    assert events[0]["changes"]["settings"][1]["allow_insecure"] is True
    ok_clean(run_cli("apps", "set", "jira", "connect_timeout=1", "operation_deadline=2", "max_attempts=1"))
    test = run_cli("apps", "test", "jira", JIRA_TOKEN=FAKE_KEY, timeout=90)
    assert "INSECURE" in test.stdout + test.stderr and "Traceback" not in test.stderr
    # … and on every run: the sync says it on stderr and in its result
    add_person(run_cli)
    ok_clean(run_cli("groups", "create", "staff"))
    ok_clean(run_cli("groups", "add-member", "staff", "zoe"))
    ok_clean(run_cli("policies", "create", "jira-staff", "--app", "jira", "--group", "staff"))
    sync = run_cli("sync", "--yes", "--json", JIRA_TOKEN=FAKE_KEY, timeout=90)
    ok_clean(sync, 1)  # nobody listens: the run fails, clearly
    assert "warning:" in sync.stderr and "INSECURE" in sync.stderr
    assert any("INSECURE" in note for note in json.loads(sync.stdout)["warnings"])


# ---- exports ----------------------------------------------------------------------------------------------------
def test_exports_never_touch_the_home_never_follow_links_never_overwrite_without_force(run_cli: CliRunner,
                                                                                         tmp_path: Path) -> None:
    add_person(run_cli)
    state = run_cli.home / "state.json"
    before = state.read_bytes()
    for extra in ((), ("--readonly",)):
        result = run_cli("report", "--format", "json", "-o", str(state), *extra)
        ok_clean(result, 2)
        assert "inside the idconsole home" in result.stderr
        result = run_cli("report", "--format", "csv", "-o", str(run_cli.home / "new.csv"), "--force", *extra)
        ok_clean(result, 2)
    assert state.read_bytes() == before and not (run_cli.home / "new.csv").exists()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.csv"
    link.symlink_to(victim)
    ok_clean(run_cli("report", "--format", "csv", "-o", str(link), "--force"), 2)
    assert victim.read_text() == "keep me"
    ok_clean(run_cli("report", "--format", "csv", "-o", str(victim)), 2)
    assert victim.read_text() == "keep me"
    ok_clean(run_cli("report", "--format", "csv", "-o", str(tmp_path / "new.csv"), "--readonly"))
    assert (tmp_path / "new.csv").stat().st_mode & 0o777 == 0o600
    ok_clean(run_cli("report", "--format", "csv", "-o", str(victim), "--force"))
    assert victim.read_text().startswith("time,")


def test_the_console_export_follows_the_same_rules(state_home: Path, tmp_path: Path) -> None:
    from console.errors import BadInput
    from console.reports import ReportFilter

    with Service.open(state_home, readonly=True) as svc:
        for path in (str(state_home / "state.json"), str(state_home / "x.csv")):
            with pytest.raises(BadInput, match="inside the idconsole home"):
                svc.export_report(ReportFilter(), "csv", path, force=True)
        (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
        with pytest.raises(BadInput, match="symbolic link"):
            svc.export_report(ReportFilter(), "csv", str(tmp_path / "link"), force=True)
        assert not (tmp_path / "elsewhere").exists()


# ---- files the importer is given ----------------------------------------------------------------------------------
HEADER = "employeeId,userName,givenName,familyName\n"


@pytest.mark.parametrize(("make", "says"), [
    (lambda d: (d / "p.csv").write_text(HEADER + 'E1,zoe,"' + "x" * 140_000 + '",Ng\n') and d / "p.csv",
     "line 2: field larger than field limit"),
    (lambda d: (d / "dir.csv").mkdir() or d / "dir.csv", "is a directory"),
    (lambda d: Path("/dev/zero"), "is a device"),
    (lambda d: os.mkfifo(d / "fifo.csv") or d / "fifo.csv", "is a FIFO"),
    (lambda d: (d / "p.csv").write_text("employeeId,userName,email,email\nE1,zoe,a@x.example,b@x.example\n")
     and d / "p.csv", "repeats column(s) email"),
])
def test_a_file_the_importer_cannot_take_is_refused_with_where_and_why(run_cli: CliRunner, tmp_path: Path,
                                                                         make, says: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    result = run_cli("users", "import", str(path), timeout=30)  # a FIFO must not block
    ok_clean(result, 2)
    assert says in result.stderr, result.stderr


@pytest.mark.parametrize(("record", "says"), [
    ({"employeeId": "E1", "userName": "zoe", "emial": "z@example.com"}, "emial"),
    ({"employeeId": "E1", "userName": "zoe", "emails": "z@example.com"}, "must be a list of addresses"),
    ({"employeeId": "E1", "userName": "zoe", "givenName": True}, "givenName"),
    ({"employeeId": "E1", "userName": "zoe", "title": {"a": 1}}, "title"),
])
def test_json_fields_that_would_be_lost_or_changed_are_refused_by_line(run_cli: CliRunner, tmp_path: Path,
                                                                        record: dict, says: str) -> None:  # type: ignore[type-arg]
    path = tmp_path / "people.json"
    path.write_bytes(orjson.dumps([record]))
    result = run_cli("users", "import", str(path))
    ok_clean(result, 1)
    assert "line 1" in result.stderr and says in result.stderr, result.stderr
    assert json.loads(run_cli("users", "list", "--json").stdout) == []


# ---- the state and its home -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", [b'{"users": {"1": 5}, "meta": {"1": {"schema": 1}}}',
                                     b'{"users": {"1": {"employeeId": ["x"]}}, "meta": {"1": {"schema": 99}}}',
                                     b'[1, 2]', b'{"users": 5}'])
def test_a_state_file_of_the_wrong_shape_is_a_clear_error(run_cli: CliRunner, content: bytes) -> None:
    add_person(run_cli)
    (run_cli.home / "state.json").write_bytes(content)
    for args in (("users", "list"), ("users", "add", "--employee-id", "E2", "--user-name", "li", "--given-name", "L",
                                     "--family-name", "W")):
        result = run_cli(*args)
        ok_clean(result, 2)
        assert "state" in result.stderr
    assert (run_cli.home / "state.json").read_bytes() == content  # left as it is


def test_a_home_that_is_a_file_or_unusable_state_and_lock_files_are_clear_errors(run_cli: CliRunner,
                                                                                  tmp_path: Path) -> None:
    home_file = tmp_path / "home-file"
    home_file.write_text("x")
    result = run_cli("--home", str(home_file), "users", "list", env_home=False)
    ok_clean(result, 2)
    assert "not a directory" in result.stderr
    for name in ("state.json", "lock"):
        home = tmp_path / f"bad-{name}"
        home.mkdir()
        (home / name).mkdir()  # a name that cannot be opened as a file (root ignores modes, so no chmod here)
        result = run_cli("--home", str(home), "users", "add", "--employee-id", "E2", "--user-name", "li",
                         "--given-name", "L", "--family-name", "W", env_home=False)
        ok_clean(result, 2)
        assert name in result.stderr


def test_an_unreadable_home_and_a_full_disk_are_clear_errors(state_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import console.storage as storage

    store = Store.open(state_home)
    from tests.plugins.core import person

    store.users.add(person(1))

    def full(*_args: object, **_kw: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "atomic_write", full)
    with pytest.raises(StateError, match="No space left on device"):
        store.flush()
    monkeypatch.undo()
    store.close()

    def refused(*_args: object, **_kw: object) -> None:
        raise PermissionError(13, "Permission denied", str(state_home / "state.json"))

    monkeypatch.setattr(Store, "__init__", refused)
    with pytest.raises(StateError, match="Permission denied"):
        Store.open(state_home)


# ---- the report and the settings ------------------------------------------------------------------------------------
def test_report_spans_and_limits_are_bounded(run_cli: CliRunner) -> None:
    add_person(run_cli)
    result = run_cli("report", "--since", "99999999d")
    ok_clean(result, 2)
    assert "since" in result.stderr
    assert json.loads(run_cli("report", "--json", "--limit", "0").stdout) == []
    ok_clean(run_cli("report", "--limit", "-1"), 2)


def test_a_malformed_event_line_is_skipped_and_counted(run_cli: CliRunner) -> None:
    add_person(run_cli)
    [month] = list((run_cli.home / "events").glob("*.jsonl"))
    with open(month, "ab") as fh:
        fh.write(b'{"time":"zzz"}\n{"action":"x","status":"success","changes":[1],"time":"2026-01-01T00:00:00Z"}\n'
                 b'{"action":"x","status":"success","person":5,"time":"2026-01-01T00:00:00Z"}\n[1]\nnot json\n')
    result = run_cli("report")
    ok_clean(result)
    assert "1 event\n" in result.stdout and "5 malformed" in result.stderr
    ok_clean(run_cli("report", "--format", "csv"))


def test_numbers_beyond_64_bits_and_pasted_tokens_are_refused(run_cli: CliRunner) -> None:
    ok_clean(run_cli("apps", "add", "atlassian", "jira", "--base-url", "https://127.0.0.1:9/scim/directory/d1",
                     "--token-env", "JIRA_TOKEN", JIRA_TOKEN=FAKE_KEY))
    result = run_cli("apps", "set", "jira", "threshold_count=100000000000000000000000")
    ok_clean(result, 2)
    assert "at most" in result.stderr
    pasted = run_cli("apps", "add", "atlassian", "j2", "--base-url", "https://127.0.0.1:9/scim/directory/d1",
                     "--token-env", "ATATT3xFfGF0a1b2c3d4e5f6g7h8i9j0")
    ok_clean(pasted, 2)
    assert "ATATT3xFfGF0a1b2c3d4e5f6g7h8i9j0" not in (run_cli.home / "state.json").read_text()
    ok_clean(run_cli("apps", "add", "atlassian", "j3", "--base-url", "https://127.0.0.1:9/scim/directory/d1",
                     "--token-env", "UNSET_VARIABLE_FOR_TEST"), 2)
