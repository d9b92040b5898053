"""Registry of target kinds. Each kind's module exposes `SETTINGS` and `make(app, dry_run=)`.

Modules are imported lazily so that a missing optional library only affects its own kind.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from console.errors import ConfigError, NotConfigured
from console.models import Application

from .base import Capability, ConnectionReport, Connector, Setting

KIND_MODULES = {
    "atlassian": "console.connectors.atlassian",
    "ad": "console.connectors.ad",
    "graph": "console.connectors.graph",
    "bitbucket": "console.inbound.bitbucket",
}

__all__ = ["Capability", "ConnectionReport", "Connector", "Setting", "kind_module", "make_connector", "settings_for"]


def kind_module(kind: str) -> ModuleType:
    if kind not in KIND_MODULES:
        raise ConfigError(f"unknown application kind {kind!r}", hint=f"use one of: {', '.join(KIND_MODULES)}")
    try:
        return importlib.import_module(KIND_MODULES[kind])
    except ModuleNotFoundError as exc:
        if exc.name == KIND_MODULES[kind]:
            raise NotConfigured(f"the {kind} connector is not available in this build") from exc
        raise


def settings_for(kind: str) -> list[Setting]:
    return list(getattr(kind_module(kind), "SETTINGS", []))


def make_connector(app: Application, *, dry_run: bool = False) -> Connector:
    module = kind_module(app.kind)
    if not hasattr(module, "make"):
        raise NotConfigured(f"{app.kind} applications cannot be provisioned to", hint="they are sources: use `idconsole import`")
    return module.make(app, dry_run=dry_run)  # type: ignore[no-any-return]
