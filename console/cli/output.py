"""How the command line talks: JSON on stdout, aligned tables, errors with what to do, yes/no questions."""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from console.errors import BadInput, IdConsoleError


def emit_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=_default).decode() + "\n")


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "to_doc"):
        return obj.to_doc()
    if hasattr(obj, "__dict__"):
        return obj.__dict__
    raise TypeError


def emit_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def print_error(exc: IdConsoleError) -> None:
    print(f"error: {exc.title}", file=sys.stderr)
    if exc.detail:
        print(f"  {exc.detail}", file=sys.stderr)
    if exc.hint:
        print(f"  what to do: {exc.hint}", file=sys.stderr)


def confirmed_removal(yes: bool, question: str, remove: Callable[[], object], done: str) -> int:
    """Remove after a yes (from --yes or the terminal): exit 0 saying what was removed, else 2 and nothing changes."""
    if not yes and not confirm(question):
        print("nothing deleted")
        return 2
    remove()
    print(done)
    return 0


def confirm(question: str) -> bool:
    """Ask on the terminal; without one (cron, a pipe) the answer must come from --yes."""
    if not sys.stdin.isatty():
        raise BadInput("confirmation needed but there is no terminal", hint="pass --yes to confirm")
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False
