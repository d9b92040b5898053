"""How a connector may touch its peer: live, dry run (writes recorded as "would write"), or read-only.

Each connector checks `guard` in its one request function, where a request is about to leave the process.
"""
from __future__ import annotations

import enum

from console.errors import DryRunBlocked, ReadOnly


class Mode(str, enum.Enum):
    LIVE = "live"
    DRY_RUN = "dry-run"
    READ_ONLY = "read-only"


def guard(mode: Mode, what: str, where: str) -> None:
    """Raise before a write (`what`, e.g. "POST /Users") is sent to `where` unless the mode is live."""
    if mode is Mode.DRY_RUN:
        raise DryRunBlocked(f"dry run: {what} was not sent to {where}",
                            hint="a dry run only reads; run without --dry-run to apply")
    if mode is Mode.READ_ONLY:
        raise ReadOnly(f"read-only: {what} was not sent to {where}",
                       hint="this console or command is read-only; run it without --readonly to change targets")
