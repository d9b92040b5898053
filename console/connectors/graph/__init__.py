"""Microsoft 365 / Entra ID through Microsoft Graph (msgraph-sdk) (a target)."""
from __future__ import annotations

from .connector import SETTINGS, GraphConnector

__all__ = ["SETTINGS", "GraphConnector"]
