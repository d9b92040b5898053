"""The provisioning report: filters an operator understands, and CSV/JSON exports of the same records."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from datetime import datetime, timedelta, timezone

import orjson

from console import clock, people_index
from console.errors import ValidationError
from console.models import EVENT_STATUSES, Event, User
from console.shown import json_array, spreadsheet_cell, visible
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
    """What the report is narrowed to. `person` is exact (any identifier the person ever had); `search` is part of
    one (or of a name), matching every person it fits."""

    person: str | None = None
    search: str | None = None
    app: str | None = None
    since: str | None = None
    start: str | None = None
    end: str | None = None
    action: str | None = None
    status: str | None = None
    run: str | None = None
    limit: int | None = None


def _user_identifiers(user: User) -> list[str]:
    return [user.employeeId, user.userName, user.displayName, f"{user.givenName} {user.familyName}", *user.emails]


def person_ids(store: Store, text: str, *, partial: bool) -> set[str]:
    """Ids of the people with an identifier (key, userName, e-mail, display name) equal to `text`, or holding every
    word of it with `partial`; people no longer in the state, or by an identifier they no longer have, are found
    through their records in the report."""
    needle = " ".join(text.casefold().split())
    words = needle.split()

    def hit(values: list[str]) -> bool:
        if partial:
            hay = "\n".join(values).casefold()
            return all(w in hay for w in words)
        return any(" ".join(v.casefold().split()) == needle for v in values if v)

    # Everyone whose identifiers may hold the text is among the people whose search line (console.people_index; from
    # the state's index when the store is partial: only they are loaded) holds every word of it: a word lies within
    # one value, and within the given or the family name of "given family". They are then tested exactly.
    screened = people_index.of(store.users).holding(store.users, words) if words else store.users.all()
    ids = {u.id for u in screened if hit(_user_identifiers(u))}
    if not partial:
        found = store.users.find(needle)
        ids |= {found.id} if found else set()
        if ids:  # someone in the state has it now: their older records carry their id
            return ids
    if words:  # the report's identity records (console.eventlog keeps their identifiers apart), screened on the
        # longest word (a display name's parts may be apart in a record)
        for person_id, values in store.events.person_identities(max(words, key=len)):
            if person_id not in ids and (hit(values) or (not partial and person_id.casefold() == needle)):
                ids.add(person_id)
    return ids


def query(store: Store, flt: ReportFilter) -> list[Event]:
    """Events matching the filter, newest first. `person` matches any identifier the person ever had, exactly;
    `search` part of one."""
    return list(stream(store, flt))


def stream(store: Store, flt: ReportFilter) -> Iterator[Event]:
    """`query`'s events one at a time (what an export writes as it goes); the filter is checked here, before the
    first event is asked for."""
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
    if flt.person and flt.search:
        raise ValidationError("search", flt.search, "cannot be combined with --user",
                              hint="--user finds one person exactly, --search anyone whose identifiers hold the text")
    ids: set[str] | None = None
    person_text = (flt.person or flt.search or "").strip() or None
    if person_text:
        ids = person_ids(store, person_text, partial=not flt.person)
    if flt.limit == 0:
        return iter(())
    return store.events.stream(
        person_ids=ids, person_text=person_text, person_partial=not flt.person, app=flt.app, since=since, until=until,
        action=flt.action, status=flt.status, run=flt.run, limit=flt.limit,
    )


def to_rows(events: Iterable[Event]) -> list[dict[str, object]]:
    return [{k: getattr(e, k) for k in EXPORT_FIELDS} for e in events]


def to_json(events: list[Event]) -> bytes:
    """The events as JSON: the same values, with the controls orjson leaves raw written as \\u escapes."""
    return b"".join(json_chunks(events))


def json_chunks(events: Iterable[Event], size: int = 2000) -> Iterator[bytes]:
    """`to_json`'s bytes, `size` events at a time: the same document, never all the events in memory at once."""
    for text in json_array(({k: getattr(e, k) for k in EXPORT_FIELDS} for e in events), size=size):
        yield text.encode()


def csv_cell(value: object) -> str:
    """One cell of a CSV meant for people: controls shown (console.shown), a would-be formula neutralised."""
    return spreadsheet_cell(visible("" if value is None else value))


def to_csv(events: list[Event]) -> str:
    """The events as CSV for a spreadsheet: every cell passes `csv_cell` (OWASP CSV injection)."""
    return "".join(csv_chunks(events))


def csv_chunks(events: Iterable[Event], size: int = 2000) -> Iterator[str]:
    """`to_csv`'s text, `size` events at a time."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_FIELDS)
    for chunk in batched(events, size):
        for row in to_rows(chunk):
            row["changes"] = orjson.dumps(row["changes"]).decode() if row["changes"] else ""
            writer.writerow([csv_cell(row[name]) for name in EXPORT_FIELDS])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def batched(items: Iterable[Event], size: int) -> Iterator[list[Event]]:
    """`items` in lists of `size` (the last may be shorter)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def describe_changes(changes: dict[str, list[object]]) -> str:
    return "; ".join(f"{k}: {b!r} → {a!r}" for k, (b, a) in changes.items())
