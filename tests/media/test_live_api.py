"""Live view over the real API: stream choice, HLS (sliding window) and fMP4 over WebSocket.

Real ``ronda serve`` (the session ``site``), real simulator cameras, real ffmpeg/ffprobe on what a
player would receive, a real WebSocket client. Media URLs carry stream tokens, as in a browser.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from ronda.access.service import create_user
from ronda.store.access_models import Role
from ronda.store.db import Database
from tests.helpers import PW, Client, wait_for


# --- helpers ----------------------------------------------------------------------------------------------
def live_info(client: Client, camera_id: int, **params) -> httpx.Response:
    return client.req("GET", f"/api/v1/cameras/{camera_id}/live", params=params)


def urls(client: Client, camera_id: int, **params) -> dict[str, str]:
    r = live_info(client, camera_id, **params)
    assert r.status_code == 200, r.text
    return r.json()["urls"]


def box_type(data: bytes) -> bytes:
    return data[4:8]


def top_boxes(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
        if size < 8:
            break
        out.append(kind)
        pos += size
    return out


def ws_connect(site, path: str) -> ClientConnection:
    return connect(f"ws://127.0.0.1:{site.ronda.port}{path}", open_timeout=15, max_size=None)


def ws_refusal(site, path: str) -> str:
    """How the server turned a WebSocket down: ``"close 4401"`` or ``"http 403"``; fails if it streamed."""
    try:
        with ws_connect(site, path) as ws:
            msg = ws.recv(timeout=10)
    except InvalidStatus as e:
        return f"http {e.response.status_code}"
    except ConnectionClosed as e:
        return f"close {e.rcvd.code if e.rcvd else None}"
    raise AssertionError(f"the server streamed instead of refusing: {str(msg)[:80]!r}")


def receive(ws: ClientConnection, fragments: int, timeout: float) -> tuple[dict, bytes, list[tuple[float, bytes]]]:
    """The init header, the init section and ``fragments`` fragments with their arrival times."""
    head = ws.recv(timeout=timeout)
    assert isinstance(head, str), f"first message is binary: {head[:16]!r}"
    init = ws.recv(timeout=timeout)
    assert isinstance(init, bytes)
    frags: list[tuple[float, bytes]] = []
    deadline = time.monotonic() + timeout
    while len(frags) < fragments:
        msg = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        assert isinstance(msg, bytes), f"unexpected text message {msg!r}"
        frags.append((time.monotonic(), msg))
    return json.loads(head), init, frags


def ffprobe(path: Path, *args: str) -> dict:
    r = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args, str(path)], capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def assert_decodes(path: Path, *out_args: str) -> None:
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), *out_args, "-f", "null", "-"], capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr[-800:]


def video_packets(path: Path) -> tuple[list[dict], str]:
    info = ffprobe(path, "-select_streams", "v:0", "-show_entries", "packet=pts_time,duration_time,flags",
                   "-show_entries", "stream=codec_name")  # fmt: skip
    return info["packets"], info["streams"][0]["codec_name"]


def media_duration(packets: list[dict]) -> float:
    start = min(float(p["pts_time"]) for p in packets)
    end = max(float(p["pts_time"]) + float(p.get("duration_time") or 0) for p in packets)
    return end - start


def parse_media_playlist(text: str) -> dict:
    assert text.startswith("#EXTM3U"), text[:100]
    tags: dict[str, str] = {}
    segments, maps, extinf, pdt = [], [], None, None
    for line in text.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = line.split(":", 1)[1]
        elif line.startswith("#EXTINF:"):
            extinf = float(line[len("#EXTINF:") :].split(",")[0])
        elif line.startswith("#EXT-X-MAP:"):
            maps.append(re.search(r'URI="([^"]+)"', line).group(1))
        elif line.startswith("#EXT-X-") and ":" in line:
            k, v = line[1:].split(":", 1)
            tags.setdefault(k, v)
        elif line and not line.startswith("#"):
            segments.append({"uri": line, "dur": extinf, "map": maps[-1] if maps else None, "pdt": pdt})
            extinf = pdt = None
    return {"tags": tags, "segments": segments, "maps": maps}


def seq_of(uri: str) -> int:
    return int(re.match(r"(\d+)\.m4s\?", uri).group(1))


class Hls:
    """An HLS client session as a player runs it: master playlist → media playlist → init + segments."""

    def __init__(self, site, master_url: str) -> None:
        self.http = httpx.Client(base_url=site.ronda.base, timeout=30)
        r = self.http.get(master_url)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        self.master = r.text
        variants = [ln for ln in r.text.splitlines() if ln and not ln.startswith("#")]
        assert len(variants) == 1, r.text
        self.media_url = httpx.URL(site.ronda.base + master_url.split("?")[0]).join(variants[0])

    def playlist(self) -> dict:
        r = self.http.get(self.media_url)
        assert r.status_code == 200, r.text
        return parse_media_playlist(r.text)

    def get(self, uri: str) -> httpx.Response:
        return self.http.get(self.media_url.join(uri))

    def close(self) -> None:
        self.http.close()


# --- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def no_live(site, users) -> Client:
    """A user that sees every camera (may play recordings back) but has no live right."""
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    try:
        with db.session() as s:
            s.add(Role(name="Playback only (live tests)", rights=["playback"], all_cameras=True))
        create_user(db, "nolive", PW, ["Playback only (live tests)"])
    finally:
        db.dispose()
    return Client(site, "nolive")


# --- 1. which stream to play ------------------------------------------------------------------------------
def test_live_info_chooses_the_stream_and_falls_back_for_hevc(site, users, no_live):
    va, cam1 = users["viewer_a"], site.cam("Camera 1")
    grid = live_info(va, cam1, view="grid").json()
    assert (grid["mode"], grid["stream"]) == ("video", "sub") and grid["reason"] is None
    assert f"/media/{cam1}/live.m3u8?stream=sub&token=" in grid["urls"]["hls"]
    assert f"/media/{cam1}/live.ws?stream=sub&token=" in grid["urls"]["ws"]
    single = live_info(va, cam1, view="single").json()
    assert (single["mode"], single["stream"]) == ("video", "main")
    assert set(single["streams"]) == {"main", "sub"} and single["streams"]["main"]["browser"] is True

    admin, hevc = users["admin"], site.cam("HEVC")
    fallback = live_info(admin, hevc, view="single").json()
    assert fallback["mode"] == "snapshot" and fallback["stream"] is None
    assert "H.265" in fallback["reason"]
    assert "hls" not in fallback["urls"] and "ws" not in fallback["urls"]
    snap = wait_for(lambda: (r := site.ronda.anon("GET", fallback["urls"]["snapshot"])).status_code == 200 and r,
                    20, what="an HEVC snapshot")  # fmt: skip
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
    assert snap.content[:2] == b"\xff\xd8" and len(snap.content) > 1000
    capable = live_info(admin, hevc, view="single", hevc="true").json()
    assert (capable["mode"], capable["stream"], capable["reason"]) == ("video", "main", None)
    assert capable["streams"]["main"]["codec"] == "hevc" and "ws" in capable["urls"]

    assert live_info(admin, 999_999).status_code == 404
    assert live_info(users["viewer_b"], cam1).status_code == 404  # invisible to viewer_b
    assert live_info(users["night"], cam1).status_code == 404  # outside its time profile: sees nothing now
    r = live_info(no_live, cam1)
    assert r.status_code == 403 and "live" in r.text
    for bad in ({"view": "mosaic"}, {"stream": "foo"}, {"hevc": "perhaps"}):
        assert live_info(va, cam1, **bad).status_code == 422, bad
    anon = site.ronda.anon("GET", f"/api/v1/cameras/{cam1}/live")
    assert anon.status_code == 401 and "www-authenticate" in anon.headers


# --- 2. HLS -----------------------------------------------------------------------------------------------
def test_hls_live_playlist_segments_play_and_numbering_is_stable(site, users, tmp_path):
    cam1 = site.cam("Camera 1")
    hls = Hls(site, urls(users["viewer_a"], cam1, view="single")["hls"])
    try:
        assert 'CODECS="avc1.' in hls.master and "BANDWIDTH=" in hls.master
        first = hls.playlist()
        tags, segs = first["tags"], first["segments"]
        target = int(tags["EXT-X-TARGETDURATION"])
        assert "EXT-X-MEDIA-SEQUENCE" in tags and first["maps"], first
        assert len(segs) >= 3, first
        assert int(tags["EXT-X-MEDIA-SEQUENCE"]) == seq_of(segs[0]["uri"])
        first_seq = seq_of(segs[0]["uri"])
        assert [seq_of(s["uri"]) for s in segs] == list(range(first_seq, first_seq + len(segs)))
        for s in segs:
            assert round(s["dur"]) <= target, (s, target)
        # A player's fetches: the init section, then every segment of the window, one after the other.
        run = [s for s in segs if s["map"] == segs[0]["map"]]
        init = hls.get(segs[0]["map"])
        assert init.status_code == 200 and init.headers["content-type"] == "video/mp4"
        assert top_boxes(init.content) == [b"ftyp", b"moov"]
        bodies = {}
        for s in run:
            r = hls.get(s["uri"])
            assert r.status_code == 200, (s, r.text)
            assert top_boxes(r.content)[:2] == [b"moof", b"mdat"], s
            bodies[s["uri"]] = r.content
        f = tmp_path / "live.mp4"
        f.write_bytes(init.content + b"".join(bodies.values()))
        packets, codec = video_packets(f)
        assert codec == "h264"
        assert "K" in packets[0]["flags"], "a segment starts with a keyframe"
        extinf = sum(s["dur"] for s in run)
        assert abs(media_duration(packets) - extinf) <= 0.3, (media_duration(packets), extinf)
        assert_decodes(f)

        time.sleep(3)
        again = hls.playlist()
        assert int(again["tags"]["EXT-X-MEDIA-SEQUENCE"]) >= int(tags["EXT-X-MEDIA-SEQUENCE"])
        new_uris = [s["uri"] for s in again["segments"]]
        assert int(again["tags"]["EXT-X-TARGETDURATION"]) == target, "a live playlist keeps its target duration"
        again_seq = seq_of(again["segments"][0]["uri"])
        assert int(again["tags"]["EXT-X-MEDIA-SEQUENCE"]) == again_seq
        assert [seq_of(s["uri"]) for s in again["segments"]] == list(range(again_seq, again_seq + len(new_uris)))
        for s in again["segments"]:
            assert round(s["dur"]) <= target, (s, target)
        assert new_uris != [s["uri"] for s in segs], "the live window moves on"
        common = [s for s in run if s["uri"] in new_uris]
        assert common, "3 s later the window still overlaps the previous one"
        for s in common:
            later = next(x for x in again["segments"] if x["uri"] == s["uri"])
            assert (later["dur"], later["pdt"], later["map"]) == (s["dur"], s["pdt"], s["map"])
            r = hls.get(s["uri"])
            assert r.status_code == 200 and r.content == bodies[s["uri"]], "the same number, the same media"
    finally:
        hls.close()


# --- 3. low latency over WebSocket ------------------------------------------------------------------------
def test_websocket_sends_init_then_playable_fragments(site, users, tmp_path):
    cam1 = site.cam("Camera 1")
    ws_path = urls(users["viewer_a"], cam1, view="single")["ws"]
    with ws_connect(site, ws_path) as ws:
        # The client offered permessage-deflate (websockets does by default, as browsers do); video does
        # not compress, so the server declines it instead of deflating every fragment for every viewer.
        assert "permessage-deflate" in (ws.request.headers.get("Sec-WebSocket-Extensions") or "")
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None, ws.response.headers
        head, init, frags = receive(ws, 8, 5)
        t_first = frags[0][0]
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            frags.append((time.monotonic(), ws.recv(timeout=3)))
    assert head["type"] == "init" and head["mime"].startswith('video/mp4; codecs="avc1.'), head
    assert head["version"] >= 1 and head["codecs"] in head["mime"]
    assert box_type(init) == b"ftyp" and b"moov" in top_boxes(init)
    for _t, data in frags:
        assert isinstance(data, bytes) and box_type(data) == b"moof", data[:16]
        # one fragment, or a backlog of them back to back (the opening burst from the newest keyframe)
        boxes = top_boxes(data)
        assert boxes and boxes == [b"moof", b"mdat"] * (len(boxes) // 2), boxes
    # After the catch-up burst (from the newest keyframe), fragments arrive as they are recorded.
    live = [t for t, _ in frags if t > t_first + 1.0]
    assert len(live) >= 2 and (len(live) - 1) / (live[-1] - live[0]) >= 2.0, len(live)
    f = tmp_path / "ws.mp4"
    f.write_bytes(init + b"".join(d for _t, d in frags))
    packets, codec = video_packets(f)
    assert codec == "h264" and "K" in packets[0]["flags"], "the first fragment starts at a keyframe"
    assert media_duration(packets) >= 2.0
    assert_decodes(f)


# --- 4. one camera connection however many viewers --------------------------------------------------------
def test_many_viewers_one_camera_session(site, users):
    cam1 = site.cam("Camera 1")
    u = urls(users["viewer_a"], cam1, view="single")
    with ExitStack() as stack:
        sockets = [stack.enter_context(ws_connect(site, u["ws"])) for _ in range(3)]
        hls = Hls(site, u["hls"])
        stack.callback(hls.close)
        pl = hls.playlist()
        assert hls.get(pl["segments"][-1]["uri"]).status_code == 200
        for ws in sockets:
            _, _, frags = receive(ws, 3, 5)
            assert box_type(frags[-1][1]) == b"moof"
        sessions = site.sim.camera("cam1")["sessions"]
        assert sessions["main"] == 1, sessions  # the recorder's, and nobody else's


def test_an_open_live_socket_closes_when_its_session_ends(site, users):
    """Logging out (or a revoked session, a withdrawn right) ends live sockets already open: the server
    re-checks every RECHECK_S (10 s) beside the sending, and video flows until then."""
    me = Client(site, "viewer_a")  # a session of its own, ended below
    u = urls(me, site.cam("Camera 1"), view="single")
    with ws_connect(site, u["ws"]) as ws:
        receive(ws, 2, 15)
        assert me.req("POST", "/api/v1/auth/logout").status_code == 204
        t0, frames, code = time.monotonic(), 0, None
        try:
            while time.monotonic() - t0 < 25:
                ws.recv(timeout=25)
                frames += 1
        except ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd else None
    took = time.monotonic() - t0
    print(f"closed {code} after {took:.1f} s and {frames} more messages")
    assert code == 4401 and took < 15, (code, took)
    assert frames > 0, "the video stopped before the re-check"


# --- 5. rights and bad input ------------------------------------------------------------------------------
def test_live_media_rights_and_bad_input(site, users):
    va = users["viewer_a"]
    cam1, cam3 = site.cam("Camera 1"), site.cam("Camera 3")
    good = urls(va, cam1, view="single")
    token = re.search(r"token=([^&]+)", good["ws"]).group(1)
    other = re.search(r"token=([^&]+)", urls(va, cam3)["ws"]).group(1)
    r = va.req("POST", f"/api/v1/cameras/{cam1}/stream-token", json={"right": "playback"})
    assert r.status_code == 200
    playback = r.json()["token"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    base = f"/api/v1/media/{cam1}"

    bad_tokens = {"garbage": "not-a-token-at-all", "tampered": tampered, "other camera": other, "playback": playback}
    refused = {name: ws_refusal(site, f"{base}/live.ws?stream=main&token={t}") for name, t in bad_tokens.items()}
    for name, how in refused.items():
        assert how == "close 4401", (name, how)
    assert ws_refusal(site, f"{base}/live.ws?stream=foo&token={token}") == "close 4404"
    # a stream the camera does not record: refused at once, nothing to wait for
    cam2 = site.cam("Camera 2")
    t2 = re.search(r"token=([^&]+)", urls(users["viewer_b"], cam2)["ws"]).group(1)
    t0 = time.monotonic()
    assert ws_refusal(site, f"/api/v1/media/{cam2}/live.ws?stream=sub&token={t2}") == "close 4404"
    r = site.ronda.anon("GET", f"/api/v1/media/{cam2}/live.m3u8?stream=sub&token={t2}")
    assert r.status_code == 404 and time.monotonic() - t0 < 5, (r.status_code, r.text)

    http = site.ronda.anon
    for t in (other, playback, tampered):
        r = http("GET", f"{base}/live.m3u8?stream=main&token={t}")
        assert r.status_code == 401 and "www-authenticate" in r.headers, r.text
    assert http("GET", f"{base}/live.m3u8?stream=main").status_code in (401, 422)
    assert http("GET", f"{base}/live.m3u8?stream=foo&token={token}").status_code == 422
    assert http("GET", f"/api/v1/media/999999/live.m3u8?stream=main&token={token}").status_code == 401
    # A real session's media playlist, and requests outside what it lists.
    hls = Hls(site, good["hls"])
    try:
        pl = hls.playlist()
        long_token = re.search(r"token=([^&]+)", str(hls.media_url)).group(1)
        assert hls.get("999999999.m4s?token=" + long_token).status_code == 404
        assert hls.get("init-999.mp4?token=" + long_token).status_code == 404
        assert hls.get("-1.m4s?token=" + long_token).status_code in (404, 422)
        assert hls.get("init-0.mp4?token=" + long_token).status_code in (404, 422)
        assert hls.get(pl["segments"][-1]["uri"].split("?")[0] + "?token=" + other).status_code == 401
        assert hls.get(pl["segments"][-1]["uri"].split("?")[0]).status_code in (401, 422)
        foo = str(hls.media_url).replace("/live/main/", "/live/foo/")
        assert hls.http.get(foo).status_code in (404, 422)
        # The long HLS token is bound to the camera and right, like the short one.
        assert http("GET", f"/api/v1/media/{cam3}/live.m3u8?stream=main&token={long_token}").status_code == 401
    finally:
        hls.close()


# --- 6. camera outage while watched -----------------------------------------------------------------------
def live_rate(site, ws_path: str, listen_s: float = 3.0) -> int:
    """Fragments a fresh connection receives after its catch-up burst (0 when nothing is recorded)."""
    live = 0
    try:
        with ws_connect(site, ws_path) as ws:
            receive(ws, 1, 10)
            burst_end = time.monotonic() + 1.0
            end = burst_end + listen_s
            while time.monotonic() < end:
                ws.recv(timeout=max(0.01, end - time.monotonic()))
                if time.monotonic() > burst_end:
                    live += 1
    except (InvalidStatus, ConnectionClosed, TimeoutError):
        pass
    return live


def test_outage_while_watching_then_recovers(site, users, tmp_path):
    """The "Outage" camera (cam6/sub recorded as its main stream) powers off under a viewer, then comes
    back: the server keeps serving, the open viewer resumes on its own, and new viewers get live video."""
    admin, cid = users["admin"], site.cam("Outage")
    ws_path = wait_for(lambda: (r := live_info(admin, cid)).status_code == 200 and r.json()["urls"].get("ws"), 20,
                       what="live URLs for the Outage camera")  # fmt: skip
    with ws_connect(site, ws_path) as viewer:
        _, init, frags = receive(viewer, 2, 10)
        files: list[list[bytes]] = [[init, *(d for _t, d in frags)]]
        try:
            site.sim.stop_camera("cam6")
            quiet, deadline = False, time.monotonic() + 12
            while not quiet and time.monotonic() < deadline:  # what was recorded before the power-off, then silence
                try:
                    files[-1].append(viewer.recv(timeout=2))
                except TimeoutError:
                    quiet = True
            assert quiet, "fragments kept coming while the camera was off"
            time.sleep(2)
            assert site.ronda.proc is not None and site.ronda.proc.poll() is None, "the server is still running"
            assert site.ronda.anon("GET", "/api/v1/health").status_code == 200
        finally:
            site.sim.start_camera("cam6")
        # The open viewer resumes by itself once the recorder has reconnected.
        resumed, deadline = 0, time.monotonic() + 20
        while resumed < 8 and time.monotonic() < deadline:
            try:
                msg = viewer.recv(timeout=1)
            except TimeoutError:
                continue
            if isinstance(msg, str):  # a new decoder set-up: its init section follows
                assert json.loads(msg)["type"] == "init"
                files.append([viewer.recv(timeout=5)])
                continue
            files[-1].append(msg)
            resumed += 1
        assert resumed >= 8, f"the open viewer got {resumed} fragments in 20 s after the camera came back"
    for i, parts in enumerate(files):  # what the viewer's decoder was fed plays through the outage
        f = tmp_path / f"outage-{i}.mp4"
        f.write_bytes(b"".join(parts))
        # Every first recorded file after a (re)connect starts with two frames one tick apart (ffmpeg's
        # RTSP input); timestamps are kept as they are so ffmpeg's null muxer does not trip over them.
        assert_decodes(f, "-fps_mode", "passthrough", "-enc_time_base", "-1")
        # one continuous timeline (a hole would stall a Media Source buffer): span == sum of frame durations
        packets, _ = video_packets(f)
        frames = sum(float(p.get("duration_time") or 0) for p in packets)
        assert abs(media_duration(packets) - frames) <= 0.3, (media_duration(packets), frames)
    # A new viewer gets live fragments too, and Camera 1 was not disturbed.
    assert live_rate(site, live_info(admin, cid).json()["urls"]["ws"]) >= 5
    assert live_rate(site, urls(users["viewer_a"], site.cam("Camera 1"))["ws"], 2.0) >= 4
