"""`idconsole`: the command line, whose console (no command, or `demo`) is this package's Textual app.

The entry point lives here, in the front end, so that nothing under console/ imports the console: the CLI is given
the launcher and calls it."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from console.cli import process_main


def launch(home: Path | None, readonly: bool) -> int:
    from screens.app import run_app  # Textual is imported only when the console really starts

    return run_app(home=home, readonly=readonly)


def main(argv: Sequence[str] | None = None) -> int:
    return process_main(argv, launch=launch)
