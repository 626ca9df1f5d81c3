"""How Ronda talks HTTP and XML to an ONVIF device: bounded in time and size, hardened XML, HTTP Digest
when the device asks for it, every request kept on the device's own host.

``onvif-zeep-async`` builds one aiohttp session per service with a 90 s timeout, an unbounded
``response.read()`` and zeep settings that turn *on* ``xml_huge_tree`` (libxml2's own limits off) and
leave DTDs allowed. :func:`harden` replaces that session and those settings on each service the
library creates, so every answer from a camera goes through :class:`CappedResponse` and
:data:`XML_SETTINGS`.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from lxml import etree
from zeep.exceptions import DTDForbidden, TransportError, XMLSyntaxError
from zeep.settings import Settings

# A GetProfiles answer of a 32-channel recorder is ~300 kB; events batches are smaller.
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
CALL_TIMEOUT_S = 8.0
CONNECT_TIMEOUT_S = 4.0

# Tolerant of what cameras send (strict=False: unknown vendor elements, missing optional elements) but
# never expanding entities, loading a DTD or fetching anything a document points at.
XML_SETTINGS = Settings(
    strict=False,
    xml_huge_tree=False,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
)


class ResponseTooLarge(aiohttp.ClientPayloadError):
    """The device's answer is over :data:`MAX_RESPONSE_BYTES` (decompressed)."""


class CappedResponse(aiohttp.ClientResponse):
    """A response whose body is read at most up to the cap: a 50 MB (or endless) answer is cut off
    after ``MAX_RESPONSE_BYTES`` instead of filling memory. The count is after decompression, so a
    gzip bomb stops at the same size."""

    limit = MAX_RESPONSE_BYTES

    async def read(self) -> bytes:
        if self._body is None:
            if self.content_length is not None and self.content_length > self.limit:
                self.close()
                raise ResponseTooLarge(f"the device's answer is larger than {self.limit} bytes")
            buf = bytearray()
            try:
                async for chunk in self.content.iter_chunked(64 * 1024):
                    buf += chunk
                    if len(buf) > self.limit:
                        raise ResponseTooLarge(f"the device's answer is larger than {self.limit} bytes")
            except BaseException:
                self.close()
                raise
            self._body = bytes(buf)
        return await super().read()


_STRICT = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


def check_answer(status: int, content: bytes) -> None:
    """Every SOAP answer is checked before zeep sees it: well-formed XML (zeep's lenient mode would
    "recover" a truncated document into half an answer), no DOCTYPE at all (SOAP forbids one; this is
    the defusedxml rule whatever zeep's settings), and an error status that carries no SOAP envelope
    reported as that status."""
    if not content.strip():
        return  # zeep reports an empty answer by its status
    if b"<!DOCTYPE" in content:  # before parsing: a billion-laughs document is refused unread
        raise DTDForbidden("DOCTYPE", None, None)
    try:
        root = etree.fromstring(content, _STRICT)
    except etree.XMLSyntaxError as e:
        if status != 200:
            raise TransportError(f"Server returned HTTP status {status}", status_code=status) from None
        raise XMLSyntaxError(f"Invalid XML content received ({e.msg})") from None
    doctype = root.getroottree().docinfo.doctype
    if doctype:
        raise DTDForbidden(doctype, None, None)
    if status != 200 and not str(root.tag).endswith("}Envelope"):
        raise TransportError(f"Server returned HTTP status {status}", status_code=status)


def _checked(post_xml: Any) -> Any:
    async def post_xml_checked(address: str, envelope: Any, headers: dict[str, str]) -> Any:
        response = await post_xml(address, envelope, headers)
        check_answer(response.status_code, response.content or b"")
        return response

    return post_xml_checked


def new_session(username: str | None, password: str | None, timeout_s: float = CALL_TIMEOUT_S) -> aiohttp.ClientSession:
    """A session for one service of one device: capped answers, bounded time, HTTP Digest answered
    when the device challenges (never Basic: the password would cross plain HTTP)."""
    middlewares: tuple[aiohttp.DigestAuthMiddleware, ...] = ()
    if username and password:
        middlewares = (aiohttp.DigestAuthMiddleware(username, password),)
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit_per_host=4, ssl=False),
        timeout=aiohttp.ClientTimeout(total=timeout_s, connect=CONNECT_TIMEOUT_S, sock_read=timeout_s),
        response_class=CappedResponse,
        middlewares=middlewares,
        trust_env=False,  # no proxy from the environment: a camera is reached directly
        auto_decompress=True,
    )


async def harden(service: Any, username: str | None, password: str | None, timeout_s: float) -> None:
    """Give one ``onvif.client.ONVIFService`` (already set up) Ronda's session and XML settings."""
    if getattr(service, "_ronda_hardened", False):
        return
    old = service._session
    session = new_session(username, password, timeout_s)
    service._session = session
    service._connector = session.connector
    service.transport.session = session
    service.transport._client_timeout = session.timeout
    # Both zeep clients of the service share this transport; SOAP calls go through post_xml.
    service.transport.post_xml = _checked(service.transport.post_xml)
    for client in (service.zeep_client, service.zeep_client_authless):
        if client is not None:
            client.settings = XML_SETTINGS
    service._ronda_hardened = True
    await old.close()


def same_host(url: str | None, device_url: str) -> str | None:
    """``url`` (an address the device gave: a service, a subscription, a snapshot) kept on the device.

    A camera behind NAT advertises its LAN address; a hostile one could name any host. Either way
    Ronda sends nothing to a host it was not given: an address on another host is rewritten to the
    device's own host and port, and one that is not http(s) is dropped (None)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        dev = urlsplit(device_url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    if (parts.hostname or "").lower() == (dev.hostname or "").lower():
        # Same host; drop any user:password@ the device put in.
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    return urlunsplit((dev.scheme, dev.netloc.rpartition("@")[2], parts.path, parts.query, ""))


async def bounded(coro: Any, timeout_s: float) -> Any:
    """Await one device call for at most ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        return await coro
