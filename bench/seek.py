"""Benchmark: time from a playback request at a random instant to the first media bytes, vs a plain
static GET of the same bytes, same run.

One sample (``ronda``): ``GET vod.m3u8?start=T`` (HLS VOD from the catalog, default length 1 h) → parse
the playlist → ``GET`` the ``EXT-X-MAP`` byte range (ftyp+moov) of the first segment → ``GET`` its first
media byte range until the first body bytes arrive. The stream token (``POST .../stream-token``) that a
player asks for first is timed separately (``token_p50_ms``, ``with_token_p50_ms``), not in the figure.

Baseline: the same two byte ranges of the same file from a plain static file server (Starlette
``StaticFiles`` under uvicorn, ``bench/_seek_static.py``): the cost of serving those bytes at all.

Catalog: a real migrated SQLite catalog (``ronda db upgrade``) with 16 cameras × 30 days of 6-second
segments (≈ 6.9 M rows) plus gaps, built once and cached under ``~/.cache/ronda/bench-seek/``. Every row
has its own recorder-style path; the files themselves exist (as hard links to a pool of 20 real
fragmented-MP4 segments made with the recorder's ffmpeg options) for the hour after every sampled
instant, so the bytes, sizes and SHA-256 of the sampled ranges are real. ``ronda serve`` (recording off)
and the static server run on CPU 0, the keep-alive client (httpx) on CPU 1; one request at a time.

    python bench/seek.py [--requests 200] [--seed 4] [--rebuild] [--py-spy FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import free_port, write_config  # noqa: E402

from bench._common import result, stop, wait_up  # noqa: E402
from ronda.devices import simmedia  # noqa: E402
from ronda.media.hls import init_length  # noqa: E402
from ronda.recording.segments import StreamKey, final_relpath, hash_and_sync  # noqa: E402
from ronda.store.db import head_revision  # noqa: E402
from ronda.timeutil import DAY_MS, HOUR_MS, parse_iso, to_iso  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CATALOG_VERSION = "v1"  # bump when the catalog layout below changes
PASSWORD = "bench-admin-pw"  # noqa: S105
SEG_MS = 6000
POOL_SECONDS = 60  # per clip: 2 clips × 10 segments = 20 pool files
T_END = parse_iso("2026-11-28T00:00:00Z")  # fixed, so that the cached catalog stays valid
VOD_MS = HOUR_MS  # the vod route's default playlist length
TARGET_MS = 150.0
CATALOG_SEED = 1  # the gaps' layout (the sampled instants have their own --seed)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cache_root() -> Path:
    env = os.environ.get("RONDA_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ronda" / "bench-seek"


# --- the catalog ---------------------------------------------------------------------------------------
def make_pool(pool: Path) -> list[tuple[str, int, str]]:
    """Real recorder-style segments: the simulator's 1080p clips copied (never re-encoded) into 6 s
    fragmented MP4 with the recorder's muxer options. Returns (file name, bytes, sha256)."""
    cache = simmedia.default_cache_dir()
    simmedia.prepare(cache, 2)
    pool.mkdir(parents=True)
    ff = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"]
    for n in (1, 2):  # camera 1's clip moves, camera 2's is a still scene with noise
        clip, _ = simmedia.camera_files(cache, n)
        timed = pool / f"clip{n}.mp4"  # raw H.264 has no timestamps to loop on
        subprocess.run([*ff, "-r", str(simmedia.FPS), "-i", str(clip), "-c", "copy", str(timed)], check=True)
        subprocess.run(
            [*ff, "-stream_loop", "-1", "-i", str(timed), "-t", str(POOL_SECONDS), "-map", "0:v:0", "-c:v", "copy",
             "-f", "segment", "-segment_time", str(SEG_MS // 1000), "-segment_format", "mp4",
             "-segment_format_options",
             "movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration=250000:flush_packets=1",
             "-reset_timestamps", "1", str(pool / f"c{n}_%03d.mp4")],
            check=True,
        )  # fmt: skip
        timed.unlink()
    out = []
    for f in sorted(pool.glob("c*_*.mp4")):
        size, digest = hash_and_sync(f)
        init_length(str(f))  # raises when the file is not ftyp+moov first
        out.append((f.name, size, digest))
    return out


def plan_gaps(rng: random.Random, t0: int, t_end: int) -> list[tuple[int, int, str, str]]:
    """Nominal (start, duration, reason, detail) of one camera's gaps: a few short outages a day, one
    long one, and a Ronda restart shared by every camera."""
    gaps = [(t0 + 11 * DAY_MS + 7 * HOUR_MS + 12_345, 25_000, "recorder_restart", "ronda restarted")]
    for day in range((t_end - t0) // DAY_MS):
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            dur = int(min(300_000, max(8_000, rng.lognormvariate(10.3, 1.0))))  # median ≈ 30 s
            reason, detail = rng.choice(
                [("camera_unreachable", "Connection refused")] * 4 + [("stream_error", "Invalid data found")]
            )
            gaps.append((t0 + day * DAY_MS + rng.randrange(DAY_MS - HOUR_MS), dur, reason, detail))
    gaps.append((t0 + rng.randrange(t_end - t0 - 8 * HOUR_MS), rng.randrange(HOUR_MS, 6 * HOUR_MS),
                 "camera_unreachable", "No route to host"))  # fmt: skip
    gaps = sorted(g for g in gaps if g[0] + g[1] < t_end - SEG_MS)
    merged: list[tuple[int, int, str, str]] = []
    for g in gaps:  # keep gaps apart by at least one segment
        if merged and g[0] < merged[-1][0] + merged[-1][1] + 2 * SEG_MS:
            continue
        merged.append(g)
    return merged


def camera_rows(
    cam: int, t0: int, t_end: int, pool: list[tuple[str, int, str]], gaps_out: list[tuple[Any, ...]], seed: int
) -> Iterator[tuple[Any, ...]]:
    """Yield the segment rows of one camera (contiguous 6 s segments, interrupted by its gaps)."""
    rng = random.Random(f"{seed}-{cam}")
    prefixes: dict[int, tuple[str, str]] = {}

    def path(start: int) -> str:
        day = start // DAY_MS
        if day not in prefixes:
            probe = final_relpath(StreamKey(cam, "main"), day * DAY_MS)
            prefixes[day] = (str(probe.parent), probe.name[: len("main_20261128T")])
        folder, head = prefixes[day]
        sod, ms = divmod(start % DAY_MS, 1000)
        h, rest = divmod(sod, 3600)
        m, s = divmod(rest, 60)
        return f"{folder}/{head}{h:02d}{m:02d}{s:02d}{ms:03d}Z.mp4"

    t, k = t0, cam * 7
    for g_start, dur, reason, detail in [*plan_gaps(rng, t0, t_end), (t_end, 0, "", "")]:
        n = max(0, (g_start - t) // SEG_MS)
        for _ in range(n):
            _, size, digest = pool[k % len(pool)]
            k += 1
            yield (cam, "main", t, t + SEG_MS, size, path(t), digest, "h264", 0)
            t += SEG_MS
        if dur:
            gaps_out.append((cam, "main", t, t + dur, reason, detail))
            t += dur


def build_catalog(final: Path, cameras: int, days: int) -> dict[str, Any]:
    t_build = time.monotonic()
    work = final.with_name(final.name + ".building")
    if work.exists():
        shutil.rmtree(work)
    data = work / "data"
    cams = [{"name": f"Seek camera {i}", "main": {"url": f"rtsp://127.0.0.1:9/seek{i}"}} for i in range(1, cameras + 1)]
    cfg_path = write_config(data, free_port(), cams, recording={"enabled": False})
    py = [sys.executable, "-m", "ronda.cli"]
    log(f"building the catalog in {work}: ronda db upgrade, admin user, {cameras} cameras")
    subprocess.run([*py, "db", "upgrade", "--config", str(cfg_path)], check=True, capture_output=True)
    subprocess.run([*py, "user", "add", "admin", "--role", "administrator", "--config", str(cfg_path)],
                   check=True, capture_output=True, env={**os.environ, "RONDA_PASSWORD": PASSWORD})  # fmt: skip
    from ronda import runtime
    from ronda.config import load_config

    cfg = load_config(cfg_path)
    db = runtime.open_database(cfg, migrate=False)
    runtime.import_cameras(db, runtime.load_secrets(cfg), cfg.cameras)  # what `ronda serve` does at start
    db.dispose()

    log("making the pool of real fragmented-MP4 segments")
    pool = make_pool(work / "pool")
    t0 = T_END - days * DAY_MS
    con = sqlite3.connect(data / "ronda.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")  # a throw-away build: the folder is renamed into place at the end
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1000000")
    ids = dict(con.execute("SELECT name, id FROM cameras").fetchall())
    cam_ids = [ids[c["name"]] for c in cams]
    seg_sql = ("INSERT INTO segments (camera_id, stream, start_ms, end_ms, bytes, path, sha256, codec, recovered) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")  # fmt: skip
    gap_sql = "INSERT INTO gaps (camera_id, stream, start_ms, end_ms, reason, detail) VALUES (?, ?, ?, ?, ?, ?)"
    rows = n_gaps = 0
    t_ins = time.monotonic()
    for i, cid in enumerate(cam_ids, 1):
        gaps: list[tuple[Any, ...]] = []
        con.execute("BEGIN")
        cur = con.executemany(seg_sql, camera_rows(cid, t0, T_END, pool, gaps, CATALOG_SEED))
        rows += cur.rowcount
        con.executemany(gap_sql, gaps)
        con.execute("COMMIT")
        n_gaps += len(gaps)
        log(f"  camera {i}/{cameras}: {rows:,} segment rows, {n_gaps} gaps ({time.monotonic() - t_ins:.0f} s)")
    sample = con.execute("SELECT camera_id, start_ms, path FROM segments ORDER BY random() LIMIT 50").fetchall()
    for cid, start, rel in sample:  # the bulk path formatting must be the recorder's
        assert rel == str(final_relpath(StreamKey(cid, "main"), start)), (rel, cid, start)
    con.execute("PRAGMA journal_mode=WAL")  # as Ronda runs it
    con.close()
    meta = {
        "version": CATALOG_VERSION,
        "cameras": cam_ids,
        "days": days,
        "t0": t0,
        "t_end": T_END,
        "rows": rows,
        "gaps": n_gaps,
        "pool": {digest: name for name, _, digest in pool},
        "insert_s": round(time.monotonic() - t_ins, 1),
        "build_s": round(time.monotonic() - t_build, 1),
        "db_bytes": (data / "ronda.db").stat().st_size,
    }
    (work / "meta.json").write_text(json.dumps(meta, indent=1))
    cfg_path.unlink()
    work.rename(final)
    log(f"catalog built in {meta['build_s']} s (inserts {meta['insert_s']} s), {meta['db_bytes'] / 1e9:.2f} GB")
    return meta


def catalog(cameras: int, days: int, rebuild: bool) -> tuple[Path, dict[str, Any], float | None]:
    final = cache_root() / f"{CATALOG_VERSION}-{head_revision()}-{cameras}cam-{days}d"
    if rebuild and final.exists():
        shutil.rmtree(final)
    if (final / "meta.json").is_file():
        log(f"using the cached catalog {final}")
        return final, json.loads((final / "meta.json").read_text()), None
    final.parent.mkdir(parents=True, exist_ok=True)
    meta = build_catalog(final, cameras, days)
    return final, meta, meta["build_s"]


def pick_instants(con: sqlite3.Connection, meta: dict[str, Any], n: int, seed: int) -> list[tuple[int, int]]:
    """(camera id, instant) uniformly over recorded time: instants in a gap are drawn again."""
    rng = random.Random(seed)
    out: list[tuple[int, int]] = []
    while len(out) < n:
        cam, t = rng.choice(meta["cameras"]), rng.randrange(meta["t0"], meta["t_end"])
        hit = con.execute(
            "SELECT 1 FROM segments WHERE camera_id = ? AND stream = 'main' AND start_ms <= ? AND start_ms > ? "
            "AND end_ms > ?",
            (cam, t, t - 10 * SEG_MS, t),
        ).fetchone()
        if hit:
            out.append((cam, t))
    return out


def link_files(root: Path, con: sqlite3.Connection, meta: dict[str, Any], instants: list[tuple[int, int]]) -> int:
    """Hard-link a pool file under each row's own path for every segment a sampled playlist lists."""
    rec, pool, made = root / "data" / "recordings", root / "pool", 0
    for cam, t in instants:
        for rel, digest in con.execute(
            "SELECT path, sha256 FROM segments WHERE camera_id = ? AND stream = 'main' AND start_ms < ? "
            "AND start_ms > ? AND end_ms > ?",
            (cam, t + VOD_MS, t - 10 * SEG_MS, t),
        ):
            dest = rec / rel
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.link(pool / meta["pool"][digest], dest)
                made += 1
    return made


# --- the measurement -----------------------------------------------------------------------------------
MAP_RE = re.compile(r'#EXT-X-MAP:URI="([^"]+)",BYTERANGE="(\d+)@(\d+)"')
RANGE_RE = re.compile(r"#EXT-X-BYTERANGE:(\d+)@(\d+)")
SEG_ID_RE = re.compile(r"segments/(\d+)\.mp4")


def first_segment(playlist: str) -> tuple[str, int, str, int, int, int]:
    """(init URI, init length, media URI, media offset, media length, segments in the playlist)."""
    m = MAP_RE.search(playlist)
    r = RANGE_RE.search(playlist)
    assert m is not None and r is not None and m.group(3) == "0", playlist[:500]
    media_uri = playlist[r.end() :].lstrip("\n").split("\n", 1)[0]
    return m.group(1), int(m.group(2)), media_uri, int(r.group(2)), int(r.group(1)), playlist.count("#EXTINF")


def first_bytes(client: httpx.Client, url: str | httpx.URL, offset: int, length: int) -> tuple[float, bytes, int]:
    """GET a byte range: (perf_counter when the first body bytes arrived, those bytes, total length)."""
    with client.stream("GET", url, headers={"Range": f"bytes={offset}-{offset + length - 1}"}) as r:
        assert r.status_code == 206, (r.status_code, url)
        chunks = r.iter_raw()
        first = next(chunks)
        t = time.perf_counter()
        total = len(first) + sum(len(c) for c in chunks)  # drained (untimed) to keep the connection
    return t, first, total


class Seeker:
    def __init__(self, base: str, static_base: str, root: Path) -> None:
        self.api = httpx.Client(base_url=base, timeout=120)
        self.static = httpx.Client(base_url=static_base, timeout=120)
        self.rec = root / "data" / "recordings"
        self.cat = sqlite3.connect(f"file:{root / 'data' / 'ronda.db'}?mode=ro", uri=True)
        self.bearer = ""

    def login(self) -> None:
        r = self.api.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        r.raise_for_status()
        self.bearer = r.json()["access_token"]

    def close(self) -> None:
        self.api.close()
        self.static.close()
        self.cat.close()

    def check(self, rel: str, offset: int, got: bytes) -> None:
        with (self.rec / rel).open("rb") as f:
            f.seek(offset)
            assert f.read(len(got)) == got, f"wrong bytes from {rel}@{offset}"

    def sample(self, cam: int, t: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        r = self.api.post(f"/api/v1/cameras/{cam}/stream-token", json={"right": "playback"},
                          headers={"Authorization": f"Bearer {self.bearer}"})  # fmt: skip
        if r.status_code == 401:  # the session ran out during a long run
            self.login()
            return self.sample(cam, t)
        r.raise_for_status()
        vod = r.json()["urls"]["vod"].replace("{start}", to_iso(t))
        # --- measured: playlist → init range → first media bytes
        t1 = time.perf_counter()
        pl = self.api.get(vod)
        assert pl.status_code == 200, (pl.status_code, pl.text[:300])
        t2 = time.perf_counter()
        init_uri, init_len, media_uri, off, length, n_segs = first_segment(pl.text)
        init = self.api.get(pl.url.join(init_uri), headers={"Range": f"bytes=0-{init_len - 1}"})
        assert init.status_code == 206 and len(init.content) == init_len, init.status_code
        t3 = time.perf_counter()
        t4, first, total = first_bytes(self.api, pl.url.join(media_uri), off, length)
        # --- checks (untimed): the right bytes of the right segment
        m = SEG_ID_RE.search(media_uri)
        assert m is not None, media_uri
        rel, start_ms, end_ms = self.cat.execute(
            "SELECT path, start_ms, end_ms FROM segments WHERE id = ?", (int(m.group(1)),)
        ).fetchone()
        assert start_ms <= t < end_ms, (start_ms, t, end_ms)
        assert total == length, (total, length)
        self.check(rel, 0, init.content)
        self.check(rel, off, first)
        # --- baseline: the same two ranges of the same file from the static server
        b0 = time.perf_counter()
        sinit = self.static.get("/" + quote(rel), headers={"Range": f"bytes=0-{init_len - 1}"})
        assert sinit.status_code == 206 and sinit.content == init.content, sinit.status_code
        b1, sfirst, stotal = first_bytes(self.static, "/" + quote(rel), off, length)
        assert stotal == length
        self.check(rel, off, sfirst)
        ms = 1000.0
        return {"ronda": (t4 - t1) * ms, "token": (t1 - t0) * ms, "playlist": (t2 - t1) * ms,
                "init": (t3 - t2) * ms, "media": (t4 - t3) * ms, "baseline": (b1 - b0) * ms,
                "segments": n_segs, "playlist_bytes": len(pl.content), "t": t}  # fmt: skip


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    k = (len(v) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def warm_file(path: Path) -> None:
    """Read the catalog once so that every run starts with it in the page cache (as on a busy server)."""
    with path.open("rb") as f:
        while f.read(8 << 20):
            pass


def run(args: argparse.Namespace) -> int:
    t_run = time.monotonic()
    root, meta, built_s = catalog(args.cameras, args.days, args.rebuild)
    con = sqlite3.connect(f"file:{root / 'data' / 'ronda.db'}?mode=ro", uri=True)
    instants = pick_instants(con, meta, args.warmup + args.requests, args.seed)
    t_link = time.monotonic()
    made = link_files(root, con, meta, instants)
    con.close()
    log(f"{len(instants)} instants; {made} segment files linked ({time.monotonic() - t_link:.1f} s)")
    warm_file(root / "data" / "ronda.db")

    cams = [{"name": f"Seek camera {i}", "main": {"url": f"rtsp://127.0.0.1:9/seek{i}"}}
            for i in range(1, args.cameras + 1)]  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    spy: subprocess.Popen[bytes] | None = None
    seeker: Seeker | None = None
    with tempfile.TemporaryDirectory(prefix="ronda-bench-seek-") as tmp:
        port, sport = free_port(), free_port()
        cfg = write_config(root / "data", port, cams, recording={"enabled": False})  # root/data.yaml
        server_log, static_log = Path(tmp) / "ronda.log", Path(tmp) / "static.log"
        try:
            with server_log.open("wb") as out:
                procs.append(subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "ronda.cli", "serve",
                                               "--config", str(cfg)], stdout=out, stderr=out))  # fmt: skip
            with static_log.open("wb") as out:
                procs.append(subprocess.Popen(["taskset", "-c", "0", sys.executable,
                                               str(ROOT / "bench" / "_seek_static.py"), "--root",
                                               str(root / "data" / "recordings"), "--port", str(sport)],
                                              stdout=out, stderr=out))  # fmt: skip
            base, sbase = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sport}"
            wait_up(base + "/api/v1/health", procs[0], server_log)
            wait_up(sbase + "/", procs[1], static_log)
            if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
                os.sched_setaffinity(0, {1})
            seeker = Seeker(base, sbase, root)
            seeker.login()
            log(f"warm-up: {args.warmup} requests")
            for cam, t in instants[: args.warmup]:
                seeker.sample(cam, t)
            if args.py_spy:
                py_spy = Path(sys.executable).with_name("py-spy")
                spy_cmd = [str(py_spy) if py_spy.exists() else "py-spy", "record", "--pid", str(procs[0].pid)]
                spy_cmd += ["--format", "raw", "--output", str(args.py_spy), "--rate", "250", "--nonblocking"]
                spy = subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples = []
            log(f"measuring: {args.requests} requests at random instants (seed {args.seed})")
            for i, (cam, t) in enumerate(instants[args.warmup :], 1):
                samples.append(seeker.sample(cam, t))
                if i % 20 == 0 or i == args.requests:
                    last = [s["ronda"] for s in samples[-20:]]
                    log(f"  {i}/{args.requests}: last 20 p50 {statistics.median(last):.1f} ms")
        finally:
            if seeker is not None:
                seeker.close()
            stop(spy)
            for p in procs:
                stop(p)

    def col(key: str) -> list[float]:
        return [s[key] for s in samples]

    with_token = [s["token"] + s["ronda"] for s in samples]
    p50, p99 = pct(col("ronda"), 50), pct(col("ronda"), 99)
    b50, b99 = pct(col("baseline"), 50), pct(col("baseline"), 99)
    log("")
    log(f"catalog: {len(meta['cameras'])} cameras × {meta['days']} days, {meta['rows']:,} segments, "
        f"{meta['gaps']} gaps ({meta['db_bytes'] / 1e9:.2f} GB)")  # fmt: skip
    log(f"playlists: {statistics.mean(col('segments')):.0f} segments on average "
        f"({statistics.mean(col('playlist_bytes')) / 1024:.0f} KiB)")  # fmt: skip
    log(f"{'ms':<38}{'p50':>9}{'p99':>9}")
    for label, values in (
        ("ronda: playlist → first media bytes", col("ronda")),
        ("  playlist (GET vod.m3u8)", col("playlist")),
        ("  init range (EXT-X-MAP)", col("init")),
        ("  media range, to first bytes", col("media")),
        ("stream token (not in the figure)", col("token")),
        ("ronda with the token", with_token),
        ("baseline: static GET, same bytes", col("baseline")),
    ):
        log(f"{label:<38}{pct(values, 50):9.1f}{pct(values, 99):9.1f}")
    span = meta["t_end"] - meta["t0"]
    thirds = [[s["ronda"] for s in samples if int(3 * (s["t"] - meta["t0"]) / span) == i] for i in range(3)]
    log("ronda p50 by the age of the instant (oldest, middle, newest third of the catalog): "
        + ", ".join(f"{pct(v, 50):.1f} ms ({len(v)})" if v else "-" for v in thirds))  # fmt: skip
    verdict = "met" if p50 < TARGET_MS else "NOT met"
    log(f"target p50 < {TARGET_MS:.0f} ms: {verdict}; run took {time.monotonic() - t_run:.0f} s")
    print(result("seek", "p50 ms from playback request to first media bytes", "ms", p50, b50,
                 "Starlette StaticFiles under uvicorn, same byte ranges",
                 p99_ms=round(p99, 2), baseline_p99_ms=round(b99, 2),
                 playlist_p50_ms=round(pct(col("playlist"), 50), 2),
                 token_p50_ms=round(pct(col("token"), 50), 2),
                 with_token_p50_ms=round(pct(with_token, 50), 2),
                 newest_third_p50_ms=round(pct(thirds[2], 50), 2) if thirds[2] else None,
                 requests=len(samples), cameras=len(meta["cameras"]), days=meta["days"], rows=meta["rows"],
                 gaps=meta["gaps"], playlist_segments=round(statistics.mean(col("segments")), 1),
                 catalog_build_s=built_s, target_met=p50 < TARGET_MS))  # fmt: skip
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--cameras", type=int, default=16)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--seed", type=int, default=4)
    p.add_argument("--rebuild", action="store_true", help="build the cached catalog again")
    p.add_argument("--py-spy", type=Path, help="record the server with py-spy (collapsed stacks) into FILE")
    args = p.parse_args()
    if shutil.which("taskset") is None or shutil.which("ffmpeg") is None:
        raise SystemExit("taskset and ffmpeg are needed: run scripts/setup.sh --test")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: stop the servers
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
