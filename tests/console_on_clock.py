"""`python -m tests.console_on_clock START ARGS…`: the console (`python -m screens ARGS…`) on the console tests'
ticking clock from START (an ISO time), so that the real-tmux test, which runs it in a process of its own, never
depends on the wall clock (its events are dated from START; a time-span filter finds exactly them)."""
from __future__ import annotations

import sys
from datetime import datetime

from console import clock
from screens.entry import main
from tests.plugins.tui import ticking_from

if __name__ == "__main__":
    clock.set_source(ticking_from(datetime.fromisoformat(sys.argv[1])))
    raise SystemExit(main(sys.argv[2:]))
