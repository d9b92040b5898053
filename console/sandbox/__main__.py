"""`python -m console.sandbox NAME [options]`: run one of the local sandboxes on 127.0.0.1.

Each sandbox module exposes `add_arguments(parser)` and `serve(args) -> int`; modules are imported lazily so
that one sandbox's dependencies never affect another.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from console.errors import IdConsoleError

SANDBOXES = {
    "graph": "console.sandbox.graph",
    "bitbucket": "console.sandbox.bitbucket",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m console.sandbox", description="Run a local sandbox on 127.0.0.1.")
    parser.add_argument("name", choices=sorted(SANDBOXES), help="which sandbox to run")
    if not argv or argv[0] not in SANDBOXES:
        parser.parse_args(argv[:1])  # prints usage / the choices and exits
        return 2
    module = importlib.import_module(SANDBOXES[argv[0]])
    sub = argparse.ArgumentParser(prog=f"python -m console.sandbox {argv[0]}", description=module.__doc__)
    module.add_arguments(sub)
    try:
        return int(module.serve(sub.parse_args(argv[1:])) or 0)
    except IdConsoleError as exc:
        print(f"error: {exc.title}", file=sys.stderr)
        if exc.hint:
            print(f"  what to do: {exc.hint}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
