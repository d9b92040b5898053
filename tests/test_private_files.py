"""Files are private whatever the umask; the operator is the OS account; secret references, file: included."""
from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console import export, files, secrets
from console.errors import BadInput, SecretMissing
from console.models import Event
from console.operator import current_operator, origin
from console.service import Service
from console.store import Store
from tests.plugins.core import ROOT, child_env, person


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_home_state_lock_report_and_exports_are_private_under_umask_022(tmp_path: Path, loose_umask: None) -> None:
    home = tmp_path / "home"
    with Store.open(home) as store, store.writing():
        store.users.add(person(1))
        store.events.append(Event(action="user_create", status="success"))
    export.write_export(str(tmp_path / "export.csv"), "csv", [], home=home)
    assert mode(home) == 0o700 and mode(home / "events") == 0o700
    for path in [home / "state.json", home / "lock", *(home / "events").glob("*.jsonl"), tmp_path / "export.csv"]:
        assert mode(path) == 0o600, path


def test_an_existing_loose_home_is_tightened_when_opened(tmp_path: Path, loose_umask: None) -> None:
    home = tmp_path / "home"
    Store.open(home).close()
    for path, loose in ((home, 0o755), (home / "state.json", 0o644)):
        os.chmod(path, loose)
    Store.open(home).close()
    assert mode(home) == 0o700 and mode(home / "state.json") == 0o600


def test_a_home_shared_through_its_group_is_group_readable_and_never_world_readable(tmp_path: Path,
                                                                                   loose_umask: None) -> None:
    primary = pwd.getpwuid(os.geteuid()).pw_gid
    other = next((g.gr_gid for g in grp.getgrall() if g.gr_gid != primary), None)
    if other is None:
        pytest.skip("no second group on this system")
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, -1, other)  # as root in CI; an operator does this with chgrp + chmod g+s (README)
    os.chmod(home, 0o2770)
    with Store.open(home) as store, store.writing():
        store.users.add(person(1))
        store.events.append(Event(action="user_create", status="success"))
    assert files.private_modes(home) == (0o2770, 0o660)
    for path in [home / "state.json", home / "lock", *(home / "events").glob("*.jsonl")]:
        assert mode(path) == 0o660 and path.stat().st_gid == other, path
    assert mode(home / "events") & 0o007 == 0 and mode(home / "events") & stat.S_ISGID


def test_the_operator_is_the_os_account_whatever_user_and_logname_say(state_home: Path) -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from console.operator import current_operator; "
            "print(current_operator())")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True,
                         env=child_env(USER="mallory", LOGNAME="mallory", SSH_CONNECTION="203.0.113.7 52000 10.0.0.1 22"))
    account = pwd.getpwuid(os.geteuid()).pw_name
    assert out.stdout.strip() == f"{account} via ssh 203.0.113.7 (as reported by sshd)"
    assert "mallory" not in out.stdout


def test_the_ssh_client_address_comes_from_sshd_variables_and_garbage_is_ignored() -> None:
    assert origin({"SSH_CLIENT": "2001:db8::7 52000 22"}) == "ssh 2001:db8::7 (as reported by sshd)"
    assert origin({"SSH_CONNECTION": "alice'; DROP 1 2 3"}) == ""
    assert current_operator({}) == pwd.getpwuid(os.geteuid()).pw_name


def test_events_record_the_os_account(state_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "mallory")
    monkeypatch.setenv("LOGNAME", "mallory")
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    monkeypatch.delenv("SSH_CLIENT", raising=False)
    with Store.open(state_home) as store:
        Service(store).add_user(employeeId="E1", userName="zoe", givenName="Zoë", familyName="A")
        [event] = store.events.query()
    assert event.operator == pwd.getpwuid(os.geteuid()).pw_name


# ---- secret references ----------------------------------------------------------------------------------
def test_a_file_secret_is_read_with_one_trailing_newline_stripped(tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "token"
    files.write_private(path, b"s3cr3t-value\n\n")
    assert secrets.resolve(f"file:{path}") == "s3cr3t-value\n"


@pytest.mark.parametrize("loose", [0o644, 0o604, 0o602, 0o620])
def test_a_file_secret_others_may_read_or_change_is_refused_naming_the_fix(tmp_path: Path, loose: int) -> None:
    path = tmp_path / "token"
    path.write_text("s3cr3t-value\n")
    os.chmod(path, loose)
    with pytest.raises(SecretMissing) as err:
        secrets.resolve(f"file:{path}")
    assert str(path) in err.value.title and err.value.hint == f"chmod 600 {path}"
    assert "s3cr3t-value" not in str(err.value)


def test_write_file_secret_stores_it_privately_and_returns_a_reference_that_resolves(tmp_path: Path,
                                                                                 loose_umask: None) -> None:
    home = tmp_path / "home"
    Store.open(home).close()
    ref = secrets.write_file_secret(home, "corp.token", "s3cr3t-value")
    assert ref == f"file:{home / 'secrets' / 'corp.token'}"
    assert mode(home / "secrets") == 0o700 and mode(home / "secrets" / "corp.token") == 0o600
    assert secrets.resolve(ref) == "s3cr3t-value"


def test_a_pasted_token_is_refused_as_a_variable_name_without_repeating_it() -> None:
    token = "ATATT3xFfGF0Zq8Lr2vN9kTb4Yw7"
    for value in (token, "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "abc.def-ghi"):
        with pytest.raises(BadInput) as err:
            secrets.env_ref(value)
        assert value not in str(err.value) and "--token-env SCIM_TOKEN" in err.value.hint
    with pytest.raises(BadInput) as err:
        secrets.check_ref(f"env:{token}x-y")
    assert token not in str(err.value)


def test_a_reference_to_an_unset_variable_is_refused_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDCONSOLE_TEST_TOKEN", raising=False)
    with pytest.raises(SecretMissing) as err:
        secrets.env_ref("IDCONSOLE_TEST_TOKEN")
    assert "IDCONSOLE_TEST_TOKEN is not set" in err.value.title and "export IDCONSOLE_TEST_TOKEN=" in err.value.hint
    monkeypatch.setenv("IDCONSOLE_TEST_TOKEN", "x")
    assert secrets.env_ref("IDCONSOLE_TEST_TOKEN") == "env:IDCONSOLE_TEST_TOKEN"
