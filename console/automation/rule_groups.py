"""The one place where a cycle recomputes rule groups (issue 13 part 2 brings them).

Until rule groups land this is a no-op; their merge replaces the body of `recompute_rule_groups` with a call to
the groups' recompute, and the cycle picks it up from here."""
from __future__ import annotations

from console.store import Store


def recompute_rule_groups(store: Store) -> list[str]:
    """Recompute every rule group's members from people's fields; returns the names of the groups that changed.

    No-op placeholder: replaced when rule groups (`groups create NAME --rule EXPR`) are merged."""
    del store
    return []
