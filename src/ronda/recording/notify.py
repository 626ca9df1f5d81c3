"""Kernel file notifications (Linux inotify) on one folder, delivered on the asyncio event loop.

The recorder uses it to tell live view that ffmpeg wrote to a segment file, so live view reads a
fragment when it lands instead of looking at the disk fifty times a second. Reached through libc with
ctypes: no dependency. Where inotify is missing (not Linux, or out of watches) ``start`` says so and the
caller falls back to polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

IN_MODIFY = 0x002
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_CREATE = 0x100
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
MASK = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_CREATE

_libc: ctypes.CDLL | None
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    _libc.inotify_init1.argtypes = [ctypes.c_int]
    _libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
except (OSError, AttributeError):  # not Linux
    _libc = None


class DirWatch:
    """Calls ``on_change()`` on the event loop whenever a file in ``path`` is written, created or
    renamed away (bursts that arrive together are one call)."""

    def __init__(self, path: Path, on_change: Callable[[], None]) -> None:
        self.path = path
        self.on_change = on_change
        self._fd: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> bool:
        """Begin watching (the folder is created if missing); False when inotify is unavailable."""
        if _libc is None:
            return False
        self.path.mkdir(parents=True, exist_ok=True)
        fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            log.warning("inotify unavailable (%s): live view polls", os.strerror(ctypes.get_errno()))
            return False
        if _libc.inotify_add_watch(fd, os.fsencode(self.path), MASK) < 0:
            log.warning("cannot watch %s (%s): live view polls", self.path, os.strerror(ctypes.get_errno()))
            os.close(fd)
            return False
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)
        return True

    def _readable(self) -> None:
        assert self._fd is not None
        with contextlib.suppress(BlockingIOError):
            while os.read(self._fd, 65536):  # drain: which file changed does not matter
                pass
        self.on_change()

    def close(self) -> None:
        if self._fd is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = None
