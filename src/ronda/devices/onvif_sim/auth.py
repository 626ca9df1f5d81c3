"""Authentication of the simulated ONVIF devices: WS-UsernameToken (PasswordDigest) and HTTP Digest.

PasswordText is refused: the simulator speaks plain HTTP, where it would send the password in clear.
The token's ``Created`` must be within :data:`FRESHNESS` seconds of the *camera's* clock (its offset
included), and a nonce is accepted once, so a client that ignores a camera's clock skew fails here as
it would on a real camera.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Mapping

from ronda.devices.onvif_sim.soap import Request, SoapFault, local, q

FRESHNESS = 60.0  # seconds either side of the camera's clock
DIGEST_NONCE_TTL = 300.0
REALM = "ronda-sim"
PASSWORD_DIGEST = "#PasswordDigest"  # noqa: S105  (a token type name)
PASSWORD_TEXT = "#PasswordText"  # noqa: S105


class Credentials:
    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self._secret = os.urandom(16)
        self._seen: dict[str, float] = {}  # WS-Security nonces inside the freshness window
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ WS-UsernameToken

    def check_ws(self, req: Request, camera_now: float) -> bool:
        """True when the request carries a valid UsernameToken, False when it carries none; raises a
        ter:NotAuthorized fault when it carries a wrong one."""
        token = None
        if req.header is not None:
            security = req.header.find(q("wsse", "Security"))
            token = None if security is None else security.find(q("wsse", "UsernameToken"))
        if token is None:
            return False
        fields = {local(el.tag): el for el in token}
        password = fields.get("Password")
        username = (fields["Username"].text or "").strip() if "Username" in fields else ""
        if password is None:
            raise SoapFault("ter:NotAuthorized", "the UsernameToken has no password")
        kind = password.get("Type", PASSWORD_TEXT)
        if kind.endswith(PASSWORD_TEXT):
            raise SoapFault("ter:NotAuthorized", "PasswordText is refused over plain HTTP: use PasswordDigest")
        if not kind.endswith(PASSWORD_DIGEST):
            raise SoapFault("ter:NotAuthorized", f"unsupported password type {kind}")
        nonce_text = (fields["Nonce"].text or "") if "Nonce" in fields else ""
        created = (fields["Created"].text or "").strip() if "Created" in fields else ""
        try:
            nonce = base64.b64decode(nonce_text, validate=True)
            when = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
        except (binascii.Error, ValueError):
            raise SoapFault("ter:NotAuthorized", "the UsernameToken's nonce or created time is malformed") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        skew = when.timestamp() - camera_now
        if abs(skew) > FRESHNESS:
            raise SoapFault("ter:NotAuthorized", f"the UsernameToken was created {skew:+.0f} s from the camera's clock")
        expected = base64.b64encode(
            hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()  # noqa: S324  (the WS-Security standard)
        ).decode()
        given = (password.text or "").strip()
        if username != self.username or not hmac.compare_digest(expected, given):
            raise SoapFault("ter:NotAuthorized", "wrong username or password")
        now = time.monotonic()
        with self._lock:
            self._seen = {n: t for n, t in self._seen.items() if now - t < 2 * FRESHNESS}
            if nonce_text in self._seen:
                raise SoapFault("ter:NotAuthorized", "the UsernameToken's nonce was used before")
            self._seen[nonce_text] = now
        return True

    # ------------------------------------------------------------------ HTTP Digest (RFC 7616)

    def _nonce(self, issued: int) -> str:
        mac = hmac.new(self._secret, str(issued).encode(), hashlib.sha256).hexdigest()[:24]
        return f"{issued}-{mac}"

    def challenge(self) -> str:
        return f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{self._nonce(int(time.time()))}"'

    def check_digest(self, header: str | None, method: str, uri: str) -> bool:
        """True for a valid ``Authorization: Digest`` header, False without one; raises a fault (HTTP 401)
        for a wrong one."""
        if not header or not header.lower().startswith("digest "):
            return False
        params = _parse_digest(header[7:])
        nonce = params.get("nonce", "")
        issued, _, _ = nonce.partition("-")
        fail = SoapFault("ter:NotAuthorized", "wrong username or password (HTTP Digest)", status=401)
        if not issued.isdigit() or not hmac.compare_digest(self._nonce(int(issued)), nonce):
            raise fail
        if time.time() - int(issued) > DIGEST_NONCE_TTL or params.get("uri") != uri:
            raise fail
        algorithm = params.get("algorithm", "MD5").upper().replace("-", "")
        if algorithm not in ("MD5", "SHA256"):
            raise fail
        h = hashlib.md5 if algorithm == "MD5" else hashlib.sha256

        def hexh(s: str) -> str:
            return h(s.encode()).hexdigest()

        ha1 = hexh(f"{params.get('username', '')}:{REALM}:{self.password}")
        ha2 = hexh(f"{method}:{uri}")
        if params.get("qop") == "auth":
            expected = hexh(f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}")
        else:
            expected = hexh(f"{ha1}:{nonce}:{ha2}")
        if params.get("username") != self.username or not hmac.compare_digest(expected, params.get("response", "")):
            raise fail
        return True


def _parse_digest(text: str) -> Mapping[str, str]:
    out: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " ,":
            i += 1
        eq = text.find("=", i)
        if eq < 0:
            break
        key = text[i:eq].strip().lower()
        i = eq + 1
        if i < n and text[i] == '"':
            end = text.find('"', i + 1)
            end = n if end < 0 else end
            out[key] = text[i + 1 : end]
            i = end + 1
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            out[key] = text[i:end].strip()
            i = end
    return out
