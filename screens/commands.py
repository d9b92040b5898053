"""The one command-palette provider: `users: add`, `sync: plan bitbucket-cloud`, `apps: test m365` …"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from screens.base import NAV

if TYPE_CHECKING:
    from screens.app import IdConsoleApp

# (text, mode, action on that screen, help, writes?)
STATIC = [
    ("users: find", "users", "filter", "focus the people filter", False),
    ("users: add", "users", "add", "add a person", True),
    ("users: import a file", "users", "import", "people from a .csv or .json file (preview first)", True),
    ("groups: create", "groups", "create", "create a group", True),
    ("groups: add members", "groups", "add_members", "add people to the selected group", True),
    ("policies: create", "policies", "create", "bind an application to groups", True),
    ("apps: add", "apps", "add", "add an application (pick its kind)", True),
    ("sync: plan all applications", "provisioning", "plan", "what a sync would do, with reasons", False),
    ("sync: apply the plan", "provisioning", "apply", "apply the plan shown on the Sync screen", True),
    ("deletions: review pending deprovisions", "deletions", "refresh", "confirm or cancel them one by one", False),
    ("reports: last 24 hours", "reports", "span('24h')", "events of the last 24 hours", False),
    ("reports: last 7 days", "reports", "span('7d')", "events of the last 7 days", False),
    ("reports: export", "reports", "export", "write the filtered report to a CSV or JSON file", False),
]


class ConsoleCommands(Provider):
    """Every screen and action of the console, plus one entry per application for plan and test."""

    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app: IdConsoleApp = self.app  # type: ignore[assignment]
        found: list[tuple[str, Callable[[], object], str]] = []
        for mode, key, label in NAV:
            found.append((f"go: {label.lower()} ({key})", partial(app.run_action, f"go('{mode}')"), f"switch to {label}"))
        for text, mode, action, help_text, writes in STATIC:
            if writes and app.readonly:
                continue
            found.append((text, partial(app.run_action, f"go('{mode}', {action!r})"), help_text))
        with app.state_lock:
            apps = app.service.apps()
        for application in apps:
            name = application.name
            if app.service.is_target(application.kind):
                found.append((f"sync: plan {name}", partial(app.run_action, f"go('provisioning', \"plan({name!r})\")"),
                              f"plan {application.kind} application {name} only"))
            found.append((f"apps: test {name}", partial(app.run_action, f"go('apps', \"test({name!r})\")"),
                          f"test the connection to {name}"))
            if app.service.is_source(application.kind) and not app.readonly:
                found.append((f"import: {name}", partial(app.run_action, f"go('apps', \"import_from({name!r})\")"),
                              f"import people from {name} (preview first)"))
            found.append((f"reports: {name}", partial(app.run_action, f"go('reports', \"app({name!r})\")"),
                          f"events of {name}"))
        return found

    async def discover(self) -> Hits:
        for text, callback, help_text in self._commands():
            yield DiscoveryHit(text, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, text=text, help=help_text)
