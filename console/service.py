"""The one facade of the core: every action an operator can take, for the CLI and the screens alike.

Methods take and return domain objects or plain dicts; they raise `console.errors` with a title and
a hint. Anything that removes something requires `confirm=True`, so that a UI bug deletes nothing.
"""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from console import connectors
from console.errors import BadInput, ConfigError, ReadOnly, UnknownObject, ValidationError
from console.importer import ImportResult, import_users
from console.models import (
    FEATURES,
    Application,
    Event,
    Group,
    Policy,
    User,
    utcnow,
)
from console.operator import current_operator
from console.reports import ReportFilter
from console.reports import query as query_report
from console.secrets import check_ref
from console.store import Store
from console.validation import check_app_kind, check_deprovision, validate_group, validate_policy, validate_user

if TYPE_CHECKING:
    from console.sync.apply import ApplyResult, Progress
    from console.sync.plan import Operation, Plan


F = TypeVar("F", bound=Callable[..., Any])


def _writes(method: F) -> F:
    """One write of the state: under the home's lock, on fresh data, flushed (see `Store.writing`)."""
    @functools.wraps(method)
    def wrapper(self: Service, *args: Any, **kwargs: Any) -> Any:
        with self.store.writing():
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Service:
    def __init__(self, store: Store, *, operator: str | None = None) -> None:
        self.store = store
        self.operator = operator or current_operator()

    # ---- helpers -----------------------------------------------------------------------------
    def _writable(self) -> None:
        if self.store.readonly:
            raise ReadOnly("the console is read-only", hint="restart without --readonly to change anything")

    def _record(self, action: str, *, person: User | None = None, app: str = "", changes: dict[str, Any] | None = None,
                message: str = "", status: str = "success") -> None:
        self.store.events.append(Event(
            action=action, status=status, app=app, person=person.label() if person else "",
            person_id=person.id if person else "", operator=self.operator, changes=changes or {}, message=message,
        ))

    # ---- people ------------------------------------------------------------------------------
    def user(self, identifier: str) -> User:
        user = self.store.users.find(identifier)
        if user is None:
            raise UnknownObject(f"no person {identifier!r}", hint="give a primary key, userName or e-mail (idconsole users list)")
        return user

    def users(self, text: str = "", *, limit: int | None = None) -> list[User]:
        """People whose key, userName, name, e-mail or department contains every word of `text`."""
        words = text.casefold().split()
        found = []
        for user in self.store.users:
            if words:
                hay = " ".join((user.employeeId, user.userName, user.displayName, user.department, user.title,
                                *user.emails)).casefold()
                if not all(w in hay for w in words):
                    continue
            found.append(user)
            if limit is not None and len(found) >= limit:
                break
        return found

    @_writes
    def add_user(self, **fields: Any) -> User:
        self._writable()
        email = fields.pop("email", None)
        if email:
            fields["emails"] = [email]
        user = validate_user(User(**fields), self.store.primary_key)
        if user.manager:
            user.manager = self.user(user.manager).key(self.store.primary_key)
        self.store.users.add(user)
        self.store.flush()
        self._record("user_create", person=user, changes={k: [None, v] for k, v in fields.items() if v})
        return user

    @_writes
    def edit_user(self, identifier: str, **fields: Any) -> User:
        self._writable()
        user = self.user(identifier)
        before = user.to_doc()
        doc = dict(before)
        email = fields.pop("email", None)
        if email is not None:
            doc["emails"] = [email] + [e for e in user.emails[1:] if e.casefold() != email.casefold()] if email else []
        for key, value in fields.items():
            if value is not None:
                if key not in doc:
                    raise BadInput(f"unknown field {key!r}")
                doc[key] = value
        updated = validate_user(User.from_doc(doc), self.store.primary_key)
        if updated.manager and updated.manager != user.manager:
            manager = self.user(updated.manager)
            if manager.id == user.id:
                raise ValidationError("manager", updated.manager, "is the person themself")
            updated.manager = manager.key(self.store.primary_key)
        after = updated.to_doc()
        changes = {k: [before[k], after[k]] for k in after if k != "updated" and before[k] != after[k]}
        if not changes:
            return user
        updated.updated = utcnow()
        self.store.users.put(updated)
        self.store.flush()
        self._record("user_update", person=updated, changes=changes)
        return updated

    @_writes
    def delete_user(self, identifier: str, *, confirm: bool = False) -> User:
        """Remove a person from the local state; their accounts are deprovisioned by the next sync."""
        self._writable()
        user = self.user(identifier)
        if not confirm:
            raise BadInput(f"deleting {user.label()} needs confirmation", hint="pass --yes (or confirm in the console)")
        for group in self.store.groups:
            if user.id in group.members:
                group.members = [m for m in group.members if m != user.id]
                self.store.groups.put(group)
        self.store.users.remove(user.id)
        self.store.flush()
        self._record("user_delete", person=user, changes={"status": [user.status, None]})
        return user

    def import_users(self, path: str | Path, *, dry_run: bool = False) -> ImportResult:
        if dry_run:
            return import_users(self.store, Path(path), dry_run=dry_run, operator=self.operator)
        with self.store.writing():
            return import_users(self.store, Path(path), dry_run=dry_run, operator=self.operator)

    # ---- groups ------------------------------------------------------------------------------
    def group(self, name: str) -> Group:
        group = self.store.groups.by_name(name)
        if group is None:
            raise UnknownObject(f"no group {name!r}", hint="see idconsole groups list")
        return group

    def groups(self) -> list[Group]:
        return sorted(self.store.groups, key=lambda g: g.name.casefold())

    @_writes
    def create_group(self, name: str, description: str = "") -> Group:
        self._writable()
        group = validate_group(Group(name=name, description=description))
        self.store.groups.add(group)
        self.store.flush()
        self._record("group_create_local", message=group.name)
        return group

    @_writes
    def rename_group(self, name: str, new_name: str) -> Group:
        self._writable()
        group = Group.from_doc(self.group(name).to_doc())  # a refused name leaves the stored group as it was
        old = group.name
        group.name = new_name
        validate_group(group)
        self.store.groups.put(group)
        for policy in self.store.policies:
            if old in policy.groups:
                policy.groups = [new_name if g == old else g for g in policy.groups]
                self.store.policies.put(policy)
        self.store.flush()
        self._record("group_rename_local", changes={"name": [old, new_name]})
        return group

    @_writes
    def delete_group(self, name: str, *, confirm: bool = False) -> Group:
        self._writable()
        group = self.group(name)
        if not confirm:
            raise BadInput(f"deleting group {group.name} needs confirmation", hint="pass --yes (or confirm in the console)")
        using = [p.name for p in self.store.policies if group.name in p.groups]
        if using:
            raise BadInput(f"group {group.name} is used by policies {', '.join(using)}",
                           hint="remove it from those policies first")
        self.store.groups.remove(group.id)
        self.store.flush()
        self._record("group_delete_local", message=group.name)
        return group

    @_writes
    def change_members(self, name: str, identifiers: list[str], *, add: bool) -> Group:
        self._writable()
        group = self.group(name)
        people = [self.user(i) for i in identifiers]  # all known, or nothing changes
        members = list(group.members)
        for person in people:
            if add and person.id not in members:
                members.append(person.id)
            elif not add and person.id in members:
                members.remove(person.id)
        if members != group.members:
            group.members = members
            self.store.groups.put(group)
            self.store.flush()
            for person in people:
                self._record("member_add_local" if add else "member_remove_local", person=person, message=group.name)
        return group

    def members(self, group: Group) -> list[User]:
        return [u for u in (self.store.users.get(m) for m in group.members) if u is not None]

    # ---- policies ----------------------------------------------------------------------------
    def policy(self, name: str) -> Policy:
        policy = self.store.policies.by_name(name)
        if policy is None:
            raise UnknownObject(f"no policy {name!r}", hint="see idconsole policies list")
        return policy

    def policies(self) -> list[Policy]:
        return sorted(self.store.policies, key=lambda p: p.name.casefold())

    @_writes
    def create_policy(self, name: str, app: str, groups: list[str], login_method: str = "sso", enabled: bool = True) -> Policy:
        self._writable()
        application = self.app(app)
        if application.kind == "bitbucket":
            raise BadInput(f"{application.name} is a source (bitbucket), not a target", hint="bind a policy to an atlassian, ad or graph application")
        names = [self.group(g).name for g in groups]
        policy = validate_policy(Policy(name=name, app=application.name, groups=names, login_method=login_method, enabled=enabled))
        self.store.policies.add(policy)
        self.store.flush()
        self._record("policy_create", app=application.name, message=policy.name)
        return policy

    @_writes
    def set_policy_enabled(self, name: str, enabled: bool) -> Policy:
        self._writable()
        policy = self.policy(name)
        if policy.enabled != enabled:
            policy.enabled = enabled
            self.store.policies.put(policy)
            self.store.flush()
            self._record("policy_enable" if enabled else "policy_disable", app=policy.app, message=policy.name)
        return policy

    @_writes
    def delete_policy(self, name: str, *, confirm: bool = False) -> Policy:
        self._writable()
        policy = self.policy(name)
        if not confirm:
            raise BadInput(f"deleting policy {policy.name} needs confirmation", hint="pass --yes (or confirm in the console)")
        self.store.policies.remove(policy.id)
        self.store.flush()
        self._record("policy_delete", app=policy.app, message=policy.name)
        return policy

    def in_scope(self, policy: Policy) -> list[User]:
        """Active people in any group of the policy: those who should have an account."""
        ids: dict[str, None] = {}
        for name in policy.groups:
            group = self.store.groups.by_name(name)
            for member in group.members if group else []:
                ids[member] = None
        return [u for u in (self.store.users.get(i) for i in ids) if u is not None and u.active]

    # ---- applications ------------------------------------------------------------------------
    def app(self, name: str) -> Application:
        app = self.store.applications.by_name(name)
        if app is None:
            raise UnknownObject(f"no application {name!r}", hint="see idconsole apps list")
        return app

    def apps(self) -> list[Application]:
        return sorted(self.store.applications, key=lambda a: a.name.casefold())

    @_writes
    def add_app(self, kind: str, name: str, settings: dict[str, Any], secrets: dict[str, str]) -> Application:
        self._writable()
        check_app_kind(kind)
        for ref in secrets.values():
            check_ref(ref)
        known = {s.name: s for s in connectors.settings_for(kind)}
        application_fields = set(getattr(connectors.kind_module(kind), "APPLICATION_FIELDS", ()))
        known = {k: v for k, v in known.items() if k not in application_fields}
        for key in settings:
            if known and key not in known:
                raise BadInput(f"{kind} applications have no setting {key!r}", hint=f"settings: {', '.join(known)}")
        for setting in known.values():
            if setting.required and not setting.secret and not settings.get(setting.name):
                raise ValidationError(setting.name, "", "is required", hint=setting.help)
            if setting.name not in settings and setting.default is not None and not setting.secret:
                settings[setting.name] = setting.default
        app = Application(name=name.strip(), kind=kind, settings=settings, secrets=secrets)
        if not app.name:
            raise ValidationError("name", name, "is required")
        self.store.applications.add(app)
        self.store.flush()
        self._record("app_create", app=app.name, changes={k: [None, v] for k, v in settings.items()})
        return app

    @_writes
    def set_app(self, name: str, assignments: dict[str, str]) -> Application:
        """Change settings with KEY=VALUE pairs: deprovision=, features.X=, threshold_count=, secrets.X=, any setting."""
        self._writable()
        app = Application.from_doc(self.app(name).to_doc())  # a refused value leaves the stored app untouched
        before = app.to_doc()
        for key, value in assignments.items():
            if key == "deprovision":
                check_deprovision(value)
                app.deprovision = value
            elif key.startswith("features."):
                feature = key.split(".", 1)[1]
                if feature not in FEATURES:
                    raise ValidationError(key, value, f"is not a feature; features are {', '.join(FEATURES)}")
                app.features[feature] = parse_bool(key, value)
            elif key.startswith("secrets."):
                app.secrets[key.split(".", 1)[1]] = check_ref(value)
            elif key in ("threshold_count", "threshold_percent", "max_concurrency", "delete_grace_days"):
                setattr(app, key, parse_int(key, value))
            elif key == "name":
                raise BadInput("an application cannot be renamed", hint="its name is in the links and the report; add a new one")
            else:
                setting = settings_map(app.kind).get(key.removeprefix("settings."))
                if setting is None:
                    raise BadInput(f"{app.kind} applications have no setting {key!r}",
                                   hint="settings: " + ", ".join(settings_map(app.kind)) + ", deprovision, features.*, threshold_count, threshold_percent, max_concurrency")
                if setting.secret:
                    raise BadInput(f"{key} is a secret", hint=f"set secrets.{key}=env:VAR or keyring:SERVICE/NAME")
                app.settings[setting.name] = coerce(setting, value)
        after = app.to_doc()
        changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        if changes:
            self.store.applications.put(app)
            self.store.flush()
            self._record("app_update", app=app.name, changes=changes)
        return app

    @_writes
    def delete_app(self, name: str, *, confirm: bool = False) -> Application:
        self._writable()
        app = self.app(name)
        if not confirm:
            raise BadInput(f"removing application {app.name} needs confirmation", hint="pass --yes")
        using = [p.name for p in self.store.policies if p.app == app.name]
        if using:
            raise BadInput(f"application {app.name} is used by policies {', '.join(using)}", hint="delete those policies first")
        self.store.links.remove_many([link.id for link in self.store.links if link.app == app.name])
        self.store.applications.remove(app.id)
        self.store.flush()
        self._record("app_delete", app=app.name)
        return app

    async def test_app(self, name: str) -> connectors.ConnectionReport:
        app = self.app(name)
        module = connectors.kind_module(app.kind)
        try:
            if hasattr(module, "make"):
                connector = module.make(app)
                try:
                    report = await connector.test()
                finally:
                    await connector.aclose()
            else:
                source = module.make_source(app)
                try:
                    report = await source.test()
                finally:
                    await source.aclose()
        except ConfigError as exc:
            report = connectors.ConnectionReport(ok=False, message=str(exc))
        if not self.store.readonly:
            app.last_test = {"time": utcnow(), "ok": report.ok, "message": report.message}
            self.store.applications.put(app)
            self.store.flush()
        return report


    # ---- provisioning (the engine) and the report -----------------------------------------------
    async def plan(self, app: str | None = None, *, reconcile: bool = False) -> Plan:
        from console.sync.engine import make_plan

        return await make_plan(self.store, app, reconcile_remote=reconcile)

    async def apply(self, plan: Plan, *, dry_run: bool = False, confirmed: bool = False,
                    allow_deletes: int | None = None, on_progress: Callable[[Progress], None] | None = None,
                    cancel: asyncio.Event | None = None) -> ApplyResult:
        if not dry_run:
            self._writable()
        from console.sync.engine import apply_plan

        return await apply_plan(self.store, plan, operator=self.operator, dry_run=dry_run, confirmed=confirmed,
                                allow_deletes=allow_deletes, on_progress=on_progress, cancel=cancel)

    def report(self, flt: ReportFilter) -> list[Event]:
        return query_report(self.store, flt)

    def pending_deprovisions(self, plan: Plan) -> list[Operation]:
        """The deletion queue: deprovisions the plan would apply, for one-by-one confirmation."""
        return [op for app_plan in plan.apps for op in app_plan.deprovisions]


def settings_map(kind: str) -> dict[str, connectors.Setting]:
    return {s.name: s for s in connectors.settings_for(kind)}


def parse_bool(field: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValidationError(field, value, "must be true or false")


def parse_int(field: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValidationError(field, value, "must be a whole number") from None
    if number < 0:
        raise ValidationError(field, value, "must not be negative")
    return number


def coerce(setting: connectors.Setting, value: str) -> Any:
    if setting.kind == "bool":
        return parse_bool(setting.name, value)
    if setting.kind == "int":
        return parse_int(setting.name, value)
    if setting.kind == "float":
        try:
            return float(value)
        except ValueError:
            raise ValidationError(setting.name, value, "must be a number") from None
    if setting.kind == "list":
        return [v.strip() for v in value.split(",") if v.strip()]
    if setting.choices and value not in setting.choices:
        raise ValidationError(setting.name, value, f"must be one of {', '.join(setting.choices)}")
    return value
