"""Camera URL rules: which URLs are accepted, how credentials go in, how they are hidden.

Camera URLs reach ffmpeg as one argument (never a shell) and only with an RTSP protocol allow-list,
but they are still checked here first so that an operator gets a clear 422 instead of a recorder
that silently fails.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import quote, urlsplit, urlunsplit

from ronda.logs import redact  # noqa: F401  (re-exported: callers hide credentials in ffmpeg output)

ALLOWED_SCHEMES = ("rtsp", "rtsps")
# ffmpeg protocols the recorder may use for a camera; keeps file:, concat:, http: and friends out
# even if a URL slipped through validation.
FFMPEG_PROTOCOL_WHITELIST = "rtsp,rtsps,rtp,srtp,tcp,udp,tls"

_HOST_RE = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_PATH_OK = re.compile(r"^[A-Za-z0-9/._~\-%=&?+,;:@!$]*$")


class CameraUrlError(ValueError):
    """The URL cannot be used for a camera; the message says why."""


def validate_camera_url(url: str) -> str:
    """Return the normalised URL, or raise CameraUrlError.

    Credentials are not allowed inside the URL: they go in separate fields so that they can be
    encrypted at rest and never printed.
    """
    if not isinstance(url, str) or not url.strip():
        raise CameraUrlError("url is empty")
    url = url.strip()
    if len(url) > 2048:
        raise CameraUrlError("url is longer than 2048 characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise CameraUrlError("url contains spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise CameraUrlError(f"url is malformed: {e}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme or "(none)"
        raise CameraUrlError(f"url scheme {shown!r} is not allowed; use rtsp:// or rtsps://")
    if parts.username is not None or parts.password is not None:
        raise CameraUrlError("put credentials in the username/password fields, not in the url")
    host = parts.hostname
    if not host:
        raise CameraUrlError("url has no host")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_RE.match(host):
            raise CameraUrlError(f"url host {host!r} is not a valid host name or address") from None
    try:
        port = parts.port
    except ValueError:
        raise CameraUrlError("url port is not a number between 0 and 65535") from None
    if port == 0:
        raise CameraUrlError("url port must be between 1 and 65535")
    rest = parts.path + ("?" + parts.query if parts.query else "")
    if not _PATH_OK.match(rest) or parts.fragment:
        raise CameraUrlError("url path contains characters that are not allowed (quotes, |, `, $(, …)")
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


def url_with_credentials(url: str, username: str | None, password: str | None) -> str:
    """Insert percent-encoded credentials (``@:#%`` in passwords must survive)."""
    if not username:
        return url
    parts = urlsplit(url)
    cred = quote(username, safe="")
    if password:
        cred += ":" + quote(password, safe="")
    netloc = f"{cred}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = 322 if parts.scheme == "rtsps" else 554
    return parts.hostname or "", parts.port or default


def url_with_host(url: str, address: str) -> str:
    """``url`` aimed at ``address`` (an IP checked by ronda.access.netguard) instead of its host name,
    keeping credentials and port, so that the connection goes where the check looked."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
