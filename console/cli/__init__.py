"""The headless command line (see CLI.md): one module per noun, each a thin caller of the core's service.

Exit codes: 0 ok, 1 the run had failures, 2 bad input or configuration. Errors go to stderr with what was
wrong and what to do; `--json` output goes to stdout only. `idconsole` with no command (and `idconsole demo`)
starts the Textual console, a front end of its own.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from console import __version__
from console.cli import apps, automate, groups, inbound, policies, report, sync, users
from console.cli.output import emit_json, emit_table, print_error, visible_streams

from console.errors import IdConsoleError, NotConfigured, OutputFailed
from console.service import InsecureTransport, Service

__all__ = ["build_parser", "emit_json", "emit_table", "main"]

Handler = Callable[[Service, argparse.Namespace], int]
# Starts the Textual console on a home (None: the default one), read-only or not; given by the front end that owns
# it (`screens.entry`), so that nothing under console/ imports the console.
Launcher = Callable[[Path | None, bool], int]


def build_parser() -> argparse.ArgumentParser:
    def options(suppress: bool) -> argparse.ArgumentParser:
        # sub-commands SUPPRESS their defaults so that `idconsole --home X users list` keeps X
        extra: dict[str, Any] = {"default": argparse.SUPPRESS} if suppress else {}
        opts = argparse.ArgumentParser(add_help=False)
        opts.add_argument("--home", help="state directory (default: $IDCONSOLE_HOME or the platform data dir)", **extra)
        opts.add_argument("--json", action="store_true", help="machine-readable output", **extra)
        opts.add_argument("--readonly", action="store_true", help="auditor mode: no change is accepted", **extra)
        return opts

    common = options(suppress=True)
    parser = argparse.ArgumentParser(prog="idconsole", parents=[options(suppress=False)],
                                     description="Identity provisioning console. Without a command, starts the console.")
    parser.add_argument("--version", action="version", version=f"idconsole {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def cmd(parent: Any, name: str, handler: Handler, help: str = "", *, write: bool = False,
            **kw: Any) -> argparse.ArgumentParser:
        p = parent.add_parser(name, parents=[common], help=help, description=help, **kw)
        p.set_defaults(handler=handler, writes=write)
        return p

    demo = sub.add_parser("demo", parents=[common], help="the console on a temporary home with sample data and local sandboxes")
    demo.add_argument("--keep", action="store_true", help="keep the temporary home afterwards")
    demo.add_argument("--headless", action="store_true", help="prepare the demo, print where it is, and wait (no console)")
    demo.add_argument("--no-ad", action="store_true", help="skip the Samba AD DC even when Samba is installed")
    demo.add_argument("--cycle", action="store_true", help="with --headless: run one automated cycle once it is up")
    demo.set_defaults(handler=None, command="demo")

    users.register(sub, cmd)
    groups.register(sub, cmd)
    apps.register(sub, cmd, common)
    policies.register(sub, cmd)
    inbound.register(sub, cmd)
    sync.register(sub, cmd)
    sync.register_deletions(sub, cmd)
    report.register(sub, cmd)
    automate.register(sub, cmd)
    return parser


def main(argv: Sequence[str] | None = None, *, launch: Launcher | None = None) -> int:
    """The command line; `idconsole` with no command (or `demo`) starts the console through `launch`."""
    parser = build_parser()
    a = parser.parse_args(argv)
    if a.command is None or a.command == "demo":
        return _run(a, launch=launch)
    with visible_streams(), warnings.catch_warnings():  # every text reaches the terminal neutralised
        warnings.simplefilter("always", InsecureTransport)
        warnings.showwarning = _show_warning
        return _run(a)


def process_main(argv: Sequence[str] | None = None, *, launch: Launcher | None = None) -> int:
    """`main` as the whole process (`python -m console`, the `idconsole` entry point): then everything still alive is
    frozen, so that the interpreter's exit does not scan it for cycles (~0.06 s of CPU after a plan at 100k people).
    The command has closed and flushed its files by then (the store, the report); the exit still flushes the
    standard streams and runs the `atexit` functions as usual."""
    code = main(argv, launch=launch)
    gc.freeze()
    return code


def _show_warning(message: Warning | str, category: type[Warning], *_args: Any, **_kw: Any) -> None:
    """Warnings the core raises for the operator (credentials in clear, …) as `warning: …` lines on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def _run(a: argparse.Namespace, *, launch: Launcher | None = None) -> int:
    svc: Service | None = None
    try:
        if a.command is None or a.command == "demo":
            return run_console(a, launch)
        writes = bool(getattr(a, "writes", False)) and not getattr(a, "dry_run", False)
        readonly = a.readonly or not writes
        with Service.open(a.home, readonly=readonly, lock_wait=0 if readonly else 5.0) as svc:
            code = int(a.handler(svc, a))
        sys.stdout.flush()  # written whole, or said why not
        return code
    except IdConsoleError as exc:
        if isinstance(exc, OutputFailed) and svc is not None and svc.store.writes:
            exc.hint = f"the change itself was saved (idconsole report shows it); {exc.hint}"
        print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `idconsole … | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file or directory the command needed could not be used
        where = f" {exc.filename}" if exc.filename else ""
        print_error(IdConsoleError(f"cannot use{where}: {exc.strerror or type(exc).__name__}",
                                   hint="check the path, its permissions and the free space"))
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug must still reach the operator as a message, not a traceback
        if os.environ.get("IDCONSOLE_DEBUG"):
            raise
        print_error(IdConsoleError(f"unexpected error: {type(exc).__name__}", detail=str(exc)[:300],
                                   hint="nothing more was done; report it with IDCONSOLE_DEBUG=1 set for the details"))
        return 3


def run_console(a: argparse.Namespace, launch: Launcher | None) -> int:
    """The Textual console (a front end of its own, `launch`), on the home or on the demo."""
    if launch is None:
        raise NotConfigured("this command line has no console",
                            hint="start the console with `idconsole` (or `python -m screens`); `idconsole --help` "
                                 "lists the headless commands")
    if a.command == "demo":
        from console.demo import run_demo

        return run_demo(a, launch)
    return launch(Path(a.home) if a.home else None, a.readonly)
