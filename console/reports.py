"""The provisioning report: filters an operator understands, and CSV/JSON exports of the same records."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import orjson

from console import clock
from console.errors import ValidationError
from console.models import EVENT_STATUSES, Event
from console.shown import json_text, spreadsheet_cell, visible
from console.store import Store

SPAN_RE = re.compile(r"^(\d+)\s*([hdw])$")
EXPORT_FIELDS = ("time", "run", "operator", "app", "person", "action", "status", "changes", "error", "message")


def parse_when(value: str, field: str, *, now: datetime | None = None, end_of_day: bool = False) -> datetime:
    """`24h`, `7d`, `2w` (before now) or an ISO date / date-time (UTC unless it says otherwise)."""
    now = now or clock.now()
    text = value.strip()
    span = SPAN_RE.match(text.lower())
    if span:
        amount, unit = int(span.group(1)), span.group(2)
        try:
            return now - timedelta(hours=amount) if unit == "h" else now - timedelta(days=amount * (7 if unit == "w" else 1))
        except OverflowError:
            raise ValidationError(field, value, "reaches back before the year 1",
                                  hint="use a shorter span (e.g. 3650d) or a date such as 2020-01-01") from None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(field, value, "is not a time span or a date",
                              hint="use 24h, 7d, 30d, 2026-11-01 or 2026-11-01T08:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if end_of_day and len(text) == 10:
        when += timedelta(days=1) - timedelta(seconds=1)
    return when


@dataclass
class ReportFilter:
    person: str | None = None
    app: str | None = None
    since: str | None = None
    start: str | None = None
    end: str | None = None
    action: str | None = None
    status: str | None = None
    run: str | None = None
    limit: int | None = None


def query(store: Store, flt: ReportFilter) -> list[Event]:
    """Events matching the filter, newest first. A person matches by userName, e-mail, key or name."""
    if flt.limit is not None and flt.limit < 0:
        raise ValidationError("limit", str(flt.limit), "must not be negative", hint="--limit 0 shows no event")
    if flt.status and flt.status not in EVENT_STATUSES:
        raise ValidationError("status", flt.status, f"must be one of {', '.join(EVENT_STATUSES)}")
    since = parse_when(flt.since, "since") if flt.since else None
    if flt.start:
        start = parse_when(flt.start, "from")
        since = max(since, start) if since else start
    until = parse_when(flt.end, "to", end_of_day=True) if flt.end else None
    if since and until and since > until:
        raise ValidationError("from", flt.start or flt.since, f"is after --to {flt.end}")
    person_ids: set[str] | None = None
    person_text: str | None = None
    if flt.person:
        person_text = flt.person.strip()
        found = store.users.find(person_text)
        needle = person_text.casefold()
        person_ids = {found.id} if found else set()
        person_ids |= {u.id for u in store.users if u.displayName.casefold() == needle}
    if flt.limit == 0:
        return []
    return store.events.query(
        person_ids=person_ids, person_text=person_text, app=flt.app, since=since, until=until,
        action=flt.action, status=flt.status, run=flt.run, limit=flt.limit,
    )


def to_rows(events: list[Event]) -> list[dict[str, object]]:
    return [{k: getattr(e, k) for k in EXPORT_FIELDS} for e in events]


def to_json(events: list[Event]) -> bytes:
    """The events as JSON: the same values, with the controls orjson leaves raw written as \\u escapes."""
    return json_text(orjson.dumps(to_rows(events), option=orjson.OPT_INDENT_2)).encode()


def csv_cell(value: object) -> str:
    """One cell of a CSV meant for people: controls shown (console.shown), a would-be formula neutralised."""
    return spreadsheet_cell(visible("" if value is None else value))


def to_csv(events: list[Event]) -> str:
    """The events as CSV for a spreadsheet: every cell passes `csv_cell` (OWASP CSV injection)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_FIELDS)
    for row in to_rows(events):
        row["changes"] = orjson.dumps(row["changes"]).decode() if row["changes"] else ""
        writer.writerow([csv_cell(row[name]) for name in EXPORT_FIELDS])
    return out.getvalue()


def describe_changes(changes: dict[str, list[object]]) -> str:
    return "; ".join(f"{k}: {b!r} → {a!r}" for k, (b, a) in changes.items())
