"""Catalog writes that wait for the database: replayed in order, by one task, when it answers again.

A segment reaches its final name before its catalog row is written (segments.py). When that write
fails because the database is unreachable (PostgreSQL down or restarting, SQLite locked by another
process past its busy timeout), the file is complete where it belongs: recording goes on, and the
write joins this backlog, with the stream's gap writes, in the order they happened. While the backlog
is not empty every new catalog write of the recorder queues behind it (a stream's rows and gaps must
reach the catalog in order), and one task replays it oldest first with a capped backoff, so an outage
costs one attempt every few seconds, not one per segment per stream.

Replays are idempotent: a segment row is looked up (indexed by stream and start, then the path) before
it is inserted, so a write whose commit went through but whose answer was lost is not added twice. An
entry is a path, times and a hash (a few hundred bytes), never media; past ``MAX_ITEMS`` the oldest
entries are dropped with one warning: their files stay at their final names, and the stream's next start
(or ``ronda storage reindex``) adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ronda.store.db import Database, unreachable

log = logging.getLogger(__name__)

RETRY_MIN_S = 0.5
RETRY_MAX_S = 5.0
# ~300 bytes each: 50,000 entries are ~15 MB, 11 minutes of 150 cameras (main + sub, 4 s segments), hours
# for a few cameras.
MAX_ITEMS = 50_000


@dataclass(slots=True)
class Pending:
    """One catalog write: ``write`` is blocking and safe to run twice; ``done`` runs on the event loop
    with its result after it succeeded."""

    what: str  # for the log: "camera 3/main: main_20261206T101500123Z.mp4"
    write: Callable[[], object]
    done: Callable[[object], None] | None = None


class CatalogBacklog:
    def __init__(self, db: Database, max_items: int = MAX_ITEMS) -> None:
        self.db = db
        self.max_items = max_items
        self._items: deque[Pending] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.replayed = 0  # writes done from the backlog since start
        self.dropped = 0
        self.oldest_ms: int | None = None  # when the oldest waiting write was queued

    def __len__(self) -> int:
        return len(self._items)

    @property
    def waiting(self) -> bool:
        """Whether writes wait: a new one must queue behind them, not overtake them."""
        return bool(self._items)

    def put(self, item: Pending) -> None:
        if not self._items:
            self.oldest_ms = int(time.time() * 1000)
        self._items.append(item)
        if len(self._items) > self.max_items:
            lost = self._items.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("catalog backlog full (%d writes): dropped %s (%d so far); its file stays on disk for "
                            "'ronda storage reindex'", self.max_items, lost.what, self.dropped)  # fmt: skip
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="rec-catalog-backlog")
        self._wake.set()

    async def flush(self, within_s: float) -> bool:
        """Wait (at stop) until the backlog is written, at most ``within_s`` seconds; True when it is."""
        deadline = time.monotonic() + within_s
        while self._items and time.monotonic() < deadline:
            self._wake.set()
            await asyncio.sleep(0.1)
        if self._items:
            log.warning("%d catalog writes still wait for the database at stop: their files stay at their final "
                        "names and are adopted at the next start", len(self._items))  # fmt: skip
        return not self._items

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = RETRY_MIN_S
        while self._items:
            item = self._items[0]
            try:
                result = await asyncio.to_thread(item.write)
            except Exception as e:
                if unreachable(e):  # (logged once per outage by the database's session)
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
                    delay = min(delay * 2, RETRY_MAX_S)
                    continue
                # Not an outage (a bug, a constraint): never block the others behind it. The file stays at its
                # final name for the stream's next start or `ronda storage reindex`.
                log.error("%s: catalog write failed, left for reindex: %s", item.what, e)
                self._pop()
                continue
            delay = RETRY_MIN_S
            self._pop()
            self.replayed += 1
            self.db.outage.up()  # (a write went through: on SQLite, reads alone do not say so)
            if item.done is not None:
                item.done(result)
            if not self._items:
                log.info("catalog backlog written (%d writes replayed since start)", self.replayed)

    def _pop(self) -> Pending:
        item = self._items.popleft()
        if not self._items:
            self.oldest_ms = None
        return item
