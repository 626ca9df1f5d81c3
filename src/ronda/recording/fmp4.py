"""The few ISO-BMFF (fragmented MP4) facts live view needs, read from box headers only.

Live view serves the recorder's own fragments (``moof`` + ``mdat``) as they are written. This module
reads, per fragment, its decode time and duration per track and whether it starts with a keyframe,
and rewrites the decode time (``tfdt``) so that fragments of consecutive segment files (each of
which starts again at zero) form one continuous timeline. Sample data is never touched: one fragment
per 250 ms, a few hundred bytes of headers each, is all the Python work per stream.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ronda.recording.boxes import BoxError, box_header, find_all, iter_boxes

__all__ = ["BoxError", "Fragment", "Init", "Track", "box_header", "parse_init", "parse_moof", "set_decode_times"]

SYNC_FLAGS_MASK = 0x00010000  # sample_is_non_sync_sample
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"edts", b"dinf"}


@dataclass(slots=True)
class Track:
    track_id: int
    handler: str  # "vide" | "soun" | ...
    timescale: int
    codec: str  # RFC 6381 codec string, e.g. "avc1.64001f"
    sample_entry: bytes  # the stsd box: identical sample entries = the same decoder set-up
    default_duration: int = 0
    default_flags: int = 0
    default_size: int = 0


@dataclass(slots=True)
class Init:
    data: bytes  # ftyp + moov, to hand to a decoder before any fragment
    tracks: dict[int, Track] = field(default_factory=dict)

    @property
    def video(self) -> Track | None:
        return next((t for t in self.tracks.values() if t.handler == "vide"), None)

    @property
    def codecs(self) -> str:
        return ",".join(t.codec for t in self.tracks.values() if t.codec)

    @property
    def signature(self) -> tuple[bytes, ...]:
        return tuple(t.sample_entry for t in sorted(self.tracks.values(), key=lambda t: t.track_id))


def parse_init(data: bytes) -> Init:
    """Tracks of an initialisation section (``ftyp`` + ``moov``); BoxError when it is malformed."""
    try:
        return _parse_init(data)
    except (struct.error, IndexError) as e:  # a field read past the end of a box
        raise BoxError(f"malformed moov: {e}") from None


def _parse_init(data: bytes) -> Init:
    init = Init(data=data)
    defaults: dict[int, tuple[int, int, int]] = {}
    for p0, _p1 in find_all(data, [b"moov", b"mvex", b"trex"]):
        tid, _desc, dur, size, flags = struct.unpack_from(">IIIII", data, p0 + 4)
        defaults[tid] = (dur, flags, size)
    for t0, t1 in find_all(data, [b"moov", b"trak"]):
        tkhd = find_all(data, [b"tkhd"], t0, t1)
        mdhd = find_all(data, [b"mdia", b"mdhd"], t0, t1)
        hdlr = find_all(data, [b"mdia", b"hdlr"], t0, t1)
        stsd = find_all(data, [b"mdia", b"minf", b"stbl", b"stsd"], t0, t1)
        if not (tkhd and mdhd and hdlr and stsd):
            raise BoxError("incomplete track in moov")
        k0 = tkhd[0][0]
        tid = struct.unpack_from(">I", data, k0 + (20 if data[k0] == 1 else 12))[0]
        m0 = mdhd[0][0]
        timescale = struct.unpack_from(">I", data, m0 + (20 if data[m0] == 1 else 12))[0]
        handler = data[hdlr[0][0] + 8 : hdlr[0][0] + 12].decode("latin-1")
        s0, s1 = stsd[0]
        entry = bytes(data[s0 - 8 : s1])
        dur, flags, size = defaults.get(tid, (0, 0, 0))
        init.tracks[tid] = Track(tid, handler, timescale, _codec_string(data, s0 + 8, s1), entry, dur, flags, size)
    if not init.tracks:
        raise BoxError("no tracks in moov")
    return init


def _codec_string(buf: bytes, start: int, end: int) -> str:
    for kind, p0, p1 in iter_boxes(buf, start, end):
        name = kind.decode("latin-1")
        if name in ("avc1", "avc3"):
            cfg = find_all(buf, [b"avcC"], p0 + 78, p1)
            if cfg:
                c = cfg[0][0]
                return f"{name}.{buf[c + 1]:02x}{buf[c + 2]:02x}{buf[c + 3]:02x}"
            return name
        if name in ("hvc1", "hev1"):
            cfg = find_all(buf, [b"hvcC"], p0 + 78, p1)
            if not cfg:
                return name
            c = cfg[0][0]
            b1 = buf[c + 1]
            space, tier, profile = "" if not b1 >> 6 else "ABC"[(b1 >> 6) - 1], b1 >> 5 & 1, b1 & 0x1F
            compat = int.from_bytes(buf[c + 2 : c + 6], "big")
            compat_rev = int(f"{compat:032b}"[::-1], 2)
            constraints = bytes(buf[c + 6 : c + 12]).rstrip(b"\0")
            level = buf[c + 12]
            tail = "".join(f".{b:02X}" for b in constraints) if constraints else ".B0"
            return f"{name}.{space}{profile}.{compat_rev:X}.{'LH'[tier]}{level}{tail}"
        if name == "mp4a":
            return "mp4a.40.2"
        return name
    return ""


@dataclass(slots=True)
class TrackRun:
    decode_time: int
    duration: int
    tfdt_pos: int  # offset of the tfdt value inside the moof box
    tfdt_64: bool


@dataclass(slots=True)
class Fragment:
    tracks: dict[int, TrackRun]
    keyframe: bool  # the video track's first sample is a sync sample: a decoder can start here


@dataclass(slots=True)
class _TrafHeader:
    """A ``traf``'s ``tfhd`` (sample defaults, with the ``trex`` ones underneath) and ``tfdt``."""

    track_id: int
    base_offset: bool  # an explicit base data offset (not relative to the moof)
    duration: int
    size: int
    flags: int
    decode_time: int
    tfdt_pos: int  # offset of the tfdt value inside the moof box
    tfdt_64: bool


def _traf_header(moof: bytes | bytearray, init: Init, t0: int, t1: int) -> _TrafHeader:
    tfhd = find_all(moof, [b"tfhd"], t0, t1)
    tfdt = find_all(moof, [b"tfdt"], t0, t1)
    if not tfhd or not tfdt:
        raise BoxError("traf without tfhd or tfdt")
    h0 = tfhd[0][0]
    flags = int.from_bytes(moof[h0 + 1 : h0 + 4], "big")
    tid = struct.unpack_from(">I", moof, h0 + 4)[0]
    track = init.tracks.get(tid)
    dur, size, sflags = (track.default_duration, track.default_size, track.default_flags) if track else (0, 0, 0)
    pos = h0 + 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
    if flags & 0x08:
        dur = struct.unpack_from(">I", moof, pos)[0]
        pos += 4
    if flags & 0x10:
        size = struct.unpack_from(">I", moof, pos)[0]
        pos += 4
    if flags & 0x20:
        sflags = struct.unpack_from(">I", moof, pos)[0]
    d0 = tfdt[0][0]
    wide = moof[d0] == 1
    decode_time = struct.unpack_from(">Q" if wide else ">I", moof, d0 + 4)[0]
    return _TrafHeader(tid, bool(flags & 0x01), dur, size, sflags, decode_time, d0 + 4, wide)


def parse_moof(moof: bytes | bytearray, init: Init) -> Fragment:
    """Decode time, duration and keyframe flag of a ``moof`` box (the whole box, header included);
    BoxError when it is malformed."""
    try:
        return _parse_moof(moof, init)
    except (struct.error, IndexError) as e:
        raise BoxError(f"malformed moof: {e}") from None


def _parse_moof(moof: bytes | bytearray, init: Init) -> Fragment:
    runs: dict[int, TrackRun] = {}
    keyframe = False
    video = init.video
    for t0, t1 in find_all(moof, [b"moof", b"traf"]):
        h = _traf_header(moof, init, t0, t1)
        tid, def_dur, def_flags, decode_time, d0 = h.track_id, h.duration, h.flags, h.decode_time, h.tfdt_pos
        wide = h.tfdt_64
        duration, first_flags = 0, None
        for r0, _r1 in find_all(moof, [b"trun"], t0, t1):
            rflags = int.from_bytes(moof[r0 + 1 : r0 + 4], "big")
            count = struct.unpack_from(">I", moof, r0 + 4)[0]
            pos = r0 + 8 + (4 if rflags & 0x01 else 0)
            if rflags & 0x04:
                first_flags = struct.unpack_from(">I", moof, pos)[0]
                pos += 4
            per = 4 * bin(rflags & 0xF00).count("1")
            if rflags & 0x100:
                duration += sum(struct.unpack_from(">I", moof, pos + i * per)[0] for i in range(count))
            else:
                duration += def_dur * count
            if first_flags is None:
                if rflags & 0x400 and count:
                    off = pos + (4 if rflags & 0x100 else 0) + (4 if rflags & 0x200 else 0)
                    first_flags = struct.unpack_from(">I", moof, off)[0]
                else:
                    first_flags = def_flags
        runs[tid] = TrackRun(decode_time, duration, d0, wide)
        if video is not None and tid == video.track_id:
            keyframe = first_flags is not None and not first_flags & SYNC_FLAGS_MASK
    return Fragment(runs, keyframe)


def set_decode_times(moof: bytearray, frag: Fragment, offsets: dict[int, int]) -> None:
    """Shift each track's ``tfdt`` by ``offsets[track]`` in place (one continuous timeline)."""
    for tid, run in frag.tracks.items():
        value = run.decode_time + offsets.get(tid, 0)
        if run.tfdt_64:
            struct.pack_into(">Q", moof, run.tfdt_pos, value)
        elif value < 2**32:
            struct.pack_into(">I", moof, run.tfdt_pos, value)
        else:
            raise BoxError("32-bit tfdt cannot hold the shifted decode time")
        run.decode_time = value


@dataclass(slots=True, frozen=True)
class Sample:
    """One sample (a video frame) of a fragment."""

    offset: int  # where its bytes start, counted from the moof's first byte (moof + mdat as one buffer)
    size: int
    decode_time: int  # in the track's timescale
    composition_offset: int
    sync: bool  # a keyframe


def track_samples(moof: bytes | bytearray, init: Init, track_id: int) -> list[Sample]:
    """The samples of one track in a fragment, for a fragment whose data offsets count from its ``moof``
    (``default-base-is-moof``, as Ronda's recorder writes: ``movflags=+default_base_moof``), so that a
    decoder can be fed without a demuxer. BoxError when the fragment is malformed, has an explicit base
    data offset, or its samples lie outside ``moof`` + the data that follows."""
    try:
        return _track_samples(moof, init, track_id)
    except (struct.error, IndexError) as e:
        raise BoxError(f"malformed moof: {e}") from None


def _track_samples(moof: bytes | bytearray, init: Init, track_id: int) -> list[Sample]:
    out: list[Sample] = []
    for t0, t1 in find_all(moof, [b"moof", b"traf"]):
        h = _traf_header(moof, init, t0, t1)
        if h.track_id != track_id:
            continue
        if h.base_offset:
            raise BoxError("explicit base data offset: samples are not relative to the moof")
        dur, size, sflags, dts = h.duration, h.size, h.flags, h.decode_time
        for r0, _r1 in find_all(moof, [b"trun"], t0, t1):
            version = moof[r0]
            rflags = int.from_bytes(moof[r0 + 1 : r0 + 4], "big")
            count = struct.unpack_from(">I", moof, r0 + 4)[0]
            pos = r0 + 8
            offset = 0
            if rflags & 0x01:
                offset = struct.unpack_from(">i", moof, pos)[0]
                pos += 4
            first = None
            if rflags & 0x04:
                first = struct.unpack_from(">I", moof, pos)[0]
                pos += 4
            for i in range(count):
                s_dur, s_size, s_flags, cto = dur, size, sflags, 0
                if rflags & 0x100:
                    s_dur = struct.unpack_from(">I", moof, pos)[0]
                    pos += 4
                if rflags & 0x200:
                    s_size = struct.unpack_from(">I", moof, pos)[0]
                    pos += 4
                if rflags & 0x400:
                    s_flags = struct.unpack_from(">I", moof, pos)[0]
                    pos += 4
                elif i == 0 and first is not None:
                    s_flags = first
                if rflags & 0x800:
                    cto = struct.unpack_from(">i" if version else ">I", moof, pos)[0]
                    pos += 4
                out.append(Sample(offset, s_size, dts, cto, not s_flags & SYNC_FLAGS_MASK))
                offset += s_size
                dts += s_dur
    return out
