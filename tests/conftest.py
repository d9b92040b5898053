"""Loads every module of tests/plugins/ as a pytest plugin: fixtures that start peers live there, one file each."""
from __future__ import annotations

from pathlib import Path

pytest_plugins = sorted(
    f"tests.plugins.{path.stem}" for path in (Path(__file__).parent / "plugins").glob("*.py") if path.stem != "__init__"
)
