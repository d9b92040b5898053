"""The one facade of the core: every action an operator or a schedule can take, for every front end.

Methods take and return domain objects; they raise `console.errors` with a title and a hint. The promises
(read-only, confirmation of removals, a record of every change, validation) are kept here, so a front end
cannot skip them. The types the front ends need are re-exported from here too.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from console.connectors import ConnectionReport, Setting, settings_for
from console.connectors.tls import InsecureTransport
from console.service.apps import AppsMixin, coerce, settings_map
from console.service.automation import AutomationMixin, AutomationSettings, AutomationStatus
from console.service.groups import GroupsMixin, RulePreview
from console.service.inbound import InboundMixin
from console.service.people import PeopleMixin, PersonDetails
from console.service.policies import PoliciesMixin
from console.service.provisioning import Confirmation, ProvisioningMixin, StandingConfirmation
from console.service.reports import ReportFilter, ReportsMixin, SearchResult
from console.values import parse_bool, parse_int, parse_pairs

if TYPE_CHECKING:
    from console.automation.cycle import CycleReport
    from console.automation.schedule import Units
    from console.importer import ImportResult as FileImportResult
    from console.inbound.endpoints import MACROS, PAGINATIONS, Endpoint, EndpointTest
    from console.inbound.run import ImportResult
    from console.mapping import MappedRecord, Mapping
    from console.sync.apply import ApplyResult, Progress
    from console.sync.plan import AppPlan, Operation, Plan
    from console.sync.trace import ProvisionTrace

__all__ = [
    "MACROS", "PAGINATIONS", "AppPlan", "ApplyResult", "AutomationSettings", "AutomationStatus", "CycleReport", "Units",
    "Confirmation", "ConnectionReport", "Endpoint", "EndpointTest", "FileImportResult", "InsecureTransport", "ProvisionTrace", "RulePreview",
    "ImportResult", "MappedRecord", "Mapping", "Operation", "PersonDetails", "Plan", "Progress", "ReportFilter",
    "SearchResult", "Service", "Setting", "StandingConfirmation", "coerce", "parse_bool", "parse_int", "parse_pairs",
    "settings_for", "settings_map",
]

# Types of the parts a command may never use (the sync engine and asyncio, the connectors and httpx, the inbound
# run, the importer, the automation cycle and notifications): imported on first use, so that a read-only command
# starts without them (issue 16). Name -> (module, name there).
_LAZY: dict[str, tuple[str, str]] = {
    "CycleReport": ("console.automation.cycle", "CycleReport"),
    "Units": ("console.automation.schedule", "Units"),
    "FileImportResult": ("console.importer", "ImportResult"),
    "MACROS": ("console.inbound.endpoints", "MACROS"),
    "PAGINATIONS": ("console.inbound.endpoints", "PAGINATIONS"),
    "Endpoint": ("console.inbound.endpoints", "Endpoint"),
    "EndpointTest": ("console.inbound.endpoints", "EndpointTest"),
    "ImportResult": ("console.inbound.run", "ImportResult"),
    "MappedRecord": ("console.mapping", "MappedRecord"),
    "Mapping": ("console.mapping", "Mapping"),
    "ApplyResult": ("console.sync.apply", "ApplyResult"),
    "Progress": ("console.sync.apply", "Progress"),
    "ProvisionTrace": ("console.sync.trace", "ProvisionTrace"),
    "AppPlan": ("console.sync.plan", "AppPlan"),
    "Operation": ("console.sync.plan", "Operation"),
    "Plan": ("console.sync.plan", "Plan"),
}


def __getattr__(name: str) -> Any:
    """A type of the lazily loaded parts (`_LAZY`), imported when a front end first asks for it."""
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value  # asked once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class Service(PeopleMixin, GroupsMixin, PoliciesMixin, AppsMixin, InboundMixin, ProvisioningMixin, ReportsMixin,
              AutomationMixin):
    """Open it on a store: `Service(Store.open(home))`; the operator is the OS account of the process."""
