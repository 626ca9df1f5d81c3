"""Signed image links: the alarm's picture in a notification, without a login.

A Web Push message or an e-mail carries ``/api/v1/alarms/{id}/image?t=TOKEN``. The phone that shows the
notification fetches the picture with no session of its own, so the token is the whole credential. It
is bound to one alarm, one recipient (the user id and the user's ``token_version``, so a password
change or a disabled account ends it) and an expiry of a few minutes, and signed with a key derived
from the site's token key (``DATA/keys/tokens.key``), like every other token of the site. The push
message itself is encrypted to the recipient's browser (RFC 8291), so only the recipient learns it.

The token is short and readable: ``<alarm>.<user>.<token_version>.<expiry>.<mac>``, the MAC an
HMAC-SHA256 over the four numbers in base64url (32 bytes). Nothing in it is secret but the MAC; a token
that does not verify, has expired or names another alarm is refused with the one :class:`InvalidToken`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ronda.access import keys
from ronda.access.tokens import InvalidToken

DEFAULT_TTL_S = 300
MAX_TOKEN_LEN = 120  # 4 numbers of at most 11 digits, 4 dots, a 43-character MAC
_PURPOSE = b"ronda/alarm-image-link/v1"
_SHAPE = re.compile(r"^(\d{1,10})\.(\d{1,10})\.(\d{1,10})\.(\d{1,11})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class LinkClaims:
    alarm_id: int
    user_id: int
    token_version: int
    expires_s: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class ImageLinks:
    """Signs and checks image link tokens with a key derived from the site's token key."""

    def __init__(self, site_key: bytes) -> None:
        if len(site_key) < keys.MIN_KEY_BYTES:
            raise ValueError(f"the site key must be at least {keys.MIN_KEY_BYTES} bytes")
        # A purpose-bound key: an image link can never verify as (or be forged from) any other token.
        self._key = hmac.new(site_key, _PURPOSE, hashlib.sha256).digest()

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def sign(self, alarm_id: int, user_id: int, token_version: int, ttl_s: float = DEFAULT_TTL_S,
             now_s: float | None = None) -> str:  # fmt: skip
        """A token for ``user_id`` to fetch ``alarm_id``'s picture until ``now + ttl_s``."""
        exp = int((time.time() if now_s is None else now_s) + ttl_s)
        body = f"{int(alarm_id)}.{int(user_id)}.{int(token_version)}.{max(exp, 0)}"
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str, alarm_id: int, now_s: float | None = None) -> LinkClaims:
        """The claims of a valid, unexpired token for ``alarm_id``; ``InvalidToken`` otherwise (altered,
        forged, expired, another alarm's: one answer, so a caller learns nothing of why)."""
        m = _SHAPE.match(token or "") if len(token or "") <= MAX_TOKEN_LEN else None
        if m is None:
            raise InvalidToken()
        body = token.rpartition(".")[0]
        if not hmac.compare_digest(self._mac(body), m.group(5)):
            raise InvalidToken()
        claims = LinkClaims(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)))
        if claims.alarm_id != alarm_id or claims.expires_s <= (time.time() if now_s is None else now_s):
            raise InvalidToken()
        return claims


@functools.cache
def _load(path: Path) -> ImageLinks:
    return ImageLinks(keys.load_or_create_key(path))


def image_links(data_dir: Path) -> ImageLinks:
    """The site's signer (the events role signs, the API checks; both read ``DATA/keys/tokens.key``)."""
    return _load(Path(data_dir) / "keys" / "tokens.key")


def image_path(alarm_id: int, token: str) -> str:
    """The link's path and query, relative to the site's public URL."""
    return f"/api/v1/alarms/{int(alarm_id)}/image?t={token}"


__all__ = ["DEFAULT_TTL_S", "MAX_TOKEN_LEN", "ImageLinks", "LinkClaims", "image_links", "image_path"]
