"""The provisioning report's storage: one JSON-lines file per month, appended durably.

An append is written and fsynced before it returns, so an operation is on disk before it is
reported done. Queries read only the months of the asked span and skip lines by a byte prefilter
before parsing; parsed months are cached in the process and extended from where they ended.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import orjson

from console.errors import ReadOnly
from console.models import Event


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def month_of(time: str) -> str:
    return time[:7]  # "2026-11-25T..." -> "2026-11"


def months_between(since: datetime, until: datetime) -> list[str]:
    months, year, month = [], since.year, since.month
    while (year, month) <= (until.year, until.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


class EventLog:
    def __init__(self, directory: Path, *, readonly: bool = False) -> None:
        self.dir = Path(directory)
        self.readonly = readonly
        if not readonly:
            self.dir.mkdir(parents=True, exist_ok=True)
        self._handles: dict[str, IO[bytes]] = {}
        self._cache: dict[str, tuple[int, list[dict[str, Any]]]] = {}  # month -> (bytes read, records)

    def _handle(self, month: str) -> IO[bytes]:
        handle = self._handles.get(month)
        if handle is None:
            if self.readonly:
                raise ReadOnly("the report cannot be written in read-only mode")
            handle = open(self.dir / f"{month}.jsonl", "ab")
            self._handles[month] = handle
        return handle

    def append(self, event: Event) -> None:
        self.append_many([event])

    def append_many(self, events: Iterable[Event]) -> None:
        """Write the events and fsync once per month file touched (group commit)."""
        by_month: dict[str, list[bytes]] = {}
        for event in events:
            by_month.setdefault(month_of(event.time), []).append(orjson.dumps(event.to_doc()) + b"\n")
        for month, lines in by_month.items():
            handle = self._handle(month)
            handle.write(b"".join(lines))
            handle.flush()
            os.fsync(handle.fileno())

    def months(self) -> list[str]:
        if not self.dir.exists():
            return []
        return sorted(p.stem for p in self.dir.glob("*.jsonl"))

    def _records(self, month: str) -> list[dict[str, Any]]:
        """All records of a month, parsed once and extended incrementally as the file grows."""
        path = self.dir / f"{month}.jsonl"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return []
        offset, records = self._cache.get(month, (0, []))
        if size > offset:
            with open(path, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read(size - offset)
            end = chunk.rfind(b"\n") + 1  # a line being written by another process waits for next time
            lines = [line for line in chunk[:end].split(b"\n") if line.strip()]
            try:  # one parse for the whole chunk is several times faster than one per line
                records.extend(orjson.loads(b"[" + b",".join(lines) + b"]"))
            except orjson.JSONDecodeError:
                for line in lines:
                    try:
                        records.append(orjson.loads(line))
                    except orjson.JSONDecodeError:
                        continue  # a torn line after a crash: the operation in flight is lost
            offset += end
            self._cache[month] = (offset, records)
        return records

    def query(
        self,
        *,
        person_ids: set[str] | None = None,
        person_text: str | None = None,
        app: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
        status: str | None = None,
        run: str | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Events matching every given filter, newest first."""
        months = self.months()
        if since or until:
            lo = since or datetime(1970, 1, 1, tzinfo=timezone.utc)
            hi = until or datetime.now(timezone.utc)
            wanted = set(months_between(lo, hi))
            months = [m for m in months if m in wanted]
        since_s = since.isoformat().replace("+00:00", "Z") if since else None
        until_s = until.isoformat().replace("+00:00", "Z") if until else None
        text = person_text.casefold() if person_text else None
        found: list[Event] = []
        for month in reversed(months):
            for rec in reversed(self._records(month)):
                if app is not None and rec.get("app") != app:
                    continue
                if action is not None and rec.get("action") != action:
                    continue
                if status is not None and rec.get("status") != status:
                    continue
                if run is not None and rec.get("run") != run:
                    continue
                if since_s and rec["time"] < since_s:
                    continue
                if until_s and rec["time"] > until_s:
                    continue
                if person_ids is not None or text is not None:
                    by_id = person_ids is not None and rec.get("person_id") in person_ids
                    by_text = text is not None and rec.get("person", "").casefold() == text
                    if not (by_id or by_text):
                        continue
                found.append(Event.from_doc(rec))
                if limit is not None and len(found) >= limit:
                    return found
        return found

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()
