"""Fixtures for the core's tests: a fresh home, an open store, and the CLI run as a real subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.models import User
from console.store import Store

ROOT = Path(__file__).resolve().parents[2]  # the checkout under test (not an installed copy of `console`)


def child_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    """Environment for a child Python: this checkout first on sys.path, no colours, the given home."""
    env = {k: v for k, v in os.environ.items() if k != "IDCONSOLE_HOME"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["NO_COLOR"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    if home is not None:
        env["IDCONSOLE_HOME"] = str(home)
    env.update(extra)
    return env


def person(n: int | str, **fields: object) -> User:
    """A valid person E<n> / user<n> / user<n>@example.com, with any field overridden."""
    doc: dict[str, object] = {"employeeId": f"E{n}", "userName": f"user{n}", "givenName": "Given",
                              "familyName": f"F{n}", "emails": [f"user{n}@example.com"]}
    doc.update(fields)
    return User(**doc)  # type: ignore[arg-type]


@pytest.fixture
def state_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def state(state_home: Path) -> Iterator[Store]:
    store = Store.open(state_home)
    try:
        yield store
    finally:
        store.close()


class CliRunner:
    """Runs `python -m console ARGS` in a subprocess with IDCONSOLE_HOME (or not) and no terminal on stdin."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __call__(self, *args: str, env_home: bool = True, timeout: float = 60,
                 **env: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "console", *args], cwd=ROOT, env=child_env(self.home if env_home else None, **env),
            stdin=subprocess.DEVNULL, capture_output=True, text=True, encoding="utf-8", timeout=timeout,
        )
        return proc

    def ok(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        proc = self(*args, **kw)  # type: ignore[arg-type]
        assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc


@pytest.fixture
def run_cli(state_home: Path) -> CliRunner:
    return CliRunner(state_home)
