"""A file answer whose file goes away before it is sent (retention deleting a segment that a player asks
for, an export expiring) is a clean 404 in the API's error shape, not a 500 with a traceback; a file
that stays is served whole and by byte range as before (``ronda.api.files``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ronda.api.files import FileAnswer


def _app(path: Path) -> Starlette:
    async def gone(request: Request) -> Response:
        answer = FileAnswer(path, what="segment", media_type="video/mp4")
        path.unlink()  # retention, between the route's look-up and the sending
        return answer

    async def there(request: Request) -> Response:
        return FileAnswer(path, what="segment", media_type="video/mp4")

    return Starlette(routes=[Route("/gone", gone), Route("/there", there), Route("/dir", lambda r: FileAnswer(
        path.parent, what="plan"))])  # fmt: skip


async def _get(app: Starlette, url: str, **kw: object) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=True),
                                 base_url="http://t") as c:  # fmt: skip
        return await c.get(url, **kw)  # type: ignore[arg-type]


def test_a_file_removed_before_it_is_sent_is_a_clean_404(tmp_path: Path) -> None:
    f = tmp_path / "seg.mp4"
    f.write_bytes(b"x" * 1000)
    r = asyncio.run(_get(_app(f), "/gone"))
    assert r.status_code == 404 and r.json() == {"detail": "segment not found"}, r.text
    r = asyncio.run(_get(_app(f), "/dir"))  # a directory is no file either
    assert r.status_code == 404 and r.json() == {"detail": "plan not found"}


def test_a_file_that_stays_is_served_whole_and_by_range(tmp_path: Path) -> None:
    f = tmp_path / "seg.mp4"
    f.write_bytes(bytes(range(256)) * 4)
    r = asyncio.run(_get(_app(f), "/there"))
    assert r.status_code == 200 and r.content == f.read_bytes() and r.headers["content-type"] == "video/mp4"
    assert r.headers["content-length"] == "1024" and r.headers.get("etag")
    r = asyncio.run(_get(_app(f), "/there", headers={"Range": "bytes=10-19"}))
    assert r.status_code == 206 and r.content == bytes(range(10, 20)), r.status_code
