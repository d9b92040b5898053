"""Atlassian Cloud user provisioning over Atlassian's SCIM 2.0 directory API (a target)."""
from __future__ import annotations

from .connector import SETTINGS, AtlassianConnector

__all__ = ["SETTINGS", "AtlassianConnector"]
