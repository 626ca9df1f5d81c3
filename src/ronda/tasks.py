"""Background tasks: how the services that own one stop it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (None: there is none) and return once it has ended, without its cancellation."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def every(interval_s: float, step: Callable[[], Awaitable[Any]], what: str) -> None:
    """Run ``step`` every ``interval_s`` seconds (first after one interval) until cancelled; a failing
    pass is logged (``what`` names it) and the next one runs on time."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await step()
        except Exception:
            log.exception("%s failed", what)
