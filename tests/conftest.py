"""Loads every module of tests/plugins/ as a pytest plugin: fixtures that start peers live there, one file each."""
from __future__ import annotations

from pathlib import Path

pytest_plugins = sorted(  # vendor_documents first: the peers' plugins import it
    (f"tests.plugins.{path.stem}" for path in (Path(__file__).parent / "plugins").glob("*.py")
     if path.stem != "__init__"), key=lambda name: (not name.endswith(".vendor_documents"), name))

# Property tests explore new examples on every local run; CI replays a fixed derivation (the same examples on
# every run), so a landing never depends on which random examples came up. A failure found locally becomes a test.
import os  # noqa: E402

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
