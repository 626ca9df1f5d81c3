"""Following a stream's segment files as the recorder's ffmpeg writes them, box by box.

ffmpeg writes each segment of a recorded stream as a fragmented MP4 into
``.partial/<camera>-<stream>/`` (layout.py) and flushes every fragment (``moof`` + ``mdat``, a quarter of a
second) as soon as it is complete; at the end of a segment it closes the file, the recorder renames it
away, and ffmpeg goes on in the next file. A :class:`PartialTail` follows that: it keeps the file it
reads open (so the rename loses nothing), reads only what was appended, cuts it into complete top-level
boxes and moves to the next file once ffmpeg has. Live view (``media/live.py``) and analytics
(``analytics/frames.py``) both read the recorder's output this way: neither opens a second connection
to the camera. Not thread-safe: one reader per instance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ronda.recording import layout
from ronda.recording.boxes import BoxError, box_header

READ_CHUNK = 4 << 20
# A top-level box larger than this in a partial file is not a fragment ffmpeg wrote (a quarter of a
# second of 4K video is a few MB): the file is skipped rather than buffered without bound.
MAX_BOX = 64 << 20


@dataclass(slots=True)
class TailBox:
    kind: bytes  # b"ftyp", b"moov", b"moof", b"mdat", ...
    data: bytes  # the whole box, header included
    file: int  # which file it came from: a new number for every file followed (a new segment)


@dataclass
class _Open:
    path: Path
    fd: int
    serial: int
    offset: int = 0
    buf: bytearray = field(default_factory=bytearray)


class PartialTail:
    """The complete boxes appended to one stream's newest partial file since the last :meth:`poll`."""

    def __init__(self, partial_dir: Path, skip_corrupt: bool = False) -> None:
        """``skip_corrupt``: a file holding something that is not an MP4 box (or a box larger than
        MAX_BOX) is given up and counted in ``skipped_files``, and the next file is followed; without
        it :class:`BoxError` is raised (live view then starts a fresh tail)."""
        self.partial_dir = partial_dir
        self.skip_corrupt = skip_corrupt
        self._file: _Open | None = None
        self._serial = 0
        self.skipped_files = 0

    def newest(self) -> Path | None:
        try:
            names = sorted(e.name for e in os.scandir(self.partial_dir) if e.name.endswith(layout.PARTIAL_SUFFIX))
        except FileNotFoundError:
            return None
        return self.partial_dir / names[-1] if names else None

    def _open(self, path: Path) -> _Open | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        self._serial += 1
        return _Open(path, fd, self._serial)

    def close(self) -> None:
        if self._file is not None:
            os.close(self._file.fd)
            self._file = None

    @property
    def path(self) -> Path | None:
        """The file being followed now."""
        return self._file.path if self._file is not None else None

    def poll(self) -> list[TailBox]:
        """What was written since the last call, as complete boxes (an empty list: nothing new)."""
        if self._file is None:
            newest = self.newest()
            if newest is None:
                return []
            self._file = self._open(newest)
            if self._file is None:
                return []
        got = self._read(self._file)
        if got:
            return got
        newest = self.newest()  # not growing: has ffmpeg moved on to the next file?
        if newest is not None and newest != self._file.path:
            # ffmpeg has closed this file and moved on: drain it (renamed or not, the fd still reads)
            got = self._read(self._file)
            self.close()
            self._file = self._open(newest)
            if self._file is not None:
                got += self._read(self._file)
        return got

    def read_file(self, path: Path) -> list[TailBox]:
        """Every complete box of a finished file (a completed segment: what came before the live edge)."""
        f = self._open(path)
        if f is None:
            return []
        try:
            out: list[TailBox] = []
            while True:
                got = self._read(f)
                if not got:
                    return out
                out += got
        finally:
            os.close(f.fd)

    def _read(self, f: _Open) -> list[TailBox]:
        chunk = os.pread(f.fd, READ_CHUNK, f.offset)
        if not chunk:
            return []
        f.offset += len(chunk)
        f.buf += chunk
        out: list[TailBox] = []
        pos = 0
        while True:
            try:
                head = box_header(f.buf, pos)
                if head is not None and head[2] > MAX_BOX and self.skip_corrupt:
                    raise BoxError(f"box {head[0]!r} of {head[2]} bytes")
            except BoxError:
                if not self.skip_corrupt:
                    raise
                # Not something ffmpeg's muxer writes: drop the rest of this file, wait for the next.
                self.skipped_files += 1
                f.offset = os.fstat(f.fd).st_size
                pos = len(f.buf)
                break
            if head is None:
                break
            kind, _hlen, size = head
            if pos + size > len(f.buf):
                break
            out.append(TailBox(kind, bytes(f.buf[pos : pos + size]), f.serial))
            pos += size
        del f.buf[:pos]
        return out
