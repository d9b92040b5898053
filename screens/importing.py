"""Imports from the console: a people file (Service.import_users) and an inbound run from a Bitbucket
source (console.inbound.run, as `idconsole import bitbucket`). Both preview with a dry run first; the
operator confirms what the preview names, and above the leaver threshold types the count."""
from __future__ import annotations

from typing import Any

from textual import work

from console.service import Confirmation
from console.service import FileImportResult as FileResult
from console.service import ImportResult as InboundResult
from screens.messages import ImportFinished
from screens.modals import ConfirmModal, NoticeModal, PathModal, TypeCountModal

LISTED = 100


def file_summary(result: FileResult) -> tuple[str, list[str]]:
    verb = "would be" if result.dry_run else "were"
    body = (f"{len(result.created)} created, {len(result.updated)} updated, {len(result.unchanged)} unchanged "
            f"({verb} written); {len(result.errors)} row(s) rejected")
    items = [str(error) for error in result.errors[:LISTED]]
    if len(result.errors) > LISTED:
        items.append(f"… and {len(result.errors) - LISTED} more")
    return body, items


def inbound_summary(result: InboundResult) -> tuple[str, list[str]]:
    c = result.counts
    body = (f"{c['fetched']} members read: {c['joiners']} joiners, {c['movers']} movers, {c['leavers']} leavers, "
            f"{c['unchanged']} unchanged, {c['skipped']} skipped")
    if result.leavers_refused:
        body += f"\n! {result.leavers_refused}"
    items = []
    order = {"skipped": 0, "leaver": 1, "create": 2, "update": 3}
    for outcome in sorted(result.outcomes, key=lambda o: order.get(o.action, 9)):
        if outcome.action in order:
            detail = "; ".join(str(i) for i in getattr(outcome, "issues", [])) or ", ".join(outcome.changes)
            items.append(f"{outcome.action:<8} {outcome.person}  {detail}")
    return body, items[:LISTED] + ([f"… and {len(items) - LISTED} more"] if len(items) > LISTED else [])


class Importer:
    """Mixed into a screen: `start_file_import()` and `start_inbound_import(app)`; results come back as
    ImportFinished messages which `import_finished()` turns into a preview or a summary."""

    def start_file_import(self: Any) -> None:
        self.app.push_screen(PathModal("Import people from a file", "~/people.csv",
                                       "A .csv or .json file with the columns of CLI.md (employeeId, userName, "
                                       "givenName, familyName, email, …). You see what it would change first."),
                             lambda path: self.import_file(path, True) if path else None)

    @work(exclusive=True, thread=True, exit_on_error=False, group="import", description="importing people")
    def import_file(self: Any, path: str, dry_run: bool) -> None:
        with self.console.state_lock:
            result = self.service.import_users(path, dry_run=dry_run)
        self.post_message(ImportFinished(result, path, dry_run))

    def start_inbound_import(self: Any, app: str) -> None:
        self.notify(f"reading {app} (dry run: nothing is changed yet)…", timeout=3)
        self.import_inbound(app, True, Confirmation())

    @work(exclusive=True, exit_on_error=False, group="import", description="importing from Bitbucket")
    async def import_inbound(self: Any, app: str, dry_run: bool, confirmation: Confirmation) -> None:
        result = await self.service.import_source(app, confirmation, dry_run=dry_run)
        self.post_message(ImportFinished(result, app, dry_run))

    def import_finished(self: Any, message: ImportFinished) -> None:
        result = message.result
        inbound = isinstance(result, InboundResult)
        body, items = inbound_summary(result) if inbound else file_summary(result)
        if not message.dry_run:
            self.console.state_changed()
            problems = [i for i in items if i.startswith("skipped")] if inbound else items
            problems += list(getattr(result, "warnings", []))
            if problems:
                self.app.push_screen(NoticeModal(f"Imported {message.source}, with problems",
                                                 body + "\n\n" + "\n".join(problems[:20])))
            else:
                self.notify(body, title=f"imported {message.source}", timeout=6)
            return
        nothing = (not inbound and not result.created and not result.updated) or (
            inbound and not any(result.counts[k] for k in ("joiners", "movers", "leavers")) and not result.pending_leavers)
        if nothing:
            self.app.push_screen(NoticeModal(f"Nothing to import from {message.source}", body +
                                             ("\n\n" + "\n".join(items[:20]) if items else "")))
            return

        def run(count: int | None = None) -> None:
            if inbound:  # the operator confirmed (and typed the number of leavers when the threshold asked it)
                self.import_inbound(message.source, False, Confirmation.interactive(count))
            else:
                self.import_file(message.source, False)

        pending = len(result.pending_leavers) if inbound else 0
        if inbound and pending and "threshold" in result.leavers_refused:
            self.app.push_screen(TypeCountModal(pending, f"{message.source}: {body}"),
                                 lambda n: run(n) if n is not None else None)
            return
        self.app.push_screen(ConfirmModal(f"Import {message.source}?", body, confirm_label="Import", items=items),
                             lambda yes: run() if yes else None)

