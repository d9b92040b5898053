"""`python -m console.sandbox NAME [options]`: run one sandbox on 127.0.0.1 until Ctrl-C.

Each sandbox module exposes `add_arguments(parser)` and `serve(args)`; it is imported only when named.
"""
from __future__ import annotations

import argparse
import importlib
import sys

SANDBOXES = {"graph": "console.sandbox.graph", "bitbucket": "console.sandbox.bitbucket"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SANDBOXES:
        print(f"usage: python -m console.sandbox {{{'|'.join(SANDBOXES)}}} [options]", file=sys.stderr)
        return 2
    module = importlib.import_module(SANDBOXES[argv[0]])
    parser = argparse.ArgumentParser(prog=f"python -m console.sandbox {argv[0]}")
    module.add_arguments(parser)
    return int(module.serve(parser.parse_args(argv[1:])) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
