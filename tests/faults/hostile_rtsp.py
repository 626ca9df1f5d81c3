"""Hostile cameras for fault tests: a TCP server that answers with random bytes, one that accepts and says
nothing, and a small RTSP server (RTP interleaved over TCP) whose H.264 the test spoils on purpose: a broken
SPS, an SPS declaring 16K, RTP timestamps that jump backwards.

The H.264 is a real x264 clip made at test time (``make_clip``); the spoiling is done on its NAL units here,
in the open, so a reader sees exactly what the camera sends. gst-rtsp-server (the simulator) cannot serve
these: its parser and payloader check the SPS and restamp the packets.
"""

from __future__ import annotations

import base64
import os
import random
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CLOCK = 90_000  # H.264 RTP clock


# --- H.264 bits -----------------------------------------------------------------------------------------
def split_annexb(data: bytes) -> list[bytes]:
    """NAL units (without start codes) of an Annex B byte stream."""
    out: list[bytes] = []
    i, n = 0, len(data)
    starts = []
    while True:
        j = data.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        starts.append(j + 3)
        i = j + 3
    for k, s in enumerate(starts):
        e = starts[k + 1] - 3 if k + 1 < len(starts) else n
        nal = data[s:e]
        while nal.endswith(b"\x00"):  # the zero of a following 4-byte start code
            nal = nal[:-1]
        if nal:
            out.append(nal)
    return out


def access_units(nals: list[bytes]) -> list[list[bytes]]:
    """Group NAL units into frames: parameter sets and SEI go with the next slice (one slice per frame)."""
    aus: list[list[bytes]] = []
    cur: list[bytes] = []
    for nal in nals:
        cur.append(nal)
        if nal[0] & 0x1F in (1, 5):
            aus.append(cur)
            cur = []
    return aus


def _unescape(rbsp: bytes) -> bytes:
    return rbsp.replace(b"\x00\x00\x03", b"\x00\x00")


def _escape(rbsp: bytes) -> bytes:
    out = bytearray()
    zeros = 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.bits = "".join(f"{b:08b}" for b in data)
        self.pos = 0

    def u(self, n: int) -> int:
        v = int(self.bits[self.pos : self.pos + n], 2)
        self.pos += n
        return v

    def ue(self) -> int:
        zeros = 0
        while self.bits[self.pos] == "0":
            zeros += 1
            self.pos += 1
        return self.u(zeros + 1) - 1

    def rest(self) -> str:
        return self.bits[self.pos :]


def _ue(v: int) -> str:
    b = f"{v + 1:b}"
    return "0" * (len(b) - 1) + b


def _u(v: int, n: int) -> str:
    return f"{v:0{n}b}"


def _pack(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))


def sps_with_size(sps: bytes, width: int, height: int) -> bytes:
    """The same SPS (baseline profile, frame_mbs_only, no cropping) declaring another picture size."""
    r = _Bits(_unescape(sps[1:]))
    profile, constraints, level = r.u(8), r.u(8), r.u(8)
    assert profile == 66, "make_clip encodes baseline"
    head = _u(profile, 8) + _u(constraints, 8) + _u(level, 8)
    head += _ue(r.ue()) + _ue(r.ue())  # sps id, log2_max_frame_num_minus4
    poc = r.ue()
    head += _ue(poc)
    if poc == 0:
        head += _ue(r.ue())
    assert poc in (0, 2)
    head += _ue(r.ue()) + _u(r.u(1), 1)  # max_num_ref_frames, gaps_in_frame_num_allowed
    r.ue(), r.ue()  # the real size, replaced
    head += _ue(width // 16 - 1) + _ue(height // 16 - 1)
    return sps[:1] + _escape(_pack(head + r.rest()))


def broken_sps(sps: bytes) -> bytes:
    """An SPS no decoder accepts: its id is 40 (0..31 allowed) and the rest is noise; the PPS and slices that
    refer to SPS 0 then have no picture size at all."""
    noise = random.Random(16).randbytes(12)
    bits = _u(66, 8) + _u(0xC0, 8) + _u(30, 8) + _ue(40) + "".join(f"{b:08b}" for b in noise)
    return sps[:1] + _escape(_pack(bits))


def make_clip(out: Path, seconds: int = 2, fps: int = 15) -> list[list[bytes]]:
    """A 320x240 baseline H.264 clip (a keyframe a second, SPS/PPS before each), as frames of NAL units."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={fps}", "-t", str(seconds),
         "-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-g", str(fps), "-bf", "0",
         "-x264-params", "repeat-headers=1", "-f", "h264", str(out)],
        check=True, timeout=60,
    )  # fmt: skip
    return access_units(split_annexb(out.read_bytes()))


def replace_nals(frames: list[list[bytes]], nal_type: int, new: bytes) -> list[list[bytes]]:
    return [[new if n[0] & 0x1F == nal_type else n for n in au] for au in frames]


# --- servers --------------------------------------------------------------------------------------------
class _Server:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            threading.Thread(target=self._serve_safely, args=(conn,), daemon=True).start()

    def _serve_safely(self, conn: socket.socket) -> None:
        try:
            self.serve(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for c in self._conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        self._thread.join(5)


class GarbageServer(_Server):
    """Answers whatever it is sent with 4 KiB of random bytes, and keeps the connection open."""

    def serve(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            if not conn.recv(4096):
                return
            conn.sendall(os.urandom(4096))


class SilentServer(_Server):
    """Accepts connections and never says a word."""

    def serve(self, conn: socket.socket) -> None:
        while not self._stop.is_set() and conn.recv(4096):
            pass


@dataclass
class Stream:
    frames: list[list[bytes]]  # looped
    fps: int = 15
    # RTP timestamp (90 kHz) of the n-th frame sent on a connection
    stamp: Callable[[int], int] = field(default=lambda n: n * CLOCK // 15)


def backwards(fps: int, after_s: float, back_s: float) -> Callable[[int], int]:
    """Timestamps that run normally, then jump ``back_s`` seconds back after ``after_s`` seconds and go on."""
    jump = int(after_s * fps)
    return lambda n: (n * CLOCK // fps - (int(back_s * CLOCK) if n >= jump else 0) + 2**31) % 2**32


class HostileRtsp(_Server):
    """RTSP 1.0 with RTP/AVP/TCP interleaved (what Ronda asks for first), one H.264 track per path."""

    def __init__(self, streams: dict[str, Stream]) -> None:
        self.streams = streams
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        buf = b""
        sender: threading.Thread | None = None
        alive = threading.Event()
        alive.set()
        try:
            while not self._stop.is_set():
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while True:
                    if buf.startswith(b"$"):  # RTCP from the client, interleaved
                        if len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[2:4], "big"):
                            break
                        buf = buf[4 + int.from_bytes(buf[2:4], "big") :]
                        continue
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    head, buf = buf[:end].decode("latin-1"), buf[end + 4 :]
                    lines = head.split("\r\n")
                    method, url = lines[0].split(" ")[:2]
                    hdr = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
                    path = url.split("/", 3)[3] if url.count("/") >= 3 else ""
                    path = path.split("/trackID")[0].rstrip("/")
                    stream = self.streams.get(path)
                    cseq = hdr.get("cseq", "0")
                    if stream is None:
                        conn.sendall(f"RTSP/1.0 404 Not Found\r\nCSeq: {cseq}\r\n\r\n".encode())
                        continue
                    extra, body = "", ""
                    if method == "OPTIONS":
                        extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n"
                    elif method == "DESCRIBE":
                        body = self._sdp(stream)
                        extra = f"Content-Base: {url.rstrip('/')}/\r\nContent-Type: application/sdp\r\n"
                    elif method == "SETUP":
                        if "interleaved" not in hdr.get("transport", ""):
                            conn.sendall(f"RTSP/1.0 461 Unsupported transport\r\nCSeq: {cseq}\r\n\r\n".encode())
                            continue
                        extra = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 4242;timeout=60\r\n"
                    elif method == "PLAY":
                        extra = "Session: 4242\r\nRange: npt=0.000-\r\n"
                        if sender is None:
                            sender = threading.Thread(target=self._send, args=(conn, stream, alive), daemon=True)
                    elif method == "TEARDOWN":
                        conn.sendall(f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n\r\n".encode())
                        return
                    conn.sendall(
                        f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{extra}Content-Length: {len(body)}\r\n\r\n{body}".encode()
                    )
                    if method == "PLAY" and sender is not None and sender.ident is None:
                        sender.start()
        finally:
            alive.clear()

    @staticmethod
    def _sdp(stream: Stream) -> str:
        sps = next(n for au in stream.frames for n in au if n[0] & 0x1F == 7)
        pps = next(n for au in stream.frames for n in au if n[0] & 0x1F == 8)
        sprop = f"{base64.b64encode(sps).decode()},{base64.b64encode(pps).decode()}"
        return (
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=hostile\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
            "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
            f"a=fmtp:96 packetization-mode=1;sprop-parameter-sets={sprop}\r\na=control:trackID=0\r\n"
        )

    def _send(self, conn: socket.socket, stream: Stream, alive: threading.Event) -> None:
        seq = 0
        t0 = time.monotonic()
        n = 0
        try:
            while alive.is_set() and not self._stop.is_set():
                au = stream.frames[n % len(stream.frames)]
                ts = stream.stamp(n)
                for i, nal in enumerate(au):
                    for payload, last in _fragments(nal):
                        mark = 0x80 if last and i == len(au) - 1 else 0
                        rtp = bytes([0x80, mark | 96]) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big") + b"RNDA"
                        seq = (seq + 1) % 65536
                        pkt = rtp + payload
                        conn.sendall(b"$\x00" + len(pkt).to_bytes(2, "big") + pkt)
                n += 1
                delay = t0 + n / stream.fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        except OSError:
            return


def _fragments(nal: bytes, mtu: int = 1400) -> list[tuple[bytes, bool]]:
    """RTP payloads of one NAL unit: itself when small, FU-A fragments otherwise (RFC 6184)."""
    if len(nal) <= mtu:
        return [(nal, True)]
    indicator = (nal[0] & 0xE0) | 28
    kind = nal[0] & 0x1F
    body = nal[1:]
    parts = [body[i : i + mtu] for i in range(0, len(body), mtu)]
    out = []
    for k, part in enumerate(parts):
        header = kind | (0x80 if k == 0 else 0) | (0x40 if k == len(parts) - 1 else 0)
        out.append((bytes([indicator, header]) + part, k == len(parts) - 1))
    return out
