"""Loads every module of tests/plugins/ as a pytest plugin: fixtures that start peers live there, one file each."""
from __future__ import annotations

from pathlib import Path

pytest_plugins = sorted(  # vendor_documents first: the peers' plugins import it
    (f"tests.plugins.{path.stem}" for path in (Path(__file__).parent / "plugins").glob("*.py")
     if path.stem != "__init__"), key=lambda name: (not name.endswith(".vendor_documents"), name))
