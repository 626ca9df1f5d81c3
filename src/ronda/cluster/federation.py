"""Federation of sites (docs/cluster.md "Federation"): a centre sees the cameras remote sites grant it.

Each site has one Ed25519 federation key (``DATA/keys/federation_ed25519.pem``, created on first use;
``ronda federation key`` prints its public half). The two ends are registered by hand, once:

- at the remote site, the centre is a *peer* (its name and public key) granted camera groups with some of
  the rights ``live``, ``playback``, ``export``, ``alarms``;
- at the centre, the remote is a *site* (name, base URL, its public key) whose groups the centre opens to
  some of its own roles.

Every request of the centre to a remote carries a short-lived token signed with the centre's key (the
centre's name, the central user it acts for, method, path with query, expiry, nonce); the remote checks
the signature with the peer's key, the method and path, the expiry and that the nonce was never seen,
then serves only cameras of the groups granted to that peer, auditing the access under the central user
the token names. The remote signs each answer (nonce + SHA-256 of the body) with its own key, so the
centre knows whom it talks to even over plain HTTP. A health poller marks each remote online/offline and
keeps the list of the cameras it grants (what the centre shows while the remote is down, marked offline).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import logging
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from ronda.access import keys
from ronda.access.rights import ALARMS, EXPORT, LIVE, PLAYBACK, Grant, Permissions
from ronda.access.service import Principal
from ronda.errors import Forbidden, Invalid, NotFound, Unauthenticated, Unavailable
from ronda.store import access_models as am
from ronda.store import guards_repo, repos
from ronda.store.db import Database
from ronda.store.federation_models import FederationPeer, FederationPeerGrant, FederationSite, FederationSiteAccess
from ronda.tasks import cancel_and_wait
from ronda.timeutil import now_ms

log = logging.getLogger(__name__)

KEY_FILE = "federation_ed25519.pem"
TOKEN_HEADER = "x-ronda-federation"  # noqa: S105 - a header's name
SIGNATURE_HEADER = "x-ronda-federation-signature"
# The rights a remote may grant a peer (the others, PTZ, bookmarks..., stay with the remote's own users).
FEDERATION_RIGHTS: tuple[str, ...] = (LIVE, PLAYBACK, EXPORT, ALARMS)
TOKEN_TTL_MS = 30_000  # what the centre signs for
MAX_TOKEN_TTL_MS = 60_000  # what a remote accepts at most (with SKEW_MS of clock difference)
SKEW_MS = 30_000
_REQUEST_CONTEXT = b"ronda-federation-request-v1\n"
_ANSWER_CONTEXT = b"ronda-federation-answer-v1\n"
MAX_TOKEN_CHARS = 4096
STREAMS = ("main", "sub")
ALLOWED_CACHE_S = 10.0  # how long alarm_cameras keeps what the centre opens to a set of roles
FILE_MIN_RATE = 1 << 20  # bytes/s: how long an answer spooled to a file may take at most (its size at this rate)


# --- keys -------------------------------------------------------------------------------------------------
def load_key(keys_dir: Path) -> Ed25519PrivateKey:
    """This site's federation key, created (0600) on first use."""
    return keys.ed25519_key(keys_dir / KEY_FILE)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def public_key_text(key: Ed25519PrivateKey) -> str:
    """The public half as it is exchanged: the raw 32 bytes in base64url (43 characters)."""
    return _b64(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def parse_public_key(text: str) -> Ed25519PublicKey:
    """``Invalid`` unless ``text`` is a public key as ``public_key_text`` writes it."""
    try:
        raw = _unb64(text.strip())
        if len(raw) != 32:
            raise ValueError
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise Invalid("public_key: an Ed25519 public key, 32 bytes in base64url (ronda federation key)") from None


# --- request tokens ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Claims:
    site: str  # the signing (central) site's name
    user: str  # the central user it acts for ("" : the site itself, its health poller)
    method: str
    path: str  # path and query, exactly as sent
    exp_ms: int
    nonce: str
    body: str  # SHA-256 (hex) of the request's body (of b"" without one)


def sign_request(key: Ed25519PrivateKey, site: str, user: str, method: str, path: str, body: bytes = b"",
                 now: int | None = None, ttl_ms: int = TOKEN_TTL_MS) -> tuple[str, str]:  # fmt: skip
    """A token for one request (its body too); returns (token, nonce) (the nonce also binds the answer's
    signature)."""
    nonce = secrets.token_urlsafe(16)
    claims = {"v": 1, "site": site, "user": user, "m": method.upper(), "p": path, "b": hashlib.sha256(body).hexdigest(),
              "exp": (now if now is not None else now_ms()) + ttl_ms, "n": nonce}  # fmt: skip
    payload = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(payload)}.{_b64(key.sign(_REQUEST_CONTEXT + payload))}", nonce


def read_claims(token: str) -> tuple[Claims, bytes, bytes]:
    """The token's claims (not yet verified), its payload and signature; ``Unauthenticated`` if malformed."""
    try:
        if len(token) > MAX_TOKEN_CHARS:
            raise ValueError
        head, _, sig = token.partition(".")
        payload, signature = _unb64(head), _unb64(sig)
        c = json.loads(payload)
        claims = Claims(
            str(c["site"]), str(c["user"]), str(c["m"]), str(c["p"]), int(c["exp"]), str(c["n"]), str(c["b"])
        )
        if c.get("v") != 1 or not claims.nonce or len(claims.nonce) > guards_repo.MAX_NONCE:
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise Unauthenticated("invalid federation token") from None
    return claims, payload, signature


class Nonces(Protocol):
    def first_use(self, nonce: str, exp_ms: int, now: int) -> bool: ...


class NonceCache:
    """Nonces of tokens accepted and not yet expired, in this process only (tests and tools: a site's API
    nodes share ``SharedNonces``)."""

    def __init__(self, limit: int = 200_000) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._limit = limit

    def first_use(self, nonce: str, exp_ms: int, now: int) -> bool:
        with self._lock:
            if len(self._seen) >= self._limit // 2:
                self._seen = {n: e for n, e in self._seen.items() if e > now}
            if nonce in self._seen or len(self._seen) >= self._limit:
                return False
            self._seen[nonce] = exp_ms
            return True


class SharedNonces:
    """Nonces of accepted tokens in the site's database (``federation_nonces``): a token is good for one
    request on whichever API node of the site it reaches. The insert is the check (primary key: of two nodes
    given the same token at once, one inserts). Rows live until the token could not pass the expiry check
    anyway, plus ``PRUNE_MARGIN_MS`` for clock differences between the nodes; only a peer's validly signed
    tokens get this far, so the table holds about a minute of the peers' requests."""

    PRUNE_MARGIN_MS = 60_000

    def __init__(self, db: Database) -> None:
        self.db = db

    def first_use(self, nonce: str, exp_ms: int, now: int) -> bool:
        with self.db.session() as s:
            guards_repo.prune_nonces(s, now - self.PRUNE_MARGIN_MS)
            return guards_repo.first_nonce_use(s, nonce, exp_ms)


class ViewWindow:
    """Repeated views (a remote picture refreshed every few seconds) are audited once per ``window_s`` per
    viewer and camera, as local snapshots are (``AuditLog``'s coalescing, which keys on a local camera id
    the centre does not have for a remote camera)."""

    def __init__(self, window_s: float = 60.0, limit: int = 100_000) -> None:
        self.window_ms = int(window_s * 1000)
        self._last: dict[tuple[str, ...], int] = {}
        self._lock = threading.Lock()
        self._limit = limit

    def first(self, *key: str, now: int | None = None) -> bool:
        """Whether this view opens a new window (then audit it)."""
        now = now if now is not None else now_ms()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.window_ms:
                return False
            if len(self._last) >= self._limit:
                self._last = {k: t for k, t in self._last.items() if now - t < self.window_ms}
            self._last[key] = now
            return True


@dataclass(frozen=True, slots=True)
class PeerCall:
    """A verified request of a peer site: who signed it, for which central user, with what it may reach."""

    peer: str
    user: str
    nonce: str
    principal: Principal  # the peer's grants as camera rights, for the features that take a Principal
    groups: dict[int, list[str]]  # camera id → names of the granted groups it is in

    @property
    def actor(self) -> str:
        """How the remote's audit names the access: the central user, at the peer site."""
        return f"{self.user or '-'}@{self.peer}"


def verify_request(s: Session, nonces: Nonces, token: str | None, method: str, path: str, body: bytes,
                   source_ip: str | None, now: int | None = None) -> PeerCall:  # fmt: skip
    """The peer call behind ``token`` for exactly this method, path and body; ``Unauthenticated`` for a
    token that is missing, malformed, of an unknown peer, forged, for another request, expired, too
    long-lived or replayed."""
    if not token:
        raise Unauthenticated("a signed federation token is needed")
    now = now if now is not None else now_ms()
    claims, payload, signature = read_claims(token)
    peer = s.scalar(select(FederationPeer).where(FederationPeer.name == claims.site))
    refused = Unauthenticated("invalid federation token")
    if peer is None:
        raise refused
    try:
        parse_public_key(peer.public_key).verify(signature, _REQUEST_CONTEXT + payload)
    except (InvalidSignature, Invalid):
        raise refused from None
    if claims.method != method.upper() or claims.path != path or claims.body != hashlib.sha256(body).hexdigest():
        raise refused
    if not now - SKEW_MS < claims.exp_ms <= now + MAX_TOKEN_TTL_MS + SKEW_MS:
        raise Unauthenticated("expired federation token")
    if not nonces.first_use(claims.nonce, claims.exp_ms + SKEW_MS, now):
        raise Unauthenticated("federation token already used")
    grants, groups = peer_grants(s, peer.id)
    p = Principal(user_id=0, username=f"{claims.user or '-'}@{peer.name}", roles=[], organisation_id=None,
                  permissions=Permissions(grants), via="federation", source_ip=source_ip)  # fmt: skip
    return PeerCall(peer.name, claims.user, claims.nonce, p, groups)


def granted_cameras(db: Database, call: PeerCall) -> list[dict[str, Any]]:
    """What a remote tells its peer of the cameras it grants it: id, name, the granted groups and rights
    (cameras without any right left out) and the streams each records (what its live view can show)."""
    with db.session() as s:
        cams = {c.id: c for c in repos.list_cameras(s) if c.id in call.groups}
        out = []
        for cid in sorted(call.groups):
            cam = cams.get(cid)
            rights = sorted(call.principal.rights_for(cid))
            if cam is None or not rights:
                continue
            streams = sorted(st.kind for st in cam.streams if st.record and st.kind in STREAMS)
            out.append({"id": cid, "name": cam.name, "groups": sorted(call.groups[cid]), "rights": rights,
                        "streams": streams})  # fmt: skip
    return out


def peer_permissions(db: Database, peer_name: str) -> Permissions | None:
    """The peer's grants as they are now, or None when the peer is no longer registered."""
    with db.session() as s:
        peer = s.scalar(select(FederationPeer).where(FederationPeer.name == peer_name))
        if peer is None:
            return None
        grants, _ = peer_grants(s, peer.id)
    return Permissions(grants)


def peer_grants(s: Session, peer_id: int) -> tuple[list[Grant], dict[int, list[str]]]:
    """The peer's grants as camera rights on the cameras of its granted groups (read now: a group's new
    camera is granted at once), and each camera's granted group names."""
    rows = s.execute(
        select(FederationPeerGrant.rights, am.CameraGroup.id, am.CameraGroup.name)
        .join(am.CameraGroup, am.CameraGroup.id == FederationPeerGrant.camera_group_id)
        .where(FederationPeerGrant.peer_id == peer_id)
    ).all()
    grants: list[Grant] = []
    groups: dict[int, list[str]] = {}
    for rights, gid, gname in rows:
        cams = set(s.scalars(select(am.CameraGroupMember.camera_id).where(am.CameraGroupMember.group_id == gid)))
        allowed = frozenset(r for r in (rights or []) if r in FEDERATION_RIGHTS)
        if allowed and cams:
            grants.append(Grant(allowed, False, frozenset(cams)))
        for c in cams:
            groups.setdefault(c, []).append(gname)
    return grants, groups


def sign_answer(key: Ed25519PrivateKey, nonce: str, body: bytes) -> str:
    return sign_digest(key, nonce, hashlib.sha256(body).digest())


def sign_digest(key: Ed25519PrivateKey, nonce: str, digest: bytes) -> str:
    """The answer's signature from the SHA-256 of its body (a file hashed as it is read, not held whole)."""
    return _b64(key.sign(_ANSWER_CONTEXT + nonce.encode() + b"\n" + digest))


def answer_is_signed(public: Ed25519PublicKey, nonce: str, body: bytes, signature: str | None) -> bool:
    return digest_is_signed(public, nonce, hashlib.sha256(body).digest(), signature)


def digest_is_signed(public: Ed25519PublicKey, nonce: str, digest: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    try:
        public.verify(_unb64(signature), _ANSWER_CONTEXT + nonce.encode() + b"\n" + digest)
    except (InvalidSignature, ValueError):
        return False
    return True


# --- the centre: remote sites, their state and the proxied calls --------------------------------------------
@dataclass
class SiteState:
    id: int
    name: str
    url: str
    public_key: str
    online: bool = False
    checked_ms: int | None = None  # last poll (answered or not)
    last_ok_ms: int | None = None
    error: str | None = None
    cameras: list[dict[str, Any]] = field(default_factory=list)  # what it grants this centre, last known

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "url": self.url, "online": self.online,
                "checked_ms": self.checked_ms, "last_ok_ms": self.last_ok_ms, "error": self.error,
                "cameras": len(self.cameras)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    media_type: str
    body: bytes  # empty when the answer went to a file (``Federation.call(into=...)``)

    def json(self) -> Any:
        return json.loads(self.body)


class AlarmFeedLike(Protocol):
    """What the centre runs beside its poller (``federation_alarms.AlarmFeed``)."""

    def sync(self, sites: dict[int, SiteState]) -> None: ...

    async def stop(self) -> None: ...

    def watch(self, fn: Callable[[int, dict[str, Any] | None], None]) -> None: ...

    def unwatch(self, fn: Callable[[int, dict[str, Any] | None], None]) -> None: ...


class Federation:
    """The centre's side: the remote sites, polled for health and granted cameras, and signed calls to
    them. Bounded: every call has a timeout and a size limit; an unreachable site answers 503 at once
    (never a hung request) and shows offline."""

    def __init__(self, db: Database, key: Ed25519PrivateKey, name: str, *, poll_seconds: float = 2.0,
                 timeout_seconds: float = 3.0, max_json_bytes: int = 4 << 20,
                 max_media_bytes: int = 64 << 20, max_export_bytes: int = 4 << 30,
                 spool_dir: Path | None = None) -> None:  # fmt: skip
        self.db = db
        self.key = key
        self.name = name
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.max_json_bytes = max_json_bytes
        self.max_media_bytes = max_media_bytes
        self.max_export_bytes = max_export_bytes  # a package is spooled to disk (spool_dir), not held in memory
        self.spool_dir = spool_dir or Path(tempfile.gettempdir())
        self.nonces: Nonces = SharedNonces(db)  # this site as a remote: tokens its peers sent, on any node
        self.views = ViewWindow()  # remote pictures, audited once a minute per viewer and camera
        self.sites: dict[int, SiteState] = {}
        self._allowed_cache: dict[tuple[tuple[str, ...], frozenset[str]], tuple[float, Any]] = {}
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # The remotes' alarm changes, pushed: cluster/federation_alarms.py attaches its feed (attach()).
        self.alarm_feed: AlarmFeedLike | None = None

    # life cycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._clear_spool)
        self.reload()
        timeout = httpx.Timeout(self.timeout_seconds)
        # Answers uncompressed only: a site's compressed answer could expand far past the bounds when read.
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False,
                                         headers={"accept-encoding": "identity"})  # fmt: skip
        self._task = asyncio.create_task(self._poll_forever(), name="federation-poll")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self.alarm_feed is not None:
            await self.alarm_feed.stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def reload(self, wake: bool = True) -> None:
        """The sites from the database, keeping what is known of them: after a change through the API (then
        polled at once) and before each poll (a change by the CLI, or through another API node)."""
        with self.db.session() as s:
            rows = s.scalars(select(FederationSite).order_by(FederationSite.name)).all()
            fresh = {r.id: (r.name, r.url, r.public_key) for r in rows}
        sites: dict[int, SiteState] = {}
        for sid, (name, url, key) in fresh.items():
            old = self.sites.get(sid)
            keep = old is not None and (old.name, old.url, old.public_key) == (name, url, key)
            sites[sid] = old if keep and old is not None else SiteState(sid, name, url, key)
        self.sites = sites  # replaced whole: readers in other threads iterate the dict they got
        if wake:  # a change through the API: what roles are opened to may have changed too
            self._allowed_cache = {}
            self._poke()

    def _poke(self) -> None:
        """Poll now (a site was added or changed): from the event loop or from a route's worker thread
        (an ``asyncio.Event`` is set from its own loop only)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def _poll_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await asyncio.to_thread(self.reload, False)
            except Exception:  # a database hiccup must not end the poller: the sites stay as they were
                log.exception("federation: reading the remote sites failed")
            await asyncio.gather(*(self.poll(st) for st in list(self.sites.values())))
            if self.alarm_feed is not None:
                self.alarm_feed.sync(self.sites)
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass

    async def poll(self, st: SiteState) -> None:
        """One health check: the cameras the site grants this centre (as the site itself, not audited)."""
        try:
            answer = await self.call(st, "GET", "/api/v1/federation/peer/cameras", user="")
            if answer.status != 200:
                raise Unavailable(f"the site answered {answer.status}")
            st.cameras = clean_cameras(answer.json())
            st.online, st.error, st.last_ok_ms = True, None, now_ms()
        except Unavailable as e:
            st.online, st.error = False, e.detail if isinstance(e.detail, str) else str(e.detail)
        except ValueError:
            st.online, st.error = False, "the site's answer is not JSON"
        st.checked_ms = now_ms()

    def http_client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise Unavailable("federation is not running")
        return self._client

    def site(self, site_id: int) -> SiteState:
        st = self.sites.get(site_id)
        if st is None:
            raise NotFound("remote site")
        return st

    def _clear_spool(self, older_than_s: float = 86_400) -> None:
        """Spooled answers a crash left behind (a day old: another node sharing the directory may be using
        its own now)."""
        cutoff = time.time() - older_than_s
        for p in self.spool_dir.glob("federation-*.part"):
            with contextlib.suppress(OSError):
                if p.stat().st_mtime < cutoff:
                    p.unlink()

    def spool_file(self) -> Path:
        """A new file name for an answer spooled to disk (``call(into=...)``; the caller removes it)."""
        self.spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.spool_dir / f"federation-{secrets.token_hex(8)}.part"

    async def call(self, st: SiteState, method: str, path: str, *, user: str, params: dict[str, Any] | None = None,
                   json_body: Any = None, max_bytes: int | None = None, wait_s: float = 0.0,
                   into: Path | None = None) -> Answer:  # fmt: skip
        """One signed request to the remote; its answer read up to ``max_bytes`` and checked against the
        remote's key. ``Unavailable`` (503) when the site cannot be reached, times out, answers too much or
        unsigned. A site that cannot be connected to, or answers unsigned, is offline until its next good
        answer; a slow answer fails only its request (the poller judges the site). ``wait_s``: how long the
        remote may take before it answers at all (a live playlist waits for the camera's first segment).
        ``into``: a successful answer's body goes to this file, hashed as it is written, instead of memory
        (an export package: any size up to ``max_bytes``); it is removed when the answer fails or is not
        signed, and the whole exchange may then take as long as the size needs at ``FILE_MIN_RATE``, as long
        as data keeps coming (each read within the timeout)."""
        if self._client is None:
            raise Unavailable("federation is not running")
        query = urlencode(sorted((k, str(v)) for k, v in (params or {}).items() if v is not None))
        full = path + (f"?{query}" if query else "")
        content = json.dumps(json_body, separators=(",", ":")).encode() if json_body is not None else b""
        token, nonce = sign_request(self.key, self.name, user, method, full, content)
        headers = {TOKEN_HEADER: token, **({"content-type": "application/json"} if content else {})}
        limit = max_bytes or self.max_json_bytes
        url = st.url.rstrip("/") + full
        timeout = httpx.Timeout(self.timeout_seconds, read=self.timeout_seconds + wait_s)
        whole = self.timeout_seconds * 3 + wait_s + (limit / FILE_MIN_RATE if into is not None else 0.0)
        digest = hashlib.sha256()
        try:
            async with asyncio.timeout(whole):  # the whole exchange, body included
                async with self._client.stream(method, url, headers=headers, content=content or None,
                                               timeout=timeout) as r:  # fmt: skip
                    declared = r.headers.get("content-length")
                    if declared is not None and declared.isdigit() and int(declared) > limit:
                        raise Unavailable(f"the answer of site {st.name} is too large")
                    ok = 200 <= r.status_code < 300
                    if ok and r.headers.get("content-encoding", "identity").lower() != "identity":
                        raise Unavailable(f"site {st.name} answered compressed")
                    sink = into.open("wb") if into is not None and ok else None
                    chunks: list[bytes] = []
                    size = 0
                    try:
                        async for chunk in r.aiter_raw():
                            size += len(chunk)
                            if size > limit:
                                raise Unavailable(f"the answer of site {st.name} is too large")
                            digest.update(chunk)
                            if sink is not None:
                                await asyncio.to_thread(sink.write, chunk)
                            else:
                                chunks.append(chunk)
                    finally:
                        if sink is not None:
                            sink.close()
                    body = b"".join(chunks)
                    status, media, signature = (
                        r.status_code,
                        r.headers.get("content-type", ""),
                        r.headers.get(SIGNATURE_HEADER),
                    )
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            self._drop(into)
            st.online, st.error, st.checked_ms = False, f"unreachable: {type(e).__name__}", now_ms()
            raise Unavailable(f"site {st.name} is unreachable", retry_after=5) from None
        except OSError as e:
            self._drop(into)
            if into is not None and not isinstance(e, ConnectionError):  # the spool's disk, not the site
                raise Unavailable("the centre has no room for the answer now", retry_after=30) from None
            st.online, st.error, st.checked_ms = False, f"unreachable: {type(e).__name__}", now_ms()
            raise Unavailable(f"site {st.name} is unreachable", retry_after=5) from None
        except (httpx.HTTPError, TimeoutError) as e:
            self._drop(into)
            raise Unavailable(f"site {st.name} did not answer in time ({type(e).__name__})", retry_after=5) from None
        except BaseException:
            self._drop(into)
            raise
        if not 200 <= status < 300:
            # A refusal is not signed (the remote's error handler answers it): only its status is used,
            # never its body, so a forged one can refuse, never show anything.
            return Answer(status, "", b"")
        if not digest_is_signed(parse_public_key(st.public_key), nonce, digest.digest(), signature):
            self._drop(into)
            st.online, st.error = False, "its answer is not signed by its key"
            raise Unavailable(f"the answer of site {st.name} is not signed by its key")
        return Answer(status, media.split(";")[0].strip(), body)

    @staticmethod
    def _drop(path: Path | None) -> None:
        if path is not None:
            path.unlink(missing_ok=True)

    # who at the centre may use what
    def allowed_groups(self, s: Session, caller: Principal, site_id: int) -> dict[str, frozenset[str]]:
        """Remote group name → the rights the caller's roles give on it (the centre's limit), further limited
        to the rights the caller holds now (time profiles, an API key's scope)."""
        return self._allowed_by_site(s, caller, site_id).get(site_id, {})

    @staticmethod
    def _allowed_by_site(s: Session, caller: Principal,
                         site_id: int | None = None) -> dict[int, dict[str, frozenset[str]]]:  # fmt: skip
        """``allowed_groups`` of one site, or of every site (one query)."""
        held = caller.permissions.all_rights(now_ms()) & set(FEDERATION_RIGHTS)
        mine = set(caller.roles)
        if not held or not mine:
            return {}
        q = (
            select(FederationSiteAccess.site_id, FederationSiteAccess.remote_group, am.Role.rights)
            .join(am.Role, am.Role.id == FederationSiteAccess.role_id)
            .where(am.Role.name.in_(sorted(mine)))
        )
        if site_id is not None:
            q = q.where(FederationSiteAccess.site_id == site_id)
        out: dict[int, dict[str, set[str]]] = {}
        for sid, group, rights in s.execute(q).all():
            out.setdefault(sid, {}).setdefault(group, set()).update(r for r in (rights or []) if r in held)
        return {sid: {g: frozenset(r) for g, r in groups.items() if r} for sid, groups in out.items()}

    def cameras_for(self, caller: Principal) -> list[dict[str, Any]]:
        """Per remote site: its state and the cameras the caller may use there, each with its rights (what
        the remote grants ∩ what the centre gives the caller's roles on the camera's groups)."""
        out = []
        with self.db.session() as s:
            by_site = self._allowed_by_site(s, caller)
        for st in sorted(self.sites.values(), key=lambda x: x.name):
            allowed = by_site.get(st.id, {})
            cams = []
            for c in st.cameras:
                rights = self._rights(c, allowed)
                if rights:
                    cams.append({"id": c["id"], "name": c["name"], "groups": [g for g in c["groups"] if g in allowed],
                                 "rights": rights, "streams": c.get("streams", [])})  # fmt: skip
            if cams or allowed:
                out.append({"id": st.id, "name": st.name, "online": st.online, "cameras": cams})
        return out

    @staticmethod
    def _rights(camera: dict[str, Any], allowed: dict[str, frozenset[str]]) -> list[str]:
        central: set[str] = set()
        for g in _strings(camera.get("groups")):
            central |= allowed.get(g, frozenset())
        remote = set(_strings(camera.get("rights")))
        return [r for r in FEDERATION_RIGHTS if r in central and r in remote]

    def check(self, caller: Principal, site_id: int, camera_id: int, right: str) -> SiteState:
        """The site, when the caller may use ``right`` on its camera; ``NotFound`` for a camera (or site)
        the caller cannot see, ``Forbidden`` without the right."""
        st = self.site(site_id)
        with self.db.session() as s:
            allowed = self.allowed_groups(s, caller, site_id)
        cam = next((c for c in st.cameras if c.get("id") == camera_id), None)
        rights = self._rights(cam, allowed) if cam is not None else []
        if not rights:
            raise NotFound("camera")
        if right not in rights:
            raise Forbidden(f"the '{right}' right on this remote camera is needed")
        return st

    def alarm_cameras(self, caller: Principal) -> dict[int, frozenset[int]]:
        """Per remote site, the ids of its cameras on which the caller has the alarms right (sites with none
        left out): whom a pushed remote alarm change is for."""
        sites = list(self.sites.values())
        if not sites:
            return {}
        # Every events socket asks this every few seconds: what the centre opens to a set of roles is read
        # once per ALLOWED_CACHE_S for all the users who have those roles and rights now.
        held = caller.permissions.all_rights(now_ms()) & set(FEDERATION_RIGHTS)
        key = (tuple(sorted(caller.roles)), frozenset(held))
        cached = self._allowed_cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < ALLOWED_CACHE_S:
            by_site = cached[1]
        else:
            with self.db.session() as s:
                by_site = self._allowed_by_site(s, caller)
            if len(self._allowed_cache) >= 1000:
                self._allowed_cache.clear()
            self._allowed_cache[key] = (time.monotonic(), by_site)
        out: dict[int, frozenset[int]] = {}
        for st in sites:
            allowed = by_site.get(st.id)
            ids = frozenset(int(c["id"]) for c in st.cameras if allowed and ALARMS in self._rights(c, allowed))
            if ids:
                out[st.id] = ids
        return out

    def check_site(self, caller: Principal, site_id: int, right: str) -> tuple[SiteState, set[int]]:
        """The site and the ids of its cameras on which the caller has ``right`` (``NotFound`` for none)."""
        st = self.site(site_id)
        with self.db.session() as s:
            allowed = self.allowed_groups(s, caller, site_id)
        ids = {int(c["id"]) for c in st.cameras if isinstance(c.get("id"), int) and right in self._rights(c, allowed)}
        if not allowed:
            raise NotFound("remote site")
        if not ids:
            raise Forbidden(f"the '{right}' right on a camera of this remote site is needed")
        return st, ids


MAX_REMOTE_CAMERAS = 10_000
_PLAYLIST_URI = re.compile(r"^(init-[0-9]{1,10}\.mp4|[0-9]{1,19}\.m4s)$")
_PLAYLIST_MAP = re.compile(r'^#EXT-X-MAP:URI="(init-[0-9]{1,10}\.mp4)"$')


def relative_playlist(body: bytes) -> bool:
    """Whether a remote's live playlist names only its own parts, relatively (``init-N.mp4``, ``N.m4s``):
    passed on as it is, it then leads a player to the centre's routes and nowhere else."""
    try:
        lines = body.decode("ascii").splitlines()
    except UnicodeDecodeError:
        return False
    if not lines or lines[0] != "#EXTM3U":
        return False
    for line in lines:
        if line.startswith("#EXT-X-MAP"):
            if not _PLAYLIST_MAP.match(line):
                return False
        elif line.startswith("#") or not line:
            if "URI=" in line:
                return False
        elif not _PLAYLIST_URI.match(line):
            return False
    return True


def clean_cameras(data: Any) -> list[dict[str, Any]]:
    """A remote's camera list as the centre keeps it: entries of the expected shape only (an id, a name
    of at most 200 characters, lists of names), whatever the remote sent; ``Unavailable`` when it is no
    list at all. What a remote answers never reaches a user's answer unchecked."""
    if not isinstance(data, list):
        raise Unavailable("the site's camera list is not a list")
    out: list[dict[str, Any]] = []
    for c in data[:MAX_REMOTE_CAMERAS]:
        if not isinstance(c, dict) or type(c.get("id")) is not int or not isinstance(c.get("name"), str):
            continue
        if not 1 <= c["id"] < 2**31:
            continue
        out.append({"id": c["id"], "name": c["name"][:200], "groups": [g[:200] for g in _strings(c.get("groups"))],
                    "rights": [r for r in _strings(c.get("rights")) if r in FEDERATION_RIGHTS],
                    "streams": [k for k in STREAMS if k in _strings(c.get("streams"))]})  # fmt: skip
    return out


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value if isinstance(v, str)] if isinstance(value, list) else []
