"""Configuring an inbound source from the command line: endpoints, test & save, mapping, preview, import."""
from __future__ import annotations

import json

import pytest

from console.cli import main
from console.store import Store


@pytest.fixture
def home(tmp_path, bb_app):
    home = tmp_path / "home"
    with Store.open(home) as store:
        store.applications.put(bb_app)
    return str(home)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_test_and_save_lists_the_first_page_fields_and_a_joined_endpoint_feeds_the_mapping(home, capsys):
    code, out, _ = run(capsys, "endpoints", "test", "bb", "Bitbucket users endpoint", "--home", home, "--json")
    assert code == 0 and {"user.account_id", "user.display_name", "user.nickname"} <= set(json.loads(out))
    code, _, _ = run(capsys, "endpoints", "set", "bb", "roles", "--url", "{base_url}/workspaces/{workspace}/permissions",
                     "--joined", "--home", home)
    assert code == 0
    code, out, _ = run(capsys, "endpoints", "list", "bb", "--home", home, "--json")
    assert [e["name"] for e in json.loads(out)] == ["Bitbucket users endpoint", "Bitbucket permissions endpoint", "roles"]  # the preset stays
    assert run(capsys, "endpoints", "test", "bb", "roles", "--home", home)[0] == 0
    code, out, err = run(capsys, "mapping", "set", "bb", "--endpoint", "Bitbucket users endpoint", "--endpoint", "roles",
                         "--map", "sAMAccountName={user.display_name|first|initial|lower}{user.display_name|last|lower}",
                         "--map", "role=permission", "--home", home)
    assert code == 0, err
    code, out, _ = run(capsys, "mapping", "preview", "bb", "--home", home, "--json")
    records = json.loads(out)
    assert code == 0 and records and all(r["values"]["role"] in ("owner", "member", "collaborator") for r in records)
    assert all(len(r["values"]["sAMAccountName"]) <= 20 for r in records)
    code, out, _ = run(capsys, "import", "bitbucket", "bb", "--home", home, "--json")
    assert code == 0 and json.loads(out)["counts"]["joiners"] == len(records)
    with Store.open(home, readonly=True) as store:
        assert {u.attributes.get("role") for u in store.users} <= {"owner", "member", "collaborator"}


def test_bad_endpoint_and_mapping_configuration_is_refused_with_what_to_fix(home, capsys):
    code, _, err = run(capsys, "endpoints", "set", "bb", "x", "--url", "{base_url}/{nope}", "--home", home)
    assert code == 2 and "unknown macro {nope}" in err and "{workspace}" in err
    code, _, err = run(capsys, "endpoints", "set", "bb", "y", "--home", home)
    assert code == 2 and "needs a URL" in err and "--url" in err
    assert run(capsys, "endpoints", "test", "bb", "Bitbucket users endpoint", "--home", home)[0] == 0
    code, _, err = run(capsys, "mapping", "set", "bb", "--primary-key", "user.missing", "--home", home)
    assert code == 2 and "user.missing" in err
    code, out, err = run(capsys, "mapping", "set", "bb", "--map", "sAMAccountName={user.nickname}@corp", "--home", home)
    assert code == 0
    code, out, _ = run(capsys, "mapping", "preview", "bb", "--home", home)
    assert code == 1 and "INVALID" in out  # @ is not allowed in a logon name


def test_adding_the_first_endpoint_keeps_the_preconfigured_members_endpoint(home, capsys):
    code, _, _ = run(capsys, "endpoints", "set", "bb", "roles", "--url", "{base_url}/workspaces/{workspace}/permissions",
                     "--joined", "--home", home)
    code, out, _ = run(capsys, "endpoints", "list", "bb", "--home", home, "--json")
    assert code == 0 and [e["name"] for e in json.loads(out)] == ["Bitbucket users endpoint", "Bitbucket permissions endpoint", "roles"]


def test_an_empty_first_page_warns_and_a_full_one_does_not(home, capsys):
    code, _, err = run(capsys, "endpoints", "test", "bb", "Bitbucket users endpoint", "--home", home)
    assert code == 0 and "warning" not in err
    code, _, _ = run(capsys, "endpoints", "set", "bb", "nobody", "--url", "{base_url}/workspaces/{workspace}/permissions",
                     "--param", 'q=permission="nobody"', "--joined", "--home", home)
    assert code == 0
    code, out, err = run(capsys, "endpoints", "test", "bb", "nobody", "--home", home)
    assert code == 0 and "nobody: 0 fields on the first page (saved)" in out
    assert "warning: the first page had no records: nothing to map yet" in err


def test_a_changed_default_mapping_is_no_longer_titled_the_default_one(home, capsys):
    code, out, _ = run(capsys, "mapping", "show", "bb", "--home", home)
    assert out.startswith("Bitbucket default mapping")
    assert run(capsys, "endpoints", "test", "bb", "Bitbucket users endpoint", "--home", home)[0] == 0
    code, _, err = run(capsys, "mapping", "set", "bb", "--map", "title={user.nickname}", "--home", home)
    assert code == 0, err
    code, out, _ = run(capsys, "mapping", "show", "bb", "--home", home)
    assert out.startswith("bb mapping (") and "changed from the default mapping" in out and "default mapping (" not in out
    code, _, err = run(capsys, "mapping", "set", "bb", "--name", "HR-style names", "--map", "title={user.display_name}",
                       "--home", home)
    assert code == 0, err
    assert run(capsys, "mapping", "show", "bb", "--home", home)[1].startswith("HR-style names (")
