"""The core never imports Textual: every module under console/ is imported in a fresh interpreter."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.plugins.core import ROOT, child_env

PROBE = """
import importlib, json, pkgutil, sys
import console
names = ["console"]
for info in pkgutil.walk_packages(console.__path__, "console."):
    if info.name.rsplit(".", 1)[-1] == "__main__":
        continue  # running it starts the console
    importlib.import_module(info.name)
    names.append(info.name)
print(json.dumps({"modules": names, "file": console.__file__,
                  "textual": sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))}))
"""


def test_importing_every_console_module_does_not_import_textual() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["file"].startswith(str(ROOT))  # this checkout, not an installed copy
    assert {"console.store", "console.eventlog", "console.cli", "console.service", "console.reports"} <= set(
        result["modules"])
    assert result["textual"] == []


def test_the_probe_would_notice_textual() -> None:
    code = PROBE.replace("import console\n", "import console, textual\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                         timeout=120)
    assert json.loads(out.stdout)["textual"][:1] == ["textual"]


def test_every_core_module_is_under_the_layering_contract() -> None:
    """A new module of the core is covered by the import-linter contract that keeps front ends out of it."""
    import pkgutil
    import tomllib

    import console

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = config["tool"]["importlinter"]["contracts"][0]
    fronts = {"console.cli", "console.demo", "console.sandbox", "console.__main__"}
    core = {f"console.{info.name}" for info in pkgutil.iter_modules(console.__path__)} - fronts
    assert core <= set(contract["source_modules"]), sorted(core - set(contract["source_modules"]))
    assert fronts - {"console.__main__"} <= set(contract["forbidden_modules"])
