"""How the command line talks: JSON on stdout, aligned tables, errors with what to do, yes/no questions.

Every text meant for a terminal passes `console.shown.visible` here (`say`, `emit_table`, `print_error`), so
a control character from a target or a file is shown, never interpreted; JSON escapes them by itself."""
from __future__ import annotations

import io
import sys
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any, TextIO, TypeVar

import orjson

from console.errors import BadInput, IdConsoleError, output_failed
from console.shown import json_array, json_text, visible

T = TypeVar("T")


class _Boxed:
    """A coroutine's result, out of sight of `repr`: Python 3.11's `asyncio.run` formats its main task (result
    included) while restoring the SIGINT handler (`signal.getsignal` on a `functools.partial`), and the repr of a
    plan of 100k people took seconds."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<result>"


async def _boxed(coroutine: Coroutine[Any, Any, T]) -> _Boxed:
    return _Boxed(await coroutine)


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one of the service's coroutines to its end; asyncio is imported here, on first use, so that the
    commands that need no network (most of them) start without it."""
    import asyncio

    value: T = asyncio.run(_boxed(coroutine)).value
    return value


def emit_json(data: Any) -> None:
    text = json_text(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE, default=_default))
    _json_out()(text)


def emit_json_list(items: Iterable[Any]) -> None:
    """`emit_json` of a list, written as its items come: the same text, without the whole list (or text) in memory."""
    write = _json_out()
    for text in json_array(items, default=_default):
        write(text)
    write("\n")


def _json_out() -> Callable[[str], Any]:
    """How JSON is written: `json_text` left no control in it, so past `VisibleText`'s pass over it, which would find
    none (a sync's output of 2,000 operations is ~3 MB) — but with its errors said as the command's output's."""
    out = sys.stdout
    return out.write_checked if isinstance(out, VisibleText) else out.write


def _default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "to_doc"):
        return obj.to_doc()
    if hasattr(obj, "__dict__"):
        return obj.__dict__
    raise TypeError


class VisibleText(io.TextIOBase):
    """A text stream that shows every control character it is given (see console.shown) and passes the rest to
    the stream it wraps; `buffer` (raw bytes: exports, already neutralised) and `fileno` are the wrapped ones."""

    def __init__(self, inner: TextIO, *, output: bool = False) -> None:
        self.inner, self.output = inner, output

    def write(self, text: str) -> int:
        try:
            self.inner.write(visible(text))
        except OSError as exc:
            raise self._failed(exc) from None
        return len(text)

    def write_checked(self, text: str) -> int:
        """`text` as it is: the caller made sure it holds no control (`json_text`)."""
        try:
            return self.inner.write(text)
        except OSError as exc:
            raise self._failed(exc) from None

    def flush(self) -> None:
        try:
            self.inner.flush()
        except OSError as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: OSError) -> BaseException:
        """The command's output (not stderr, not a reader gone: `| head`) that cannot be written: said as such."""
        return output_failed(exc) if self.output and not isinstance(exc, BrokenPipeError) else exc

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@contextmanager
def visible_streams() -> Iterator[None]:
    """While the command runs, everything printed to stdout and stderr is neutralised: one point for every
    message, table and warning of every command (targets' error texts and names included)."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = VisibleText(out, output=True), VisibleText(err)  # type: ignore[assignment]
    try:
        yield
    finally:
        try:  # the command flushed its output and said if it could not (`main`): what is left cannot be written
            sys.stdout.flush()
        except (OSError, IdConsoleError):
            pass
        sys.stderr.flush()
        sys.stdout, sys.stderr = out, err


def say(text: str, *, err: bool = False) -> None:
    """Print a line meant for a terminal, its controls made visible."""
    print(visible(text), file=sys.stderr if err else sys.stdout)


def emit_table(rows: Iterable[Sequence[Any]], headers: Sequence[str], *, window: int = 1000) -> int:
    """Print `rows` under `headers`, columns as wide as the header and the first `window` rows need (all of them in
    a table that short); later rows are printed as they come, in those widths, a longer cell pushing its row on: a
    report of a million events starts at once and never holds them all. Returns how many rows were printed."""
    def shown(row: Sequence[Any]) -> list[str]:
        return ["" if c is None else visible(c, lines=False) for c in row]

    rest = iter(rows)
    first = [[visible(c, lines=False) for c in headers]] + [shown(row) for row in islice(rest, window)]
    widths = [max(len(r[i]) for r in first) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    print(line(first[0]))
    print("  ".join("-" * w for w in widths))
    for cells in first[1:]:
        print(line(cells))
    count = len(first) - 1
    for row in rest:
        print(line(shown(row)))
        count += 1
    return count


def print_error(exc: IdConsoleError) -> None:
    say(f"error: {exc.title}", err=True)
    if exc.detail:
        say(f"  {exc.detail}", err=True)
    if exc.hint:
        say(f"  what to do: {exc.hint}", err=True)


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
        return input(f"{visible(question)} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False
