"""An API-only node serves a camera another node records: live view and recent segments fetched from the
recording node over signed internal URLs (src/ronda/cluster/nodes.py, api/routes/internal.py)."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ronda.access import keys
from ronda.cluster.nodes import INTERNAL, UrlSigner
from ronda.timeutil import now_ms
from tests.cluster.conftest import OpsNodes
from tests.helpers import iso, wait_for

pytestmark = pytest.mark.postgres


def signer(nodes: OpsNodes) -> UrlSigner:
    return UrlSigner.from_site_key(keys.fernet_key(nodes.r1_dir / "keys" / "secrets.key"))


def first_segment(nodes: OpsNodes) -> dict:
    def ready() -> dict | None:
        nodes.mark_r1()
        now = now_ms()
        span = {"start": iso(now - 600_000), "end": iso(now + 60_000)}
        r = nodes.api.api("GET", f"/api/v1/cameras/{nodes.camera_id}/recordings", params=span)
        segs = r.json()["segments"] if r.status_code == 200 else []
        return segs[0] if segs and segs[0]["node"] == "r1" else None

    return wait_for(ready, 40, what="a segment of r1's camera in the catalog")


def test_the_api_node_serves_a_segment_identical_to_the_recorders_file(ops_nodes: OpsNodes) -> None:
    seg = first_segment(ops_nodes)
    cam = ops_nodes.camera_id
    tok = ops_nodes.api.api("POST", f"/api/v1/cameras/{cam}/stream-token", json={"right": "playback"}).json()
    r = ops_nodes.api.anon("GET", tok["urls"]["segment"].replace("{segment_id}", str(seg["id"])))
    assert r.status_code == 200, r.text
    files = list((ops_nodes.r1_dir / "recordings").rglob("*.mp4"))
    on_r1 = [f for f in files if f.stat().st_size == seg["bytes"] and f.read_bytes() == r.content]
    assert on_r1, "the bytes the API node served are no file of the recorder"
    a1 = ops_nodes.r1_dir.parent / "a1"
    assert not list((a1 / "recordings").rglob("*.mp4"))  # a1 records nothing: it fetched the file from r1
    assert (a1 / "cache" / "nodes" / "r1" / f"{seg['id']}.mp4").read_bytes() == r.content


def test_the_api_node_serves_live_view_from_the_recording_node(ops_nodes: OpsNodes) -> None:
    cam = ops_nodes.camera_id
    info = wait_for(lambda: (r := ops_nodes.api.api("GET", f"/api/v1/cameras/{cam}/live")).status_code == 200
                    and r.json(), 20, what="live info")  # fmt: skip

    def snapshot() -> httpx.Response | None:
        # 503 + Retry-After is the recorder's "no keyframe to show yet" (its first segment still being
        # written, or its decoder slow on a loaded machine): a client asks again
        r = ops_nodes.api.anon("GET", info["urls"]["snapshot"])
        assert r.status_code in (200, 503), r.text[:200]
        return r if r.status_code == 200 else None

    snap = wait_for(snapshot, 20, what="a snapshot through the API node")
    assert snap.content[:3] == b"\xff\xd8\xff", snap.text[:200]
    master = ops_nodes.api.anon("GET", info["urls"]["hls"])
    assert master.status_code == 200, master.text
    assert "BANDWIDTH=" in master.text and 'CODECS="avc1' in master.text
    media = next(line for line in master.text.splitlines() if line and not line.startswith("#"))
    base = f"/api/v1/media/{cam}/"
    playlist = ops_nodes.api.anon("GET", base + media)
    assert playlist.status_code == 200, playlist.text
    token = parse_qs(urlsplit(media).query)["token"][0]
    m = re.search(r'#EXT-X-MAP:URI="(init-\d+\.mp4\?token=[^"]+)"', playlist.text)
    assert m is not None, playlist.text
    parts = [ln for ln in playlist.text.splitlines() if ln.endswith(f".m4s?token={token}")]
    assert parts, playlist.text
    init = ops_nodes.api.anon("GET", f"{base}live/main/{m.group(1)}")
    assert init.status_code == 200 and init.content[4:8] == b"ftyp"
    # The same media segment, from the API node and from the recorder itself: the same bytes.
    seq = parts[-1].split(".m4s")[0]
    via_api = ops_nodes.api.anon("GET", f"{base}live/main/{parts[-1]}")
    direct = ops_nodes.recorder.anon("GET", f"{base}live/main/{seq}.m4s?token={token}")
    assert via_api.status_code == 200 and direct.status_code == 200
    assert via_api.content == direct.content and len(via_api.content) > 1000


def test_the_api_node_relays_the_live_socket_of_the_recording_node(ops_nodes: OpsNodes) -> None:
    cam = ops_nodes.camera_id
    info = ops_nodes.api.api("GET", f"/api/v1/cameras/{cam}/live").json()
    url = "ws" + ops_nodes.api.base.removeprefix("http") + info["urls"]["ws"]
    with connect(url, open_timeout=10, max_size=None) as ws:
        head = json.loads(ws.recv(timeout=20))
        assert head["type"] == "init" and head["codecs"].startswith("avc1"), head
        init = ws.recv(timeout=10)
        assert isinstance(init, bytes) and init[4:8] == b"ftyp"
        frags = [ws.recv(timeout=10) for _ in range(3)]
        assert all(isinstance(f, bytes) and f[4:8] == b"moof" for f in frags)


def test_internal_calls_are_refused_unless_signed(ops_nodes: OpsNodes) -> None:
    seg = first_segment(ops_nodes)
    base = ops_nodes.recorder.base
    path = f"{INTERNAL}/segments/{seg['id']}.mp4"
    sign = signer(ops_nodes)
    unsigned = httpx.get(base + path, timeout=10)
    assert unsigned.status_code == 403, unsigned.text
    # A signature for another path, a changed signature, an expired one, one from another key: refused.
    other = sign.query(f"{INTERNAL}/segments/{seg['id'] + 1}.mp4")
    assert httpx.get(f"{base}{path}?{other}", timeout=10).status_code == 403
    good = parse_qs(sign.query(path))
    sig = good["sig"][0]
    tampered = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    assert httpx.get(base + path, params={"exp": good["exp"][0], "sig": tampered}, timeout=10).status_code == 403
    old = parse_qs(sign.query(path, now=time.time() - 3600))
    assert httpx.get(base + path, params={k: v[0] for k, v in old.items()}, timeout=10).status_code == 403
    foreign = UrlSigner.from_site_key(b"another site's key").query(path)
    assert httpx.get(f"{base}{path}?{foreign}", timeout=10).status_code == 403
    # The live socket too: the handshake of an unsigned one is refused.
    ws_path = f"{INTERNAL}/live/{ops_nodes.camera_id}/main/ws"
    ws_base = "ws" + base.removeprefix("http")
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_base + ws_path, open_timeout=10).close()
    assert refused.value.response.status_code == 403
    with connect(f"{ws_base}{ws_path}?{sign.query(ws_path)}", open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=20))["type"] == "init"
    # The refusals were about the signature: the same URL, signed, serves the file.
    ok = httpx.get(f"{base}{path}?{sign.query(path)}", timeout=10)
    assert ok.status_code == 200 and len(ok.content) == seg["bytes"]
    assert ok.content[4:8] == b"ftyp"
