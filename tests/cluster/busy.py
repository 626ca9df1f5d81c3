"""The event loop's default executor with every thread busy (the recorder's, the audit log's work), for
tests of the cluster loops that must not wait for it (``ronda.cluster.worker.OwnThread``)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor


@contextlib.asynccontextmanager
async def busy_default_executor(threads: int = 2) -> AsyncIterator[None]:
    """Inside: ``asyncio.to_thread`` waits (up to 30 s) for a thread; outside, the threads are free again."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=threads))
    free = threading.Event()
    blocked = [loop.run_in_executor(None, free.wait, 30) for _ in range(threads)]
    try:
        yield
    finally:
        free.set()
        await asyncio.gather(*blocked)
