"""File answers whose file may go away between the route and the sending.

A route finds a file (a recorded segment, an export package, a snapshot) and returns a response that
opens it later, when the server sends it. Meanwhile retention may delete the segment, an export may
expire, a snapshot may be trimmed. Starlette's ``FileResponse`` then raises ``RuntimeError`` ("File at
path ... does not exist"): a 500 with a traceback in the log, for what is a plain "not found".
:class:`FileAnswer` looks at the file when it is about to send it and answers 404 in the API's error
shape when it is gone. (What is left is the moment between that look and the opening, microseconds.)
"""

from __future__ import annotations

import os
import stat
from typing import Any

import anyio
from starlette.responses import FileResponse, JSONResponse
from starlette.types import Receive, Scope, Send

from ronda.errors import NotFound


class FileAnswer(FileResponse):
    """``FileResponse`` that answers ``404 {"detail": "<what> not found"}`` when the file is gone by the time
    it is sent (byte ranges, ETag and the rest as ``FileResponse``)."""

    def __init__(self, path: str | os.PathLike[str], *, what: str, **kw: Any) -> None:
        self.what = what
        super().__init__(path, **kw)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.stat_result is None:
            try:
                st: os.stat_result | None = await anyio.to_thread.run_sync(os.stat, self.path)
            except (FileNotFoundError, NotADirectoryError):
                st = None
            if st is None or not stat.S_ISREG(st.st_mode):
                gone = JSONResponse({"detail": NotFound(self.what).detail}, status_code=404)
                await gone(scope, receive, send)
                return
            self.stat_result = st
            self.set_stat_headers(st)
        await super().__call__(scope, receive, send)
