"""A worker thread of a cluster loop's own (the lease keeper's, a node's heartbeat).

Their database work must not queue behind the rest of the process in the event loop's shared default
executor (the recorder's segment placement and gaps, the audit log, the session re-checks): under load that
queue delayed a lease tick by most of a second, and a renewal or heartbeat late by a TTL loses the node its
leases or shows it ``down``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class OwnThread:
    """One thread; ``run`` hands it a blocking call and awaits the result."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        """No new work; a call running now finishes in the thread."""
        self._pool.shutdown(wait=False)
