"""screens/ stays a thin UI: no network or LDAP library, no TinyDB, no file writes at all (exports are the core's);
every .tcss rule sits under its screen's type selector."""
from __future__ import annotations

import ast
import re
from pathlib import Path

SCREENS = Path(__file__).resolve().parents[1] / "screens"
FORBIDDEN_MODULES = ("httpx", "ldap3", "msgraph", "azure", "tinydb", "socket", "urllib", "requests", "subprocess",
                     "console.connectors.atlassian", "console.connectors.ad", "console.connectors.graph",
                     "console.storage", "console.eventlog")
FILE_WRITERS = {"open", "write_text", "write_bytes", "unlink", "mkdir", "rmtree", "touch", "chmod"}


def modules_imported(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_screens_import_no_io_library_and_write_no_file():
    for path in sorted(SCREENS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for module in modules_imported(tree):
            assert not any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN_MODULES), (path.name, module)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                receiver = getattr(getattr(node.func, "value", None), "id", "")
                if (receiver, name) == ("Service", "open"):
                    continue  # the state is opened through the core's facade (run_app, make_app)
                assert name not in FILE_WRITERS, f"{path.name}:{node.lineno} calls {name}()"


def test_every_tcss_rule_is_nested_under_a_screen_or_widget_type():
    for path in sorted(SCREENS.glob("*.tcss")):
        text = re.sub(r"/\*.*?\*/", "", path.read_text(encoding="utf-8"), flags=re.S)
        depth, line = 0, 0
        for number, raw in enumerate(text.splitlines(), 1):
            stripped = raw.strip()
            if depth == 0 and stripped.endswith("{"):
                selector = stripped[:-1].strip()
                first_words = [part.strip().split()[0] for part in selector.split(",")]
                assert all(word[:1].isupper() for word in first_words), f"{path.name}:{number}: {selector}"
            depth += raw.count("{") - raw.count("}")
            line = number
        assert depth == 0, f"{path.name}: unbalanced braces near line {line}"


def test_every_screen_module_with_a_tcss_names_it():
    for tcss in sorted(SCREENS.glob("*.tcss")):
        if tcss.stem == "app":
            continue
        users = [p.name for p in SCREENS.glob("*.py") if tcss.name in p.read_text(encoding="utf-8")]
        assert users, f"{tcss.name} is loaded by no screen"
