"""What the whole-process sync benches share: a subprocess timed (wall and CPU), the checkout's bytecode written
first, and one `idconsole sync` run in a home a setup script seeds (not timed)."""
from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str], timeout: float) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and stdout of one subprocess (exits with its error when it fails)."""
    cpu = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    seconds, cpu = time.perf_counter() - started, children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed ({done.returncode}): {done.stderr[-2000:]} {done.stdout[:2000]}")
    return seconds, cpu, done.stdout


def compile_checkout(env: dict[str, str] | None = None) -> None:
    """Write the checkout's bytecode before anything is timed, as installing idconsole does: without it (e.g. under
    PYTHONDONTWRITEBYTECODE) every idconsole process compiles its ~100 modules again (~0.1 s CPU), which the raw
    process, importing only installed packages, never pays."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "console"], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)


def idconsole_sync(home: Path, env: dict[str, str], setup: str, setup_args: list[str], app: str,
                   timeout: float) -> tuple[float, float]:
    """Seed `home` with the `setup` script (given the home, then `setup_args`; not timed), then time the whole
    `idconsole sync --app APP --yes --json` process: wall seconds and CPU seconds."""
    side_env = {**env, "IDCONSOLE_HOME": str(home)}
    subprocess.run([sys.executable, "-c", setup, str(home), *setup_args], env=side_env, check=True, cwd=ROOT)
    took, used, _ = timed([sys.executable, "-m", "console", "sync", "--app", app, "--yes", "--json"], side_env,
                          timeout)
    return took, used
