"""What a CLI process imports (issue 16): a read-only command loads only what it uses, so that it starts fast at
100k people. The network parts (asyncio, httpx, the connectors), the sync engine, the inbound run, the importer,
the automation cycle and notifications are imported on first use, by the commands that need them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from console.models import Application, Group, Link, Policy
from console.store import Store
from tests.plugins.core import ROOT, child_env, person

# Modules a read-only command must not load (a prefix covers the package and its submodules).
HEAVY = ("httpx", "asyncio", "pydantic", "rich.progress", "smtplib", "console.connectors.atlassian",
         "console.connectors.ad", "console.connectors.graph", "console.connectors.bitbucket",
         "console.automation.cycle", "console.automation.notify", "console.inbound.run", "console.importer",
         "console.sync.engine", "console.sync.apply", "console.sync.plan")

PROBE = """
import json, sys
from console.cli import main
code = main(sys.argv[2:])
loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in json.loads(sys.argv[1])))
sys.stderr.write("\\nLOADED " + json.dumps({"code": code, "loaded": loaded}) + "\\n")
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small home with people, a group, a target application, its policy and a link (what `users show` shows)."""
    path = tmp_path_factory.mktemp("imports") / "home"
    with Store.open(path) as store:
        people = [person(n, department="Engineering") for n in range(1, 4)]
        store.users.put_many(people)
        store.groups.add(Group(name="engineering", members=[p.id for p in people]))
        store.applications.add(Application(name="atlassian", kind="atlassian", secrets={"token": "env:UNSET"},
                                           settings={"base_url": "http://127.0.0.1:9/directory"}))
        store.policies.add(Policy(name="atlassian", app="atlassian", groups=["engineering"]))
        store.links.put_many([Link(app="atlassian", local_id=people[0].id, remote_id="a-1",
                                   remote_name=people[0].userName, state="active")])
        store.flush()
    return path


def loaded_by(home: Path, *args: str, watched: tuple[str, ...] = HEAVY) -> list[str]:
    """The `watched` modules `console.cli.main(args)` loaded in a fresh interpreter (the command must succeed)."""
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(watched), "--home", str(home), *args], cwd=ROOT,
                         env=child_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, encoding="utf-8",
                         timeout=120)
    lines = [line for line in out.stderr.splitlines() if line.startswith("LOADED ")]
    assert out.returncode == 0 and lines, out.stderr
    result = json.loads(lines[-1].removeprefix("LOADED "))
    assert result["code"] == 0, out.stdout + out.stderr
    return list(result["loaded"])


@pytest.mark.parametrize("args", [
    ("users", "show", "E2"),
    ("users", "show", "E1", "--json"),
    ("users", "list", "--filter", "E2"),
    ("users", "list", "--json"),
    ("groups", "list"),
    ("policies", "list"),
    ("apps", "list"),
    ("report", "--limit", "5"),
    ("automate", "status", "--json"),
], ids=" ".join)
def test_a_read_only_command_imports_only_what_it_uses(home: Path, args: tuple[str, ...]) -> None:
    assert loaded_by(home, *args) == []


def test_the_probe_sees_what_a_plan_loads(home: Path) -> None:
    """`plan` needs the engine and asyncio: the probe reports them (so an empty list above means something)."""
    loaded = loaded_by(home, "plan", "--json")
    assert {"asyncio", "console.sync.engine", "console.sync.apply"} <= set(loaded)


def test_a_plan_without_reconcile_imports_no_http_client(home: Path) -> None:
    """A plan without --reconcile never contacts a target: its connectors are built (their settings checked, their
    attributes computed) but their HTTP clients are not, so httpx and what it pulls in (rich, click) never load."""
    loaded = loaded_by(home, "plan", "--json")
    assert "console.connectors.atlassian.connector" in loaded  # the connector is there: its client is not
    assert [m for m in loaded if m == "httpx" or m.startswith("httpx.")] == []


def test_a_plan_of_a_graph_application_imports_no_graph_sdk(tmp_path: Path) -> None:
    """The same for Microsoft Graph: the connector computes the attributes without msgraph-sdk, kiota or
    azure-core, which it imports at its first request (they cost a plan ~0.3 s of imports)."""
    home = tmp_path / "home"
    with Store.open(home) as store:
        people = [person(n, department="Engineering") for n in range(1, 4)]
        store.users.put_many(people)
        store.groups.add(Group(name="engineering", members=[p.id for p in people]))
        store.applications.add(Application(name="m365", kind="graph", secrets={"client_secret": "env:UNSET"},
                                           settings={"tenant_id": "t", "client_id": "c",
                                                     "base_url": "http://127.0.0.1:9/v1.0",
                                                     "authority": "http://127.0.0.1:9"}))
        store.policies.add(Policy(name="m365", app="m365", groups=["engineering"]))
        store.flush()
    loaded = loaded_by(home, "plan", "--json", watched=("console.connectors.graph", "msgraph", "kiota_abstractions",
                                                         "kiota_http", "azure", "httpx"))
    assert "console.connectors.graph.connector" in loaded  # the connector is there: its SDK is not
    assert [m for m in loaded if not m.startswith("console.")] == []
