"""A small ONVIF responder for the client's tests: answers SOAP requests on 127.0.0.1 with the XML
fixtures in ``onvif_fixtures/<vendor>/<Operation>.xml`` (falling back to ``generic/``), in the style
of what Axis, Hikvision, Dahua and plain cameras send.

It checks authentication as a camera does: WS-UsernameToken password digest against its own
(optionally skewed) clock, or HTTP Digest (RFC 7616, MD5, qop=auth) with a 401 challenge. Tests
override single operations (a stall, a 50 MB answer, an entity attack) and read the requests it got.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

FIXTURES = Path(__file__).parent / "onvif_fixtures"
_OP = re.compile(rb"<(?:[A-Za-z0-9_.-]+:)?Body[^>]*>\s*<(?:[A-Za-z0-9_.-]+:)?([A-Za-z0-9_]+)", re.S)
Override = bytes | Callable[[web.Request, bytes], Awaitable[web.StreamResponse]]


@dataclass
class Responder:
    vendor: str = "generic"
    username: str = "admin"
    password: str = "s3cret:pass"  # noqa: S105
    auth: str = "wsse"  # wsse | digest | none
    skew_s: float = 0.0
    public: tuple[str, ...] = ("GetSystemDateAndTime",)  # answered without credentials (Axis: none)
    overrides: dict[str, Override] = field(default_factory=dict)
    requests: list[tuple[str, bytes]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _nonce: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.base}/onvif/device_service"

    def ops(self) -> list[str]:
        return [op for op, _ in self.requests]

    def body_of(self, op: str) -> bytes:
        return next(b for o, b in reversed(self.requests) if o == op)

    async def start(self) -> Responder:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.skew_s)

    def render(self, op: str, body: bytes = b"") -> bytes:
        for vendor in (self.vendor, "generic"):
            f = FIXTURES / vendor / f"{op}.xml"
            if f.exists():
                now = self.now()
                text = f.read_text()
                tok = re.search(rb"ProfileToken>([^<]*)<", body)
                text = text.replace("{token}", tok.group(1).decode() if tok else "none")
                for k, v in {
                    "{base}": self.base,
                    "{host}": "127.0.0.1",
                    "{port}": str(self.port),
                    "{year}": str(now.year),
                    "{month}": str(now.month),
                    "{day}": str(now.day),
                    "{hour}": str(now.hour),
                    "{minute}": str(now.minute),
                    "{second}": str(now.second),
                    "{now}": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "{later}": (now + dt.timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }.items():
                    text = text.replace(k, v)
                return text.encode()
        return fault("ter:ActionNotSupported", f"{op} is not supported")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        m = _OP.search(body)
        op = m.group(1).decode() if m else "?"
        self.requests.append((op, body))
        if self.auth == "digest" and not self._digest_ok(request):
            return web.Response(
                status=401,
                headers={"WWW-Authenticate": f'Digest realm="onvif", qop="auth", nonce="{self._nonce}", algorithm=MD5'},
            )
        public = op in self.public
        if self.auth == "wsse" and not public and not self._wsse_ok(body):
            return soap(fault("ter:NotAuthorized", "Sender not Authorized"), status=400)
        hook = self.overrides.get(op)
        if callable(hook):
            return await hook(request, body)
        if isinstance(hook, bytes):
            return soap(hook)
        return soap(self.render(op, body))

    def _wsse_ok(self, body: bytes) -> bool:
        user = re.search(rb"<(?:[\w-]+:)?Username(?:\s[^>]*)?>([^<]*)<", body)
        pw = re.search(rb"<[^>]*Password[^>]*Type=\"[^\"]*#PasswordDigest\"[^>]*>([^<]*)<", body)
        nonce = re.search(rb"<[^>]*Nonce[^>]*>([^<]*)<", body)
        created = re.search(rb"<(?:[\w-]+:)?Created(?:\s[^>]*)?>([^<]+)<", body)
        if not (user and pw and nonce and created) or user.group(1).decode() != self.username:
            return False
        when = dt.datetime.fromisoformat(created.group(1).decode().replace("Z", "+00:00"))
        if abs((when - self.now()).total_seconds()) > 5:  # as cameras do: a stale or future token is refused
            return False
        digest = hashlib.sha1(base64.b64decode(nonce.group(1)) + created.group(1) + self.password.encode())  # noqa: S324
        return base64.b64encode(digest.digest()) == pw.group(1)

    def _digest_ok(self, request: web.Request) -> bool:
        h = request.headers.get("Authorization", "")
        if not h.startswith("Digest "):
            return False
        f = dict(re.findall(r'(\w+)="?([^",]*)"?', h[7:]))

        def md5(s: str) -> str:
            return hashlib.md5(s.encode()).hexdigest()  # noqa: S324

        ha1 = md5(f"{self.username}:onvif:{self.password}")
        ha2 = md5(f"{request.method}:{f.get('uri', '')}")
        want = md5(f"{ha1}:{self._nonce}:{f.get('nc', '')}:{f.get('cnonce', '')}:{f.get('qop', '')}:{ha2}")
        return f.get("username") == self.username and f.get("response") == want


ENV = "http://www.w3.org/2003/05/soap-envelope"


def soap(body: bytes, status: int = 200) -> web.Response:
    if status == 200 and b":Fault>" in body:  # faults come with an error status, as from cameras
        status = 400 if b"Sender" in body else 500
    if not body.lstrip().startswith(b"<?xml") and b"Envelope" not in body[:400]:
        body = (
            (
                f'<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="{ENV}"><SOAP-ENV:Body>'
            ).encode()
            + body
            + b"</SOAP-ENV:Body></SOAP-ENV:Envelope>"
        )
    return web.Response(body=body, status=status, content_type="application/soap+xml", charset="utf-8")


def fault(code: str, reason: str) -> bytes:
    return (
        f'<env:Envelope xmlns:env="{ENV}" xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault>'
        "<env:Code><env:Value>env:Sender</env:Value><env:Subcode>"
        f"<env:Value>{code}</env:Value></env:Subcode></env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{reason}</env:Text></env:Reason>'
        "</env:Fault></env:Body></env:Envelope>"
    ).encode()


async def stall(request: web.Request, body: bytes) -> web.StreamResponse:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def endless(request: web.Request, body: bytes) -> web.StreamResponse:
    """An answer of 50 MB sent in chunks, without a length."""
    resp = web.StreamResponse(headers={"Content-Type": "application/soap+xml"})
    await resp.prepare(request)
    await resp.write(f'<?xml version="1.0"?><e:Envelope xmlns:e="{ENV}"><e:Body><x>'.encode())
    chunk = b"A" * (1 << 20)
    try:
        for _ in range(50):
            await resp.write(chunk)
    except (ConnectionResetError, ConnectionError):
        pass
    return resp
