"""Bitbucket Cloud workspace members (a source: read-only by nature)."""
from __future__ import annotations

from .source import SETTINGS, BitbucketSource, setting

__all__ = ["SETTINGS", "BitbucketSource", "setting"]
