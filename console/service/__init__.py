"""The one facade of the core: every action an operator or a schedule can take, for every front end.

Methods take and return domain objects; they raise `console.errors` with a title and a hint. The promises
(read-only, confirmation of removals, a record of every change, validation) are kept here, so a front end
cannot skip them. The types the front ends need are re-exported from here too.
"""
from __future__ import annotations

from console.connectors import ConnectionReport, Setting, settings_for
from console.connectors.tls import InsecureTransport
from console.importer import ImportResult as FileImportResult
from console.service.apps import AppsMixin, coerce, settings_map
from console.service.automation import AutomationMixin, AutomationSettings, AutomationStatus, CycleReport, Units
from console.service.groups import GroupsMixin, RulePreview
from console.service.inbound import (
    MACROS,
    PAGINATIONS,
    Endpoint,
    EndpointTest,
    ImportResult,
    InboundMixin,
    MappedRecord,
    Mapping,
)
from console.service.people import PeopleMixin, PersonDetails
from console.service.policies import PoliciesMixin
from console.service.provisioning import (
    AppPlan,
    ApplyResult,
    Confirmation,
    Operation,
    Plan,
    Progress,
    ProvisioningMixin,
    ProvisionTrace,
    StandingConfirmation,
)
from console.service.reports import ReportFilter, ReportsMixin, SearchResult
from console.values import parse_bool, parse_int, parse_pairs

__all__ = [
    "MACROS", "PAGINATIONS", "AppPlan", "ApplyResult", "AutomationSettings", "AutomationStatus", "CycleReport", "Units",
    "Confirmation", "ConnectionReport", "Endpoint", "EndpointTest", "FileImportResult", "InsecureTransport", "ProvisionTrace", "RulePreview",
    "ImportResult", "MappedRecord", "Mapping", "Operation", "PersonDetails", "Plan", "Progress", "ReportFilter",
    "SearchResult", "Service", "Setting", "StandingConfirmation", "coerce", "parse_bool", "parse_int", "parse_pairs",
    "settings_for", "settings_map",
]


class Service(PeopleMixin, GroupsMixin, PoliciesMixin, AppsMixin, InboundMixin, ProvisioningMixin, ReportsMixin,
              AutomationMixin):
    """Open it on a store: `Service(Store.open(home))`; the operator is the OS account of the process."""
