"""``serve`` over HTTPS with the certificate files named in the configuration."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
import sys

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.slow  # a real ronda serve over TLS


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tmp_path / "cert.pem", tmp_path / "key.pem"


def test_serve_speaks_https(tmp_path):
    cert, key = self_signed(tmp_path)
    port = free_port()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'data'}\nhttp: {{port: {port}, tls_cert: {cert}, tls_key: {key}}}\n")
    subprocess.run([sys.executable, "-m", "ronda.cli", "db", "upgrade", "--config", str(cfg)], check=True,
                   capture_output=True)  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "ronda.cli", "serve", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:

        def up():
            try:
                return httpx.get(
                    f"https://127.0.0.1:{port}/api/v1/health",
                    verify=ssl.create_default_context(cafile=str(cert)),
                    timeout=1,
                )
            except httpx.HTTPError:
                return None

        r = wait_for(up, 30, what="HTTPS")
        assert r.status_code == 200
        try:
            plain = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code
        except httpx.HTTPError:
            plain = None
        assert plain != 200  # no clear-text API on the TLS port
    finally:
        proc.terminate()
        proc.wait(20)


def test_tls_config_errors_are_clear(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tmp_path}\nhttp: {{tls_cert: {tmp_path / 'missing.pem'}}}\n")
    r = subprocess.run([sys.executable, "-m", "ronda.cli", "config", "check", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 2 and "tls_cert and tls_key go together" in r.stderr
