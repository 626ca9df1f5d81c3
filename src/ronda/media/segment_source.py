"""The one read path of recorded footage: "give me a readable local file for this segment".

A segment lives on this node's recordings volume (``location='local'``), in the archive's object store
(``location='archive'``), or on another recorder node's disk (cluster). Playback, HLS VOD, export,
frame-rate probing and snapshots ask here instead of joining ``recordings/`` with the row's path:

- local and present: the file itself;
- archived: downloaded once into ``DATA/archive-cache`` (bounded by ``archive.cache_bytes``, least
  recently used first out), checked against the catalog's SHA-256 before it is served;
- anything else: ``remote(seg)`` when installed (node-to-node fetch), else `SegmentUnavailable`.

A local file the archiver removed after the row was read is looked up again (the row now says where).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from ronda.config import Config
from ronda.media import hls
from ronda.recording import boxes
from ronda.recording.layout import Layout
from ronda.recording.object_store import ObjectMissing, ObjectStore, ObjectStoreError
from ronda.store.db import Database
from ronda.store.models import Segment

log = logging.getLogger(__name__)
CACHE_DIR = "archive-cache"
HEAD_BYTES = 256 * 1024  # ftyp + moov of a recorded segment fit in far less


class SegmentUnavailable(Exception):
    """The segment's bytes cannot be had now (its store is unreachable, or it is gone): the message says why."""


class SegmentGone(SegmentUnavailable):
    """The segment's bytes are nowhere this node can reach (deleted meanwhile, or another node's)."""


class SegmentSource:
    def __init__(
        self,
        root: Path,
        db: Database | None = None,
        store: ObjectStore | None = None,
        cache_dir: Path | None = None,
        cache_bytes: int = 2 * 1024**3,
        remote: Callable[[Segment], Path | None] | None = None,
    ) -> None:
        self.layout = Layout(root)
        self.db = db
        self.store = store
        self.cache_dir = cache_dir
        self.cache_bytes = cache_bytes
        # Set by the cluster wiring: fetches a segment recorded on another node (None: not here).
        self.remote = remote
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @classmethod
    def for_config(cls, cfg: Config, db: Database | None = None) -> SegmentSource:
        store = cache = None
        if cfg.archive is not None:
            store = _store(cfg)
            cache = cfg.data_dir / CACHE_DIR
        size = cfg.archive.cache_bytes if cfg.archive is not None else 0
        return cls(cfg.recordings_dir, db, store, cache, size)

    # --- the read path ------------------------------------------------------------------------------
    def local_path(self, seg: Segment) -> Path:
        return self.layout.path(seg.path)

    def readable(self, seg: Segment, into: Path | None = None) -> Path:
        """Blocking. A local file with the segment's bytes. ``into``: download an archived segment to this
        file instead of the shared cache (an export keeps its copies until it is done)."""
        if seg.location == "local":
            p = self.local_path(seg)
            if p.is_file():
                return p
            fresh = self._reread(seg)
            if fresh is None or fresh.location == "local":
                return self._remote(seg)
            seg = fresh
        if seg.location == "archive" and seg.archive_key:
            return self._from_archive(seg, into)
        return self._remote(seg)

    def head(self, seg: Segment) -> bytes:
        """The first bytes of the segment (its ``ftyp``+``moov``) without fetching a whole archived one."""
        if seg.location == "archive" and seg.archive_key and self.store is not None:
            cached = self._cache_path(seg)
            if cached is not None and cached.is_file():
                return _read_head(cached)
            try:
                return self.store.read_range(seg.archive_key, 0, HEAD_BYTES - 1)
            except ObjectStoreError as e:
                raise SegmentUnavailable(f"segment {seg.id}: the archive is unreachable ({e})") from None
        return _read_head(self.readable(seg))

    def init_length(self, seg: Segment) -> int:
        """Bytes of ``ftyp`` + ``moov`` (HLS's init section). Raises SegmentUnavailable or BoxError."""
        if seg.location == "local":
            p = self.local_path(seg)
            if p.is_file():
                try:
                    return hls.init_length(str(p))
                except FileNotFoundError:
                    pass  # archived just now: read it from there
        key = f"{seg.archive_key or ''}#{seg.id}"
        hit = _init_cache.get(key)
        if hit is None:
            hit = init_length_of(self.head(seg))
            if len(_init_cache) > 65536:  # archived segments never change; the bound is for memory
                _init_cache.clear()
            _init_cache[key] = hit
        return hit

    def first_readable(self, segs: list[Segment]) -> Path | None:
        """A readable file of the first segment that has one, a local one preferred (no download when the
        list has any); None when none can be had."""
        for seg in segs:
            if seg.location == "local" and self.local_path(seg).is_file():
                return self.local_path(seg)
        for seg in segs[:1]:
            with contextlib.suppress(SegmentUnavailable):
                return self.readable(seg)
        return None

    # --- archive cache ------------------------------------------------------------------------------
    def _cache_path(self, seg: Segment) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / seg.path

    def _from_archive(self, seg: Segment, into: Path | None) -> Path:
        if self.store is None:
            raise SegmentUnavailable(
                f"segment {seg.id} is in the archive, and this configuration has no `archive` section (give the "
                "configuration file the site runs with, e.g. `--config`)"
            )
        target = into or self._cache_path(seg)
        assert target is not None
        with self._lock_for(str(target)):
            if into is None and target.is_file():
                with contextlib.suppress(OSError):
                    os.utime(target)  # most recently used
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            try:
                digest = self.store.download(str(seg.archive_key), tmp)
            except ObjectMissing:
                tmp.unlink(missing_ok=True)
                raise SegmentGone(f"segment {seg.id}: its archived object is missing") from None
            except ObjectStoreError as e:
                tmp.unlink(missing_ok=True)
                raise SegmentUnavailable(f"segment {seg.id}: the archive is unreachable ({e})") from None
            if digest != seg.sha256:
                tmp.unlink(missing_ok=True)
                raise SegmentUnavailable(f"segment {seg.id}: the archived object does not match its SHA-256")
            os.replace(tmp, target)
        if into is None:
            self._trim()
        return target

    def _trim(self) -> None:
        """Keep the cache under its bound, least recently used out first (a file being served stays
        readable to whoever opened it)."""
        if self.cache_dir is None:
            return
        files = []
        for p in self.cache_dir.rglob("*.mp4"):
            with contextlib.suppress(OSError):
                st = p.stat()
                files.append((st.st_mtime, st.st_size, p))
        total = sum(f[1] for f in files)
        for _, size, p in sorted(files):
            if total <= self.cache_bytes:
                break
            p.unlink(missing_ok=True)
            total -= size

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    # --- elsewhere ------------------------------------------------------------------------------------
    def _reread(self, seg: Segment) -> Segment | None:
        if self.db is None:
            return None
        with self.db.session() as s:
            return s.get(Segment, seg.id)

    def _remote(self, seg: Segment) -> Path:
        if self.remote is not None:
            p = self.remote(seg)
            if p is not None:
                return p
        raise SegmentGone(f"segment {seg.id} is not on this node's disk")


_init_cache: dict[str, int] = {}


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(HEAD_BYTES)
    except OSError as e:
        raise SegmentUnavailable(f"{path.name}: {e.strerror}") from None


def init_length_of(head: bytes) -> int:
    """Bytes of ``ftyp`` + ``moov`` at the start of ``head`` (BoxError when the moov is not complete in it)."""
    f = io.BytesIO(head)
    for box in boxes.walk_file(f, len(head)):
        if box.end > len(head):
            break
        if box.kind == b"moov":
            return box.end
    raise boxes.BoxError("no complete moov box in the segment's first bytes")


_stores: dict[tuple[str | None, str, str], ObjectStore] = {}
_stores_guard = threading.Lock()


def _store(cfg: Config) -> ObjectStore:
    """One client per archive per process (boto3 clients are thread-safe and hold a connection pool)."""
    a = cfg.archive
    assert a is not None
    k = (a.endpoint_url, a.bucket, a.access_key_id)
    with _stores_guard:
        if k not in _stores:
            _stores[k] = ObjectStore(a)
        return _stores[k]


_sources: dict[tuple[int, int], tuple[Config, Database | None, SegmentSource]] = {}


def of(cfg: Config, db: Database | None) -> SegmentSource:
    """The read path of this configuration's footage, one per (configuration, database) in a process.
    The entry keeps both alive, so their ids cannot be reused by another pair while it is cached."""
    k = (id(cfg), id(db))
    with _stores_guard:
        hit = _sources.get(k)
        if hit is not None:
            return hit[2]
    src = SegmentSource.for_config(cfg, db)
    with _stores_guard:
        if len(_sources) >= 64:
            _sources.pop(next(iter(_sources)))
        _sources.setdefault(k, (cfg, db, src))
        return _sources[k][2]
