"""Active Directory over LDAP (ldap3), with the Exchange attributes of the base schema (a target)."""
from __future__ import annotations

from .connector import SETTINGS, ADConnector

__all__ = ["SETTINGS", "ADConnector"]
