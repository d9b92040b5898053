"""Applications (targets and sources): add, edit with the same checks as add, remove, test the connection."""
from __future__ import annotations

import re
from typing import Any

from console import connectors
from console.connectors import tls
from console.errors import BadInput, ValidationError
from console.models import FEATURES, Application, utcnow
from console.secrets import check_ref, store_in_keyring, write_file_secret
from console.service.base import ServiceBase, writes
from console.validation import check_deprovision, check_text
from console.values import parse_bool, parse_float, parse_int

NUMBER_FIELDS = ("threshold_count", "threshold_percent", "max_concurrency", "delete_grace_days")


def settings_map(kind: str) -> dict[str, connectors.Setting]:
    return {s.name: s for s in connectors.settings_for(kind)}


def coerce(setting: connectors.Setting, value: Any) -> Any:
    """A setting's value from operator text (or an already typed value from a form)."""
    if setting.kind == "bool":
        return parse_bool(setting.name, value)
    if setting.kind == "int":
        return parse_int(setting.name, value)
    if setting.kind == "float":
        return parse_float(setting.name, value)
    if setting.kind == "list":
        items = value if isinstance(value, list) else str(value).split(",")
        listed = [str(v).strip() for v in items if str(v).strip()]
        for item in listed:
            check_text(setting.name, item)
        return listed
    text = "" if value is None else str(value).strip()
    check_text(setting.name, text)
    if setting.choices and text not in setting.choices:
        raise ValidationError(setting.name, text, f"must be one of {', '.join(setting.choices)}")
    return text


class AppsMixin(ServiceBase):
    def secret_reference(self, app: str, secret: str, typed: str) -> tuple[str, str | None]:
        """A reference for a secret an operator typed: a reference as given (env:, keyring:, file:), else the value
        put in the keyring; where no keyring works (a server), in a private file of the home (`file:`, 0600, as
        systemd credentials are). Returns (reference, where it was kept when that needs saying, else None)."""
        self._writable()
        if not app.strip():
            raise BadInput("give the application a name first")
        if typed.startswith(("env:", "keyring:", "file:")):
            try:
                return check_ref(typed), None
            except BadInput:
                raise ValidationError(secret, "", "is not a reference: use env:VAR, keyring:SERVICE/NAME or "
                                                  "file:PATH (or type the secret itself)") from None
        name = f"{app.strip()}.{secret}"
        try:
            return store_in_keyring(name, typed), None
        except Exception:  # no backend, locked, D-Bus missing: a private file of the home instead
            ref = write_file_secret(self.home, re.sub(r"[^A-Za-z0-9._-]+", "_", name), typed)
            return ref, ref.removeprefix("file:")

    def apps(self) -> list[Application]:
        return sorted(self.store.applications, key=lambda a: a.name.casefold())

    @staticmethod
    def app_kinds() -> dict[str, str]:
        """Every kind of application this build knows, with what it is (for pickers and lists)."""
        return {name: kind.label for name, kind in connectors.KINDS.items()}

    @staticmethod
    def is_source(kind: str) -> bool:
        """A source feeds people in (Bitbucket); a target receives accounts."""
        return connectors.is_source(kind)

    @staticmethod
    def is_target(kind: str) -> bool:
        return connectors.is_target(kind)

    def targets(self) -> list[Application]:
        return [a for a in self.apps() if connectors.is_target(a.kind)]

    def sources(self) -> list[Application]:
        return [a for a in self.apps() if self.is_source(a.kind)]

    def app_settings(self, kind: str) -> list[connectors.Setting]:
        """The settings a kind of application takes (what the CLI's flags and the console's forms show)."""
        connectors.kind_of(kind)
        return list(connectors.settings_for(kind))

    def _check_settings(self, kind: str, settings: dict[str, Any], secrets: dict[str, str]) -> None:
        """The one validation of an application's configuration, on add and on every edit."""
        for ref in secrets.values():
            check_ref(ref)
        kind_settings = connectors.settings_for(kind)
        for setting in kind_settings:
            value = settings.get(setting.name)
            if setting.required and not setting.secret and value in (None, "", []):
                raise ValidationError(setting.name, "" if value is None else value, "is required", hint=setting.help)
            if setting.required and setting.secret and setting.name not in secrets:
                raise ValidationError(setting.name, "", "is required (a secret reference: env:VAR, keyring:… or file:…)",
                                      hint=setting.help)
        secret_names = [s.name for s in kind_settings if s.secret]
        if secret_names and not any(s.required for s in kind_settings if s.secret) and \
                not any(n in secrets for n in secret_names):
            raise ValidationError("secrets", "", f"needs one of: {', '.join(secret_names)}",
                                  hint="give a reference such as env:VAR (the value is never stored)")

    @writes
    def add_app(self, kind: str, name: str, settings: dict[str, Any], secrets: dict[str, str]) -> Application:
        self._writable()
        connectors.kind_of(kind)
        known = {s.name: s for s in connectors.settings_for(kind)}
        application_fields = connectors.application_fields(kind)
        known = {k: v for k, v in known.items() if k not in application_fields}
        typed: dict[str, Any] = {}
        for key, value in settings.items():
            if known and key not in known:
                raise BadInput(f"{kind} applications have no setting {key!r}", hint=f"settings: {', '.join(known)}")
            setting = known.get(key)
            typed[key] = coerce(setting, value) if setting is not None and value not in (None, "") else value
        for setting in known.values():
            if setting.name not in typed and setting.default is not None and not setting.secret:
                typed[setting.name] = setting.default
        if "auth" in known and "auth" not in settings:  # a source that takes either credential: say which one
            typed["auth"] = "api_token" if "api_token" in secrets else "oauth"
        app = Application(name=name.strip(), kind=kind, settings=typed, secrets=dict(secrets))
        if not app.name:
            raise ValidationError("name", name, "is required")
        check_text("name", app.name)
        self._check_settings(kind, {k: v for k, v in typed.items() if k in known}, app.secrets)
        tls.warn(app, connectors.settings_for(kind))
        self.store.applications.add(app)
        self._record("app_create", app=app.name, changes={k: [None, v] for k, v in typed.items()} |
                     {f"secrets.{k}": [None, v] for k, v in app.secrets.items()})
        return app

    @writes
    def set_app(self, name: str, assignments: dict[str, Any]) -> Application:
        """Change settings with KEY=VALUE pairs: deprovision=, features.X=, threshold_count=, secrets.X=, any setting.

        Every change goes through the same checks as adding the application; a refused value changes nothing."""
        self._writable()
        app = Application.from_doc(self.app(name).to_doc())
        before = app.to_doc()
        known = settings_map(app.kind)
        for key, value in assignments.items():
            if key == "deprovision":
                check_deprovision(str(value))
                app.deprovision = str(value)
            elif key.startswith("features."):
                feature = key.split(".", 1)[1]
                if feature not in FEATURES:
                    raise ValidationError(key, value, f"is not a feature; features are {', '.join(FEATURES)}")
                app.features[feature] = parse_bool(key, value)
            elif key.startswith("secrets."):
                app.secrets[key.split(".", 1)[1]] = check_ref(str(value))
            elif key in NUMBER_FIELDS:
                setattr(app, key, parse_int(key, value))
            elif key == "name":
                raise BadInput("an application cannot be renamed", hint="its name is in the links and the report; add a new one")
            else:
                setting = known.get(key.removeprefix("settings."))
                if setting is None:
                    raise BadInput(f"{app.kind} applications have no setting {key!r}",
                                   hint="settings: " + ", ".join(known) + ", deprovision, features.*, "
                                        + ", ".join(NUMBER_FIELDS))
                if setting.secret:
                    raise BadInput(f"{key} is a secret", hint=f"set secrets.{key}=env:VAR, keyring:SERVICE/NAME or file:PATH")
                app.settings[setting.name] = coerce(setting, value)
        self._check_settings(app.kind, app.settings, app.secrets)
        tls.warn(app, connectors.settings_for(app.kind))
        after = app.to_doc()
        changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        if changes:
            self.store.applications.put(app)
            self._record("app_update", app=app.name, changes=changes)
        return app

    def policies_of_app(self, name: str) -> list[str]:
        return [p.name for p in self.store.policies if p.app == name]

    def linked_count(self, name: str) -> int:
        """How many accounts and groups idconsole links in this application."""
        return len(self.store.links.for_app(name, "user")) + len(self.store.links.for_app(name, "group"))

    @writes
    def delete_app(self, name: str, *, confirm: bool = False) -> Application:
        self._writable()
        app = self.app(name)
        if not confirm:
            raise BadInput(f"removing application {app.name} needs confirmation", hint="pass --yes")
        using = self.policies_of_app(app.name)
        if using:
            raise BadInput(f"application {app.name} is used by policies {', '.join(using)}", hint="delete those policies first")
        self.store.links.remove_many([link.id for link in self.store.links if link.app == app.name])
        self.store.applications.remove(app.id)
        self._record("app_delete", app=app.name)
        return app

    async def test_app(self, name: str) -> connectors.ConnectionReport:
        app = self.app(name)
        report = await connectors.check_connection(app)  # read-only, its text redacted
        if not self.store.readonly:
            with self.lock:
                app.last_test = {"time": utcnow(), "ok": report.ok, "message": report.message}
                self.store.applications.put(app)
                self.store.flush()
        return report
