"""Whole commands against hostile targets, as an operator runs them (the CLI in a subprocess): they end within
their deadline with a message, memory stays bounded whatever the target sends, and no traceback is shown."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from console.service import Service
from tests.hostile.target import HostileServer
from tests.plugins.core import ROOT, CliRunner, child_env

SHORT = ["timeout=1", "connect_timeout=1", "operation_deadline=3", "max_attempts=1"]


FAKE_KEY = "t0ken-value-123456"  # what the tests give as the key: never a real one


def prepare_sync(home: Path, url: str) -> None:
    with Service.open(home) as svc:
        svc.add_user(employeeId="E1", userName="zoe", givenName="Zoe", familyName="Ng", emails=["zoe@example.com"])
        svc.create_group("staff")
        svc.change_members("staff", ["zoe"], add=True)
        svc.add_app("atlassian", "jira", {"base_url": f"{url}/scim/directory/d1"}, {"token": "env:HOSTILE_TOKEN"})
        svc.set_app("jira", dict(s.split("=") for s in SHORT))
        svc.create_policy("jira-staff", "jira", ["staff"])


def test_apps_test_against_a_silent_target_ends_within_its_deadline_with_a_message(run_cli: CliRunner) -> None:
    with HostileServer("silent") as target:
        prepare_sync(run_cli.home, target.url)
        result = run_cli("apps", "test", "jira", HOSTILE_TOKEN=FAKE_KEY, timeout=60)
    assert result.returncode == 1 and "deadline" in result.stdout, result
    assert "Traceback" not in result.stderr


def test_apps_test_against_a_trickling_target_ends_within_its_deadline(run_cli: CliRunner) -> None:
    with HostileServer("trickle") as target:
        prepare_sync(run_cli.home, target.url)
        result = run_cli("apps", "test", "jira", HOSTILE_TOKEN=FAKE_KEY, timeout=60)
    assert result.returncode == 1 and "deadline" in result.stdout, result
    assert "Traceback" not in result.stderr


def test_sync_against_a_silent_target_ends_within_the_operation_deadline_as_a_failure(run_cli: CliRunner) -> None:
    with HostileServer("silent") as target:
        prepare_sync(run_cli.home, target.url)
        result = run_cli("sync", "--yes", HOSTILE_TOKEN=FAKE_KEY, timeout=90)
    assert result.returncode != 0, result
    assert "deadline" in (result.stdout + result.stderr)
    assert "Traceback" not in result.stderr


def test_sync_against_a_target_of_the_wrong_shape_is_never_a_success(run_cli: CliRunner) -> None:
    with HostileServer("wrong_types") as target:
        prepare_sync(run_cli.home, target.url)
        result = run_cli("sync", "--yes", HOSTILE_TOKEN=FAKE_KEY, timeout=90)
    assert result.returncode != 0, result
    assert "totalResults is 'lots'" in result.stdout + result.stderr, result
    assert "Traceback" not in result.stderr
    with Service.open(run_cli.home, readonly=True) as svc:
        assert [run.status for run in svc.store.runs] and all(run.status != "success" for run in svc.store.runs)


MEMORY_PROBE = textwrap.dedent("""
    import asyncio, os, sys
    from console import connectors
    from console.models import Application
    from tests.hostile.target import HostileServer

    os.environ["HOSTILE_TOKEN"] = "probe-key"
    with HostileServer("flood", flood_bytes=1536 * 1024 * 1024) as target:  # 1.5 GB, chunked, from a generator
        app = Application(name="jira", kind="atlassian", secrets={"token": "env:HOSTILE_TOKEN"},
                          settings={"base_url": target.url + "/scim/directory/d1", "operation_deadline": 120})
        report = asyncio.run(connectors.check_connection(app))
    print(report.ok, report.message)
    # this process's own peak (VmHWM: its memory since exec; ru_maxrss keeps what the forking parent had)
    print("maxrss_kb", next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")))
""")


def test_a_one_and_a_half_gigabyte_answer_keeps_the_process_under_300_mb() -> None:
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE], cwd=ROOT, env=child_env(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()[-2:]
    assert first.startswith("False") and "more than 50 MB" in first, result.stdout
    assert int(second.split()[1]) < 300 * 1024, second
