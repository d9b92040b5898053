"""The mapping preview's look ahead: mapped people as each target would receive them, checked against the limits
that target's connector declares (`limits()`), so a value it would refuse is an issue before anything is written."""
from __future__ import annotations

from console.connectors import Mode, is_target, make_target
from console.connectors.attribute_limits import problems
from console.errors import IdConsoleError
from console.mapping import LOCAL_FIELDS, Issue, MappedRecord
from console.models import User
from console.store import Store


def _person(record: MappedRecord, source_tag: str) -> User:
    user = User(employeeId=record.key, userName=record.values.get("userName", ""), source=source_tag)
    for target, value in record.values.items():
        if target == "email":
            user.emails = [value] if value else []
        elif target in LOCAL_FIELDS:
            setattr(user, target, value)
        else:
            user.attributes[target] = value
    return user


async def add_target_issues(store: Store, records: list[MappedRecord], source_tag: str) -> None:
    """Append to each record an Issue for every value a target application would refuse (field "APP attribute")."""
    for app in sorted((a for a in store.applications if is_target(a.kind)), key=lambda a: a.name):
        try:
            connector = make_target(app, mode=Mode.READ_ONLY)
        except IdConsoleError:
            continue  # an application that cannot be built is reported by its own test, not here
        try:
            limits = connector.limits() if hasattr(connector, "limits") else {}
            if not limits:
                continue
            for record in records:
                if not record.key:
                    continue
                attrs = connector.account_attributes(_person(record, source_tag), "sso")
                for name, value, rule in problems(app.name, limits, attrs):
                    record.issues.append(Issue(record.key, f"{app.name} {name}", value, rule))
        finally:
            await connector.aclose()
