"""In-memory state of the Bitbucket Cloud sandbox: workspaces, memberships, OAuth consumers, tokens.

Kept apart from the HTTP layer so that tests and the demo can change it (add or remove a member,
expire tokens, make a page repeat) while the server runs. All methods are thread-safe.
"""
from __future__ import annotations

import copy
import math
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any


def make_membership(account_id: str, display_name: str, *, nickname: str = "", workspace: str = "acme",
                    uuid_: str = "", email: str = "", permission: str = "member",
                    workspace_name: str = "") -> dict[str, Any]:
    """A `workspace_membership` object shaped like Bitbucket's (with `permission` kept for /permissions)."""
    user_uuid = uuid_ or "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "bb-user:" + account_id)) + "}"
    ws_uuid = "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "bb-ws:" + workspace)) + "}"
    user: dict[str, Any] = {
        "type": "user",
        "uuid": user_uuid,
        "account_id": account_id,
        "display_name": display_name,
        "nickname": nickname or display_name.split(" ")[0].lower(),
        "account_status": "active",
        "links": {"avatar": {"href": f"https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/"
                                      f"{account_id}/128"}},
    }
    if email:
        user["email"] = email
    return {
        "type": "workspace_membership",
        "permission": permission,
        "user": user,
        "workspace": {"type": "workspace", "uuid": ws_uuid, "slug": workspace, "name": workspace_name or workspace},
    }


@dataclass
class Token:
    value: str
    principal: dict[str, Any]
    expires_at: float


class BitbucketState:
    """Workspaces and their members, OAuth consumers, API tokens, issued access tokens, fault switches."""

    def __init__(self, memberships: list[dict[str, Any]] | None = None, *, workspace: str = "",
                 clients: dict[str, str] | None = None, api_tokens: dict[str, str] | None = None,
                 expires_in: int = 7200, rate_limit: int | None = None, rate_window: float = 3600.0,
                 send_retry_after: bool = True, max_pagelen: int = 100) -> None:
        self.lock = threading.RLock()
        self.workspaces: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[dict[str, Any]]] = {}
        # without consumers given, one with a random secret: nothing can sign in by guessing a fixed value
        self.clients = dict(clients if clients is not None else {"idconsole-demo": secrets.token_urlsafe(24)})
        self.api_tokens = dict(api_tokens or {})  # email -> API token
        self.expires_in = expires_in
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.send_retry_after = send_retry_after
        self.max_pagelen = max_pagelen
        self.repeat_page: int | None = None  # BCLOUD-22441-like: page N has `next`, page N+1 repeats N
        self.expire_after: int | None = None  # expire every token after this many more API calls
        self.tokens: dict[str, Token] = {}
        self.token_requests = 0
        self.request_log: list[tuple[str, str, int]] = []
        self._hits: deque[float] = deque()
        if workspace:
            self.add_workspace(workspace)
        for membership in memberships or []:
            self.add_member(membership)

    # --- data -----------------------------------------------------------------------------
    def add_workspace(self, slug: str, name: str = "") -> dict[str, Any]:
        with self.lock:
            if slug not in self.workspaces:
                self.workspaces[slug] = {
                    "type": "workspace", "slug": slug, "name": name or slug, "is_private": True,
                    "uuid": "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "bb-ws:" + slug)) + "}",
                    "created_on": "2020-01-01T00:00:00.000000+00:00",
                }
                self.members[slug] = []
            return self.workspaces[slug]

    def add_member(self, membership: dict[str, Any]) -> None:
        """Add (or replace, by account_id) a membership; its workspace is created when new."""
        membership = copy.deepcopy(membership)
        slug = membership.get("workspace", {}).get("slug") or next(iter(self.workspaces), "acme")
        with self.lock:
            ws = self.add_workspace(slug, membership.get("workspace", {}).get("name", ""))
            membership["workspace"] = {k: v for k, v in ws.items() if k in ("type", "uuid", "slug", "name")}
            membership.setdefault("type", "workspace_membership")
            account_id = membership["user"].get("account_id")
            rows = self.members[slug]
            for i, row in enumerate(rows):
                if row["user"].get("account_id") == account_id:
                    rows[i] = membership
                    return
            rows.append(membership)

    def remove_member(self, account_id: str, workspace: str | None = None) -> None:
        with self.lock:
            for slug, rows in self.members.items():
                if workspace in (None, slug):
                    rows[:] = [r for r in rows if r["user"].get("account_id") != account_id]

    def update_user(self, account_id: str, **fields: Any) -> None:
        with self.lock:
            for rows in self.members.values():
                for row in rows:
                    if row["user"].get("account_id") == account_id:
                        row["user"].update(fields)

    def find_user(self, selector: str) -> dict[str, Any] | None:
        """A user by account_id or `{uuid}` across all workspaces."""
        with self.lock:
            for rows in self.members.values():
                for row in rows:
                    if selector in (row["user"].get("account_id"), row["user"].get("uuid")):
                        return copy.deepcopy(row["user"])
        return None

    # --- credentials ----------------------------------------------------------------------
    def issue_token(self, client_id: str) -> Token:
        """An access token for an OAuth consumer; it acts as the consumer's app user."""
        principal = {
            "type": "app_user", "display_name": client_id,
            "uuid": "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "bb-app:" + client_id)) + "}",
            "account_id": "712020:" + str(uuid.uuid5(uuid.NAMESPACE_URL, "bb-aaid:" + client_id)),
            "account_status": "active", "kind": "oauth_consumer_app_user",
        }
        token = Token(secrets.token_urlsafe(24), principal, time.monotonic() + self.expires_in)
        with self.lock:
            self.tokens[token.value] = token
            self.token_requests += 1
        return token

    def expire_tokens(self) -> None:
        with self.lock:
            for token in self.tokens.values():
                token.expires_at = 0.0

    def expire_tokens_after(self, calls: int) -> None:
        """Expire every token issued so far after `calls` more API calls (an expiry mid-run)."""
        with self.lock:
            self.expire_after = calls

    def api_user(self, email: str) -> dict[str, Any]:
        found = None
        with self.lock:
            for rows in self.members.values():
                for row in rows:
                    if row["user"].get("email", "").lower() == email.lower():
                        found = copy.deepcopy(row["user"])
        if found:
            found.pop("email", None)
            return found
        return {"type": "user", "display_name": email.split("@")[0], "nickname": email.split("@")[0],
                "uuid": "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "bb-api:" + email)) + "}",
                "account_id": "557058:" + str(uuid.uuid5(uuid.NAMESPACE_URL, "bb-aaid:" + email)),
                "account_status": "active"}

    # --- throttling -----------------------------------------------------------------------
    def throttle(self) -> int | None:
        """Count one API call; seconds to wait when the rolling rate limit is exceeded, else None."""
        if self.rate_limit is None:
            return None
        now = time.monotonic()
        with self.lock:
            while self._hits and self._hits[0] <= now - self.rate_window:
                self._hits.popleft()
            if len(self._hits) >= self.rate_limit:
                return max(1, math.ceil(self._hits[0] + self.rate_window - now))
            self._hits.append(now)
        return None

    def count_call(self) -> None:
        with self.lock:
            if self.expire_after is not None:
                self.expire_after -= 1
                if self.expire_after <= 0:
                    self.expire_after = None
                    for token in self.tokens.values():
                        token.expires_at = 0.0

    def log(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.request_log.append((method, path, status))
