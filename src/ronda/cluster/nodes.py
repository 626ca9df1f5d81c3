"""Node to node: an API node fetches live view and recent footage from the node that records the camera.

API nodes are stateless: any of them answers any request. Live view and the segments still on a recorder's
own disk (``segments.location == "local"``) are only on that recorder, so the API node asks it, at its
``nodes.url`` (``cluster.advertise_url``), under ``/internal/v1`` (``ronda.api.routes.internal``).

Those internal calls carry no user credentials: the API node has checked the user's right already. They
are signed instead, with a key every node of the site derives from the same ``keys/secrets.key`` (the
deployment copies the keys directory to every node): an HMAC over the method, the path and an expiry a
minute ahead. A request without a valid signature is refused; a signature is good for one path only and
for a minute, so a URL seen in a log is of no use for long.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
from sqlalchemy import select

from ronda.errors import NotFound, Unavailable
from ronda.store.cluster_models import CameraLease, Node
from ronda.store.db import Database
from ronda.store.models import Segment
from ronda.timeutil import now_ms

log = logging.getLogger(__name__)

INTERNAL = "/internal/v1"
SIGNATURE_TTL_S = 60
CLOCK_SKEW_S = 30  # nodes' clocks may differ a little (NTP); an expiry further ahead is refused
KEY_LABEL = b"ronda node-to-node URL signing v1"
CACHE_BYTES = 2 << 30  # fetched segments kept on an API node (least recently used go first)
FETCH_TIMEOUT_S = 30.0


class SignatureError(Exception):
    """An internal request without a valid signature (missing, expired, for another path, forged)."""


class UrlSigner:
    """Signs and checks internal URLs: HMAC-SHA256 over ``METHOD path expiry``."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_site_key(cls, secrets_key: bytes) -> UrlSigner:
        """Derived from ``keys/secrets.key`` (SecretBox's key), which every node of a site holds: no new
        secret to distribute, and the derived key reveals nothing of the one that decrypts passwords."""
        return cls(hmac.new(secrets_key, KEY_LABEL, hashlib.sha256).digest())

    def _mac(self, method: str, path: str, expires: int) -> str:
        msg = f"{method.upper()} {path} {expires}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def query(self, path: str, method: str = "GET", ttl_s: int = SIGNATURE_TTL_S, now: float | None = None) -> str:
        expires = int(now if now is not None else time.time()) + ttl_s
        return urlencode({"exp": expires, "sig": self._mac(method, path, expires)})

    def verify(self, method: str, path: str, exp: str | None, sig: str | None, now: float | None = None) -> None:
        if not exp or not sig:
            raise SignatureError("an internal URL must be signed")
        try:
            expires = int(exp)
        except ValueError:
            raise SignatureError("malformed expiry") from None
        t = now if now is not None else time.time()
        if expires < t:
            raise SignatureError("the signature has expired")
        if expires > t + SIGNATURE_TTL_S + CLOCK_SKEW_S:
            raise SignatureError("the signature's expiry is too far ahead")
        if not hmac.compare_digest(self._mac(method, path, expires), sig):
            raise SignatureError("bad signature")


@dataclass(frozen=True, slots=True)
class Peer:
    """Another node of the site, as the ``nodes`` table knows it."""

    name: str
    url: str  # without a trailing slash


@dataclass(frozen=True, slots=True)
class FetchedSegment:
    path: Path
    start_ms: int
    end_ms: int


def lease_holder(db: Database, camera_id: int) -> str | None:
    """The node holding the camera's lease now (None: free, expired or never taken)."""
    with db.session() as s:
        lease = s.get(CameraLease, camera_id)
        if lease is None or lease.node is None or lease.expires_ms < now_ms():
            return None
        return lease.node


def peer(db: Database, name: str) -> Peer | None:
    with db.session() as s:
        node = s.scalar(select(Node).where(Node.name == name))
        if node is None or not node.url:
            return None
        return Peer(node.name, node.url.rstrip("/"))


class NodeClient:
    """This node's side of node-to-node traffic: which node to ask, signed requests, fetched segments.

    ``records_here(camera_id)``: this process records the camera (its live view is local)."""

    def __init__(
        self,
        db: Database,
        signer: UrlSigner,
        me: str,
        cache_dir: Path,
        records_here: Callable[[int], bool] | None = None,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.db = db
        self.signer = signer
        self.me = me
        self.cache_dir = cache_dir
        self.records_here = records_here or (lambda _camera_id: False)
        self.cache_bytes = cache_bytes
        self._lock = threading.Lock()
        self._http: httpx.AsyncClient | None = None

    # --- which node -------------------------------------------------------------------------------
    def live_peer(self, camera_id: int) -> Peer | None:
        """The node to ask for this camera's live view; None when it is this one (or nobody records it:
        the local path then answers as it always did)."""
        if self.records_here(camera_id):
            return None
        holder = lease_holder(self.db, camera_id)
        if holder is None or holder == self.me:
            return None
        found = peer(self.db, holder)
        if found is None:
            raise Unavailable(f"node {holder} records this camera but has no advertised URL", retry_after=5)
        return found

    def signed_url(self, p: Peer, path: str) -> str:
        full = INTERNAL + path
        return f"{p.url}{full}?{self.signer.query(full)}"

    # --- live (async, on the event loop) ------------------------------------------------------------
    async def get(self, p: Peer, path: str, timeout_s: float = 20.0) -> httpx.Response:
        """A signed GET of ``/internal/v1`` + ``path`` on ``p``; its 404/503 answers are passed on as such."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=timeout_s)
        try:
            r = await self._http.get(self.signed_url(p, path), timeout=timeout_s)
        except httpx.HTTPError as e:
            raise Unavailable(f"node {p.name} is unreachable ({type(e).__name__})", retry_after=5) from None
        _raise_for(p, r)
        return r

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # --- recent footage (blocking: called from the read path's threads) -------------------------------
    def remote_segment(self, camera_id: int, segment_id: int) -> FetchedSegment | None:
        """The segment's file fetched from the node that wrote it, when it lies on another node's disk; None
        when it is this node's own (or archived: the archive's read path has it)."""
        with self.db.session() as s:
            seg = s.get(Segment, segment_id)
            if seg is None or seg.camera_id != camera_id:
                raise NotFound("segment")
            if seg.location != "local" or seg.node in (self.me, "local"):
                return None
            node, sha, start, end = seg.node, seg.sha256, seg.start_ms, seg.end_ms
        return FetchedSegment(self.fetch(segment_id, node, sha), start, end)

    def fetch_segment(self, seg: Segment) -> Path | None:
        """A local copy of ``seg`` (a ``segments`` row on another node's disk), downloaded from that node
        into a bounded cache and checked against the catalog's SHA-256; None when the row names this node
        (its file is gone here: nobody else has it). The read path's ``remote`` hook (media/segment_source.py)."""
        if seg.node in (self.me, "local"):
            return None
        return self.fetch(seg.id, seg.node, seg.sha256)

    def fetch(self, segment_id: int, node: str, sha256: str) -> Path:
        target = self.cache_dir / node / f"{segment_id}.mp4"
        if target.is_file():
            with contextlib.suppress(OSError):
                os.utime(target)  # recently used: evicted last
            return target
        self._download(node, f"/segments/{segment_id}.mp4", target, sha256, f"segment {segment_id}")
        self._evict()
        return target

    def fetch_export(self, job_id: str, node: str) -> Path:
        """A finished export's package made on another API node, downloaded from it (the package is signed
        inside: ``ronda verify`` checks it; here only whole arrival). ExportJobs' ``remote`` hook."""
        if not job_id.replace("-", "").replace("_", "").isalnum() or len(job_id) > 32:
            raise NotFound("export")
        target = self.cache_dir / "exports" / f"{job_id}.zip"
        if not target.is_file():
            self._download(node, f"/exports/{job_id}.zip", target, None, f"export {job_id}")
        with contextlib.suppress(OSError):
            os.utime(target)
        self._evict()
        return target

    def _download(self, node: str, path: str, target: Path, sha256: str | None, what: str) -> None:
        p = peer(self.db, node)
        if p is None:
            raise Unavailable(f"node {node} holds this {what.split()[0]} but has no advertised URL", retry_after=5)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.stem}.{threading.get_ident()}.part")
        digest = hashlib.sha256()
        try:
            with httpx.stream("GET", self.signed_url(p, path), timeout=FETCH_TIMEOUT_S) as r:
                _raise_for(p, r)
                with part.open("wb") as f:
                    for chunk in r.iter_bytes(1 << 20):
                        digest.update(chunk)
                        f.write(chunk)
            if sha256 is not None and digest.hexdigest() != sha256:
                raise Unavailable(f"{what} from node {node} does not match its catalogued SHA-256")
            part.replace(target)
        except httpx.HTTPError as e:
            raise Unavailable(f"node {node} is unreachable ({type(e).__name__})", retry_after=5) from None
        finally:
            part.unlink(missing_ok=True)

    def _evict(self) -> None:
        with self._lock:
            files = []
            for f in [*self.cache_dir.glob("*/*.mp4"), *self.cache_dir.glob("exports/*.zip")]:
                with contextlib.suppress(OSError):
                    st = f.stat()
                    files.append((st.st_mtime, st.st_size, f))
            total = sum(size for _, size, _ in files)
            for _, size, f in sorted(files):
                if total <= self.cache_bytes:
                    break
                f.unlink(missing_ok=True)
                total -= size


def _raise_for(p: Peer, r: httpx.Response) -> None:
    if r.status_code == 404:
        raise NotFound("the recording node has no such item")
    if r.status_code != 200:
        raise Unavailable(f"node {p.name} answered {r.status_code}", retry_after=5)
