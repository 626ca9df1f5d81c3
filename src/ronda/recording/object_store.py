"""The S3-compatible object store of the archive tier: the one module that talks to boto3.

boto3 has no type information of its own; this narrow wrapper is typed, so the rest of Ronda never sees
an untyped client. Every call is blocking (run it in a worker thread). Any failure of the store (down,
refusing, timing out, answering nonsense) is an `ObjectStoreError` with a one-line reason.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped,unused-ignore]
from botocore.config import Config as BotoConfig  # type: ignore[import-untyped,unused-ignore]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped,unused-ignore]

from ronda.config import ArchiveConfig

CHUNK = 1024 * 1024


class ObjectStoreError(Exception):
    """The object store failed a request (the message is for logs and events: no secrets in it)."""


class ObjectMissing(ObjectStoreError):
    pass


@dataclass(frozen=True, slots=True)
class Stored:
    size: int
    sha256_b64: str | None  # the store's own SHA-256 of the object, when it keeps one


def b64_digest(sha256_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode()


def _reason(e: Exception) -> str:
    if isinstance(e, ClientError):
        err = e.response.get("Error", {})
        return f"{err.get('Code', '?')}: {err.get('Message', '')}".strip()
    return f"{type(e).__name__}: {e}"


class ObjectStore:
    def __init__(self, cfg: ArchiveConfig) -> None:
        self.cfg = cfg
        self.bucket = cfg.bucket
        timeout = cfg.timeout_seconds
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=cfg.endpoint_url,
            region_name=cfg.region,
            aws_access_key_id=cfg.access_key_id,
            aws_secret_access_key=cfg.secret_key(),
            # Three attempts per call, a second or two apart (botocore's standard mode: transient errors
            # only, e.g. a 500 "InternalError" from a store that has just restarted, a 503 SlowDown or a
            # refused connection); the archiver has its own, longer backoff, and a read must not hang a
            # player for longer than that.
            config=BotoConfig(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=timeout,
                read_timeout=timeout,
                s3={"addressing_style": "path"},
                max_pool_connections=max(10, cfg.concurrency * 2),
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def _call(self, op: str, **kw: Any) -> Any:
        try:
            return getattr(self._client, op)(Bucket=self.bucket, **kw)
        except ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ObjectMissing(f"{kw.get('Key')}: not in the archive") from None
            raise ObjectStoreError(f"{op}: {_reason(e)}") from None
        except (BotoCoreError, OSError) as e:
            raise ObjectStoreError(f"{op}: {_reason(e)}") from None

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist (with object lock when configured)."""
        try:
            self._call("head_bucket")
            return
        except ObjectMissing:
            pass
        except ObjectStoreError as e:
            if "404" not in str(e) and "NoSuchBucket" not in str(e):
                raise
        extra: dict[str, Any] = {"ObjectLockEnabledForBucket": True} if self.cfg.object_lock != "off" else {}
        if self.cfg.region != "us-east-1":
            extra["CreateBucketConfiguration"] = {"LocationConstraint": self.cfg.region}
        self._call("create_bucket", **extra)

    def put_file(self, key: str, path: Path, sha256_hex: str, lock_until_ms: int | None = None) -> None:
        """Upload a file, the store checking it against ``sha256_hex`` (x-amz-checksum-sha256)."""
        extra: dict[str, Any] = {}
        if lock_until_ms is not None and self.cfg.object_lock != "off":
            extra["ObjectLockMode"] = self.cfg.object_lock.upper()
            extra["ObjectLockRetainUntilDate"] = datetime.fromtimestamp(lock_until_ms / 1000, tz=UTC)
        with path.open("rb") as f:
            self._call("put_object", Key=key, Body=f, ChecksumSHA256=b64_digest(sha256_hex),
                       ContentType="video/mp4", **extra)  # fmt: skip

    def lock(self, key: str, until_ms: int) -> None:
        """Put (or extend) the object lock of an object already stored (``archive.object_lock`` mode)."""
        if self.cfg.object_lock == "off":
            return
        until = datetime.fromtimestamp(until_ms / 1000, tz=UTC)
        self._call("put_object_retention", Key=key,
                   Retention={"Mode": self.cfg.object_lock.upper(), "RetainUntilDate": until})  # fmt: skip

    def head(self, key: str) -> Stored:
        r = self._call("head_object", Key=key, ChecksumMode="ENABLED")
        return Stored(int(r.get("ContentLength", -1)), r.get("ChecksumSHA256"))

    def sha256_of(self, key: str) -> str:
        """Hex SHA-256 of the object's bytes, read back (for stores that keep no checksum)."""
        body = self._call("get_object", Key=key)["Body"]
        h = hashlib.sha256()
        try:
            while chunk := body.read(CHUNK):
                h.update(chunk)
        except (BotoCoreError, OSError) as e:
            raise ObjectStoreError(f"get_object: {_reason(e)}") from None
        return h.hexdigest()

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start``..``end`` (inclusive) of the object."""
        body = self._call("get_object", Key=key, Range=f"bytes={start}-{end}")["Body"]
        try:
            return bytes(body.read())
        except (BotoCoreError, OSError) as e:
            raise ObjectStoreError(f"get_object: {_reason(e)}") from None

    def download(self, key: str, dest: Path) -> str:
        """Write the object to ``dest`` (fsynced); returns the hex SHA-256 of what was written."""
        body = self._call("get_object", Key=key)["Body"]
        h = hashlib.sha256()
        try:
            with dest.open("wb") as f:
                while chunk := body.read(CHUNK):
                    h.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
        except (BotoCoreError, OSError) as e:
            raise ObjectStoreError(f"get_object: {_reason(e)}") from None
        return h.hexdigest()

    def delete(self, key: str) -> None:
        self._call("delete_object", Key=key)

    def keys(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (tests and `ronda storage` checks; not for hot paths)."""
        out: list[str] = []
        token: str | None = None
        while True:
            kw: dict[str, Any] = {"Prefix": prefix}
            if token:
                kw["ContinuationToken"] = token
            r = self._call("list_objects_v2", **kw)
            out += [o["Key"] for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                return out
            token = r.get("NextContinuationToken")
