"""The run's journal: each intent durable before its remote write, each outcome durable before the state is saved.

Intents of the operations ready at the same moment share one fsync (group commit, done in a thread while the
other operations' requests go on); outcomes are buffered and written by `commit()` just before the state is
flushed, so an outcome is on disk exactly when the links it changed are (an operation whose outcome was not
written stays an open intent: `unknown`, looked up by the next run). If the report cannot be written the journal
fails for good: every later `intend` raises, so no remote write happens without its intent on disk.
"""
from __future__ import annotations

import asyncio
import threading
from collections import deque

from console.errors import JournalError
from console.eventlog import EventLog
from console.models import Event


def journal_error(exc: OSError) -> JournalError:
    return JournalError("the provisioning report cannot be written", detail=exc.strerror or str(exc),
                        hint="free space or fix the home's events/ directory, then sync again; the run stopped "
                             "before its next remote write and the next run resolves what was in flight")


class Window:
    """At most `4 * slots` operations past it (in flight, or waiting for a slot with their intent durable), let in by
    batches: when only `low = 2 * slots` are left inside (the operations in flight and as many again ready behind
    them), `2 * slots` more enter at once, so their intents share one fsync (a group commit of a dozen or more
    operations instead of one per finished request) while the ready ones keep every slot busy during that fsync,
    even on a loaded disk. A crash leaves at most those `4 * slots` operations unknown (the rerun looks them up).
    """

    def __init__(self, slots: int) -> None:
        slots = max(1, slots)
        self.size = 4 * slots
        self.batch = 2 * slots
        self.low = self.size - self.batch
        self.inside = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if self.inside < self.size and not self._waiting:
            self.inside += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # let in, then cancelled: give the place back
                self._leave()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._leave()

    def _leave(self) -> None:
        self.inside -= 1
        if self.inside > self.low:
            return
        while self._waiting and self.inside < self.size:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(None)
                self.inside += 1


class Journal:
    def __init__(self, log: EventLog, run: str) -> None:
        self.log = log
        self.run = run
        self.failure: JournalError | None = None
        self.intents_written = 0
        self.groups_written = 0  # fsyncs of intents (each shared by the intents ready at the same moment)
        self._outcomes: list[Event] = []
        self._waiting: list[tuple[Event, asyncio.Future[None]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._writing = threading.Lock()  # the drain's thread and `commit()` never write at once

    async def intend(self, intent: Event) -> None:
        """Return once `intent` is durable; raise JournalError (and write nothing remote) when it cannot be."""
        if self.failure is not None:
            raise self.failure
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((intent, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        await future

    def outcome(self, event: Event) -> None:
        """Buffer an outcome: `commit()` writes it, with the state's next flush."""
        self._outcomes.append(event)

    async def _drain(self) -> None:
        try:
            while self._waiting and self.failure is None:
                waiting, self._waiting = self._waiting, []
                try:
                    await asyncio.to_thread(self._write, [intent for intent, _ in waiting])
                except OSError as exc:
                    self.failure = self.failure or journal_error(exc)
                else:
                    self.intents_written += len(waiting)
                    self.groups_written += 1
                for _, future in waiting:
                    if not future.done():
                        if self.failure is None:
                            future.set_result(None)
                        else:
                            future.set_exception(self.failure)
            for _, future in self._waiting:  # queued after a failure
                if not future.done() and self.failure is not None:
                    future.set_exception(self.failure)
            self._waiting = []
        finally:
            self._drainer = None

    def _write(self, intents: list[Event]) -> None:
        with self._writing:
            if self.failure is not None:  # `commit()` failed meanwhile: these intents' writes will not be sent
                return
            try:
                self.log.intend_many(self.run, intents)
            except OSError as exc:
                self.failure = self.failure or journal_error(exc)  # set before `commit()` can take the lock
                raise

    async def settle(self) -> None:
        """Wait until no group is being written."""
        while self._drainer is not None:
            await asyncio.shield(self._drainer)

    def commit(self) -> None:
        """Write the buffered outcomes now (before the state is saved); raise JournalError when they cannot be."""
        with self._writing:
            if self.failure is not None:
                raise self.failure
            outcomes, self._outcomes = self._outcomes, []
            if not outcomes:
                return
            try:
                self.log.append_many(outcomes)
            except OSError as exc:
                self.failure = journal_error(exc)
                raise self.failure from None

    def close(self) -> None:
        """Every intent has its outcome in the report: the run's journal goes."""
        if self.failure is None:
            self.log.close_journal(self.run)
