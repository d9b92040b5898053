"""The registry of application kinds: each declares its role (source or target), its capabilities, its
settings and its factory. The core asks the registry (`is_target`, `has_capability`, `make_target`…),
never kind names or module attributes.

Connector modules are imported lazily, so a missing optional library only affects its own kind.
"""
from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from console.errors import ConfigError, NotConfigured
from console.models import Application

from .base import Capability, ConnectionReport, Connector, CreateResult, Role, Setting
from . import tls
from .mode import Mode

_TARGET = frozenset({Capability.CREATE, Capability.UPDATE, Capability.DEACTIVATE, Capability.REACTIVATE,
                     Capability.DELETE, Capability.GROUPS, Capability.MEMBERSHIPS, Capability.TEST})


@dataclass(frozen=True)
class Kind:
    """One application kind: what it is for and can do, and where its code lives (`module:Factory`)."""

    name: str
    role: Role
    capabilities: frozenset[Capability]
    factory: str
    label: str
    application_fields: frozenset[str] = frozenset()  # Application attributes shown with its settings


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("atlassian", Role.TARGET, _TARGET, "console.connectors.atlassian.connector:AtlassianConnector",
         "Atlassian Cloud (SCIM user provisioning)",
         application_fields=frozenset({"max_concurrency", "features", "deprovision"})),
    Kind("ad", Role.TARGET, _TARGET | {Capability.IMPORT}, "console.connectors.ad.connector:ADConnector",
         "Active Directory (LDAP) with Exchange attributes"),
    Kind("graph", Role.TARGET, _TARGET, "console.connectors.graph.connector:GraphConnector",
         "Microsoft 365 / Entra ID (Microsoft Graph)"),
    Kind("bitbucket", Role.SOURCE, frozenset({Capability.IMPORT, Capability.TEST}),
         "console.connectors.bitbucket.source:BitbucketSource", "Bitbucket Cloud workspace (inbound source)"),
)}

__all__ = ["KINDS", "Capability", "ConnectionReport", "Connector", "CreateResult", "Kind", "Mode", "Role", "Setting",
           "application_fields", "capabilities", "has_capability", "is_source", "is_target", "kind_of",
           "make_source", "make_target", "settings_for", "source_kinds", "target_kinds", "check_connection"]


def kind_of(kind: str) -> Kind:
    """The registered kind, or ConfigError naming the known ones."""
    if kind not in KINDS:
        raise ConfigError(f"unknown application kind {kind!r}", hint=f"use one of: {', '.join(KINDS)}")
    return KINDS[kind]


def is_source(kind: str) -> bool:
    return kind in KINDS and KINDS[kind].role is Role.SOURCE


def is_target(kind: str) -> bool:
    return kind in KINDS and KINDS[kind].role is Role.TARGET


def source_kinds() -> list[str]:
    return [k.name for k in KINDS.values() if k.role is Role.SOURCE]


def target_kinds() -> list[str]:
    return [k.name for k in KINDS.values() if k.role is Role.TARGET]


def capabilities(kind: str) -> frozenset[Capability]:
    return kind_of(kind).capabilities


def has_capability(kind: str, capability: Capability) -> bool:
    return kind in KINDS and capability in KINDS[kind].capabilities


def _load(kind: str) -> tuple[ModuleType, Callable[..., Any]]:
    module_name, _, attribute = kind_of(kind).factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise NotConfigured(f"the {kind} connector is not available in this build") from exc
        raise
    return module, getattr(module, attribute)


def settings_for(kind: str) -> list[Setting]:
    """Every setting of the kind, its application fields included (see `application_fields`)."""
    module, _ = _load(kind)
    return list(module.SETTINGS)


def application_fields(kind: str) -> frozenset[str]:
    """Settings shown with the kind's settings that are Application attributes, not `Application.settings`."""
    return kind_of(kind).application_fields


def make_target(app: Application, *, mode: Mode = Mode.LIVE, **options: Any) -> Connector:
    """The connector of a target application, refusing writes unless `mode` is live."""
    if not is_target(app.kind):
        kind_of(app.kind)
        raise NotConfigured(f"{app.name} is a {app.kind} application: a source, not a target",
                            hint="sources are imported from: idconsole import " + app.kind)
    module, factory = _load(app.kind)
    tls.warn(app, list(module.SETTINGS))  # credentials in clear: refused, or (allowed) a warning
    connector: Connector = factory(app, mode=mode, **options)
    return connector


def make_source(app: Application, *, mode: Mode = Mode.READ_ONLY, **options: Any) -> Any:
    """The reader of a source application (sources never write, whatever the mode)."""
    if not is_source(app.kind):
        kind_of(app.kind)
        raise ConfigError(f"{app.name} is a {app.kind} application: a target, not a source",
                          hint="import from a source application (" + ", ".join(source_kinds()) + ")")
    module, factory = _load(app.kind)
    tls.warn(app, list(module.SETTINGS))
    return factory(app, mode=mode, **options)


async def check_connection(app: Application) -> ConnectionReport:
    """Test an application's connection read-only; the report's text is redacted, a bad setting is a report."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", tls.InsecureTransport)
            peer = make_source(app) if is_source(app.kind) else make_target(app, mode=Mode.READ_ONLY)
    except ConfigError as exc:
        return ConnectionReport(ok=False, message=str(exc))
    notes = [str(w.message) for w in caught if issubclass(w.category, tls.InsecureTransport)]
    try:
        report: ConnectionReport = await peer.test()
    finally:
        await peer.aclose()
    if notes:  # shown on every test: the operator allowed credentials in clear
        report.details["warning"] = "; ".join(notes)
        report.message = f"{report.message} (WARNING: credentials sent without TLS)"
    return report.redacted(peer.secrets())
