"""The console's one file write: a report export chosen by the operator (the CLI writes its own)."""
from __future__ import annotations

from pathlib import Path

from console import reports
from console.errors import BadInput
from console.models import Event


def write_export(path_text: str, fmt: str, events: list[Event]) -> Path:
    """Write `events` as CSV or JSON to a new file; an existing file is never overwritten."""
    if not path_text.strip():
        raise BadInput("no file name given", hint="type a path such as ~/report.csv")
    path = Path(path_text.strip()).expanduser()
    if path.exists():
        raise BadInput(f"{path} exists already", hint="choose another file name; nothing was written")
    if not path.parent.is_dir():
        raise BadInput(f"{path.parent} is not a directory", hint="create it first or choose another place")
    data = reports.to_json(events) if fmt == "json" else reports.to_csv(events).encode("utf-8")
    try:
        reports.write_export(path, data)
    except FileExistsError:
        raise BadInput(f"{path} exists already", hint="choose another file name; nothing was written") from None
    except OSError as exc:
        raise BadInput(f"cannot write {path}", detail=exc.strerror or str(exc), hint="choose a writable place") from None
    return path
