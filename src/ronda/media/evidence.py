"""Evidence packages: a zip of video files, a snapshot, ``manifest.json``, its Ed25519 signature, the
site's public key and a human-readable report. ``verify`` works offline on any machine with Ronda.

The public key inside a package proves nothing by itself (anyone can re-sign a package with a key of
their own): a court checks the fingerprint against the site's published key (``--pubkey``).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ronda.access import keys

FORMAT = "ronda-evidence/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "site_public_key.pem"
REPORT = "report.txt"
SITE_KEY_FILE = "site_ed25519.pem"


def load_site_key(path: Path) -> Ed25519PrivateKey:
    """The site's evidence signing key (Ed25519, ``DATA/keys/site_ed25519.pem``), created on first use;
    publish its public half."""
    return keys.ed25519_key(path)


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, as colon-separated hex pairs (first 16 bytes shown)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(raw).hexdigest()
    return "SHA256:" + ":".join(digest[i : i + 2] for i in range(0, 32, 2))


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False).encode()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_package(out: Path, manifest: dict[str, Any], files: list[tuple[Path, str]], key: Ed25519PrivateKey) -> None:
    """Sign and write the zip (as ``out.partial``, renamed when complete). Files are stored, not
    deflated: video does not compress and a court's tools can read them in place. On any failure (a
    full disk) the partial file is removed: a package exists complete or not at all."""
    body = canonical(manifest)
    sig = key.sign(body)
    partial = out.with_name(out.name + ".partial")
    try:
        with partial.open("wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
                for path, name in files:
                    z.write(path, name)
                z.writestr(MANIFEST, body)
                z.writestr(SIGNATURE, sig.hex() + "\n")
                z.writestr(PUBLIC_KEY, public_pem(key.public_key()))
            # On disk before the rename: after a power cut the final name never shows a cut package.
            f.flush()
            os.fsync(f.fileno())
        partial.replace(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@dataclass
class VerifyOutcome:
    ok: bool
    fingerprint: str | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None


def verify_package(path: Path, pubkey_pem: bytes | None = None) -> VerifyOutcome:
    out = VerifyOutcome(ok=False)
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        out.problems.append(f"not a readable evidence package: {e}")
        return out
    with z:
        names = set(z.namelist())
        for required in (MANIFEST, SIGNATURE, PUBLIC_KEY):
            if required not in names:
                out.problems.append(f"{required} is missing")
        if out.problems:
            return out
        body = z.read(MANIFEST)
        try:
            key = serialization.load_pem_public_key(z.read(PUBLIC_KEY))
            sig = bytes.fromhex(z.read(SIGNATURE).decode().strip())
        except (ValueError, UnicodeDecodeError) as e:
            out.problems.append(f"the signature or the public key is malformed: {e}")
            return out
        if not isinstance(key, Ed25519PublicKey):
            out.problems.append("the public key is not an Ed25519 key")
            return out
        out.fingerprint = fingerprint(key)
        if pubkey_pem is not None:
            try:
                expected = serialization.load_pem_public_key(pubkey_pem)
            except ValueError:
                out.problems.append("the --pubkey file is not a PEM public key")
                return out
            if not isinstance(expected, Ed25519PublicKey) or public_pem(expected) != public_pem(key):
                out.problems.append(
                    f"signed by another key ({out.fingerprint}) than the site's published key "
                    f"({fingerprint(expected) if isinstance(expected, Ed25519PublicKey) else 'not Ed25519'})"
                )
                return out
        else:
            out.warnings.append(
                "no --pubkey given: the signature only proves the package matches the key inside it; "
                "compare the fingerprint with the site's published key"
            )
        try:
            key.verify(sig, body)
        except InvalidSignature:
            out.problems.append("the manifest's signature is invalid (manifest or signature changed)")
            return out
        try:
            manifest = json.loads(body)
        except json.JSONDecodeError:
            out.problems.append("manifest.json is not valid JSON")
            return out
        out.manifest = manifest
        if manifest.get("format") != FORMAT:
            out.problems.append(f"unknown package format {manifest.get('format')!r}")
        listed = {f["name"]: f for f in manifest.get("files", [])}
        for name, entry in listed.items():
            if name not in names:
                out.problems.append(f"{name} is listed in the manifest but missing")
                continue
            h = hashlib.sha256()
            with z.open(name) as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            if h.hexdigest() != entry.get("sha256"):
                out.problems.append(f"{name} has been altered (SHA-256 differs from the manifest)")
        extra = names - set(listed) - {MANIFEST, SIGNATURE, PUBLIC_KEY}
        for name in sorted(extra):
            out.problems.append(f"{name} is not listed in the manifest")
    out.ok = not out.problems
    return out
