"""The site map API over real HTTP against the shared site: plan upload (PNG, JPEG, GeoJSON), hostile
and oversized files, camera positions, and who sees what."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import zlib

import pytest

from ronda.api.app import content_security_policy
from ronda.config import ConfigError, load_config, tile_source

PLAN = "/api/v1/map/plan"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int = 64, height: int = 48, rgb: tuple[int, int, int] = (40, 60, 90), extra: int = 0) -> bytes:
    """A valid RGB PNG of one colour; ``extra`` bytes of incompressible text make it larger."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    if extra:
        chunks.append(_chunk(b"tEXt", b"pad\x00" + os.urandom(extra).hex().encode()[:extra]))
    chunks += [_chunk(b"IDAT", zlib.compress(raw)), _chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def jpeg_bytes(tmp_path) -> bytes:
    out = tmp_path / "plan.jpg"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=320x200", "-frames:v", "1",
                    str(out)], check=True, timeout=30)  # fmt: skip
    return out.read_bytes()


SQUARE = [[[9.18, 45.46], [9.20, 45.46], [9.20, 45.47], [9.18, 45.46]]]
GEOJSON = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {"name": "Piazza"},
         "geometry": {"type": "Polygon", "coordinates": SQUARE}},
        {"type": "Feature", "properties": None, "geometry": {"type": "Point", "coordinates": [9.19, 45.465]},
         "foreign": "dropped"},
    ],
}  # fmt: skip


def put_plan(client, body: bytes, ctype: str):
    return client.req("PUT", PLAN, content=body, headers={"Content-Type": ctype})


@pytest.fixture
def admin(users):
    return users["admin"]


def test_png_plan_upload_serve_and_audit(site, users, admin):
    body = png_bytes(64, 48)
    r = put_plan(admin, body, "image/png")
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["type"] == "image" and (plan["width"], plan["height"]) == (64, 48)
    # any logged-in user gets the map and the file, with the type Ronda checked and nosniff
    for user in ("viewer_a", "operator"):
        m = users[user].req("GET", "/api/v1/map").json()
        assert m["plan"]["type"] == "image" and m["plan"]["url"].startswith(PLAN)
        assert m["tile_url"] is None  # the test site has no base map (tests never fetch internet tiles)
        assert m["mode"] == "plan"  # map.mode auto: the plan, now that there is one
        f = users[user].req("GET", m["plan"]["url"])
        assert f.status_code == 200 and f.content == body
        assert f.headers["content-type"] == "image/png"
        assert f.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in f.headers["content-security-policy"]
    assert site.ronda.anon("GET", PLAN).status_code == 401
    assert site.ronda.anon("GET", "/api/v1/map").status_code == 401
    audit = admin.req("GET", "/api/v1/audit", params={"action": "map.plan_upload"}).json()
    assert audit and audit[0]["actor"] == "admin" and audit[0]["details"]["bytes"] == len(body)


def test_jpeg_plan(admin, tmp_path):
    r = put_plan(admin, jpeg_bytes(tmp_path), "image/jpeg")
    assert r.status_code == 200, r.text
    assert (r.json()["width"], r.json()["height"]) == (320, 200)
    assert admin.req("GET", PLAN).headers["content-type"] == "image/jpeg"


def test_viewer_and_operator_cannot_change_the_map(site, users, admin):
    assert put_plan(admin, png_bytes(), "image/png").status_code == 200
    for user in ("viewer_a", "operator"):
        c = users[user]
        assert put_plan(c, png_bytes(8, 8), "image/png").status_code == 403
        assert c.req("DELETE", PLAN).status_code == 403
        # a camera it sees but may not manage: 403; one it does not see: 404
        own = site.cam("Camera 1")
        assert c.req("PUT", f"/api/v1/map/cameras/{own}", json={"x": 0.5, "y": 0.5}).status_code == 403
    hidden = site.cam("Camera 2")
    assert users["viewer_a"].req("PUT", f"/api/v1/map/cameras/{hidden}", json={"x": 0.5, "y": 0.5}).status_code == 404
    assert admin.req("GET", PLAN).content == png_bytes()


def test_positions_and_visibility(site, users, admin):
    assert put_plan(admin, png_bytes(), "image/png").status_code == 200
    c1, c2 = site.cam("Camera 1"), site.cam("Camera 2")
    r = admin.req("PUT", f"/api/v1/map/cameras/{c1}", json={"x": 0.25, "y": 0.75})
    assert r.status_code == 200, r.text
    assert admin.req("PUT", f"/api/v1/map/cameras/{c2}", json={"x": 1, "y": 0}).status_code == 200

    def listed(user):
        return {c["name"]: c for c in users[user].req("GET", "/api/v1/map").json()["cameras"]}

    a, b = listed("viewer_a"), listed("viewer_b")
    assert (a["Camera 1"]["x"], a["Camera 1"]["y"]) == (0.25, 0.75)
    assert set(a) == {"Camera 1", "Camera 3"}  # odd cameras only, nothing else
    assert set(b) == {"Camera 2", "Camera 4"}
    assert b["Camera 2"]["x"] == 1 and b["Camera 4"]["x"] is None  # not placed
    assert {"id", "name", "status", "x", "y"} <= set(a["Camera 1"])
    everything = listed("admin")
    assert "Camera 1" in everything and "Clock" in everything

    # out of range, wrong pair, NaN, extra keys: 422; unknown camera: 404
    for bad in ({"x": 1.5, "y": 0}, {"x": 0.5}, {"lat": 45}, {"x": 0.1, "y": 0.1, "lat": 1, "lon": 1},
                {"x": 0.1, "y": 0.1, "z": 1}, {"x": "0.1", "y": []}):  # fmt: skip
        assert admin.req("PUT", f"/api/v1/map/cameras/{c1}", json=bad).status_code == 422, bad
    r = admin.req("PUT", f"/api/v1/map/cameras/{c1}", content=b'{"x": NaN, "y": 0.1}',
                  headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 422
    assert admin.req("PUT", "/api/v1/map/cameras/999999", json={"x": 0.1, "y": 0.1}).status_code == 404
    assert admin.req("PUT", f"/api/v1/map/cameras/{2**40}", json={"x": 0.1, "y": 0.1}).status_code == 422

    # take one off the map; audited
    assert admin.req("DELETE", f"/api/v1/map/cameras/{c2}").status_code == 204
    assert admin.req("DELETE", f"/api/v1/map/cameras/{c2}").status_code == 404
    assert listed("viewer_b")["Camera 2"]["x"] is None
    actions = {e["action"] for e in admin.req("GET", "/api/v1/audit", params={"actor": "admin"}).json()}
    assert {"map.position", "map.position_delete"} <= actions


def test_a_deleted_camera_leaves_the_map(site, admin):
    assert put_plan(admin, png_bytes(), "image/png").status_code == 200
    r = admin.req("POST", "/api/v1/cameras", json={"name": "Map temp", "url": "rtsp://127.0.0.1:9/none"})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert admin.req("PUT", f"/api/v1/map/cameras/{cid}", json={"x": 0.5, "y": 0.5}).status_code == 200
    assert admin.req("DELETE", f"/api/v1/cameras/{cid}").status_code == 204
    assert cid not in {c["id"] for c in admin.req("GET", "/api/v1/map").json()["cameras"]}
    assert admin.req("PUT", f"/api/v1/map/cameras/{cid}", json={"x": 0.5, "y": 0.5}).status_code == 404


def test_geojson_plan_and_lat_lon_positions(site, users, admin):
    r = put_plan(admin, json.dumps(GEOJSON).encode(), "application/geo+json")
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["type"] == "geojson" and plan["bounds"] == [9.18, 45.46, 9.2, 45.47]
    served = admin.req("GET", PLAN)
    assert served.headers["content-type"] == "application/geo+json"
    doc = served.json()
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 2
    assert "foreign" not in doc["features"][1]  # a clean copy is stored, not the upload
    c3 = site.cam("Camera 3")
    assert admin.req("PUT", f"/api/v1/map/cameras/{c3}", json={"x": 0.5, "y": 0.5}).status_code == 422
    assert admin.req("PUT", f"/api/v1/map/cameras/{c3}", json={"lat": 45.465, "lon": 9.19}).status_code == 200
    assert admin.req("PUT", f"/api/v1/map/cameras/{c3}", json={"lat": 95, "lon": 9.19}).status_code == 422
    cam = next(c for c in users["viewer_a"].req("GET", "/api/v1/map").json()["cameras"] if c["id"] == c3)
    assert (cam["lat"], cam["lon"]) == (45.465, 9.19)
    # back to an image plan for the other tests; positions of both kinds are kept
    assert put_plan(admin, png_bytes(), "image/png").status_code == 200


def _geo(geometry) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": geometry}]}).encode()


BAD_FILES = [
    pytest.param(png_bytes()[:-12], "image/png", "IEND", id="png-truncated"),
    pytest.param(png_bytes()[:20] + b"\xff" + png_bytes()[21:], "image/png", "checksum", id="png-bad-crc"),
    pytest.param(b"GIF89a" + b"\x00" * 100, "image/png", "not a PNG", id="gif-as-png"),
    pytest.param(png_bytes(), "image/jpeg", "not a JPEG", id="png-as-jpeg"),
    pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg", "JPEG", id="jpeg-truncated"),
    pytest.param(png_bytes(20000, 1), "image/png", "pixels", id="png-too-wide"),
    pytest.param(
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml", "SVG", id="svg"
    ),
    pytest.param(b"<html><script>alert(1)</script></html>", "text/html", "Content-Type", id="html"),
    pytest.param(b"", "image/png", "empty", id="empty"),
    pytest.param(b'{"type": "Feature"}', "application/geo+json", "FeatureCollection", id="not-a-collection"),
    pytest.param(b"{not json", "application/geo+json", "JSON", id="not-json"),
    pytest.param(b"\xff\xfe{}", "application/json", "UTF-8", id="not-utf8"),
    pytest.param(b"[" * 200_000 + b"]" * 200_000, "application/geo+json", "", id="deep-nesting"),
    pytest.param(_geo({"type": "Point", "coordinates": [200, 45]}), "application/geo+json", "range", id="lon-range"),
    pytest.param(
        b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point",'
        b'"coordinates":[Infinity,1]}}]}',
        "application/geo+json",
        "Infinity",
        id="infinity",
    ),
    pytest.param(
        _geo({"type": "Circle", "coordinates": [9, 45]}), "application/geo+json", "geometry type", id="bad-geometry"
    ),
    pytest.param(
        _geo({"type": "LineString", "coordinates": [[9, 45]]}), "application/geo+json", "2 positions", id="short-line"
    ),
    pytest.param(_geo({"type": "Point", "coordinates": ["9", 45]}), "application/geo+json", "numbers", id="strings"),
    pytest.param(_geo(None), "application/geo+json", "no coordinates", id="nothing-to-draw"),
]


@pytest.mark.parametrize(("body", "ctype", "message"), BAD_FILES)
def test_bad_plans_are_refused(admin, body, ctype, message):
    before = admin.req("GET", "/api/v1/map").json()["plan"]
    r = put_plan(admin, body, ctype)
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert message in r.json()["detail"]
    assert admin.req("GET", "/api/v1/map").json()["plan"] == before


def test_oversized_plans_413(admin):
    before = admin.req("GET", "/api/v1/map").json()["plan"]
    big_png = png_bytes(extra=5 * 1024 * 1024 + 10)
    big_geo = json.dumps({"type": "FeatureCollection", "features": [], "pad": "x" * (2 * 1024 * 1024 + 10)}).encode()
    for body, ctype in ((big_png, "image/png"), (big_geo, "application/geo+json")):
        assert put_plan(admin, body, ctype).status_code == 413
        # chunked, without a Content-Length: the route stops reading at the limit
        r = admin.req("PUT", PLAN, content=iter([body[i : i + 65536] for i in range(0, len(body), 65536)]),
                      headers={"Content-Type": ctype})  # fmt: skip
        assert r.status_code == 413, r.text
    assert admin.req("GET", "/api/v1/map").json()["plan"] == before


def test_delete_plan(site, users, admin):
    assert put_plan(admin, png_bytes(), "image/png").status_code == 200
    assert users["viewer_a"].req("DELETE", PLAN).status_code == 403
    assert admin.req("DELETE", PLAN).status_code == 204
    assert admin.req("GET", "/api/v1/map").json()["plan"] is None
    assert admin.req("GET", PLAN).status_code == 404
    c1 = site.cam("Camera 1")
    assert admin.req("PUT", f"/api/v1/map/cameras/{c1}", json={"x": 0.2, "y": 0.2}).status_code == 409
    assert put_plan(admin, png_bytes(), "image/png").status_code == 200
    current = f"plan-{hashlib.sha256(png_bytes()).hexdigest()[:16]}.png"
    assert [p.name for p in (site.data_dir / "map").iterdir()] == [current]  # older plans are removed


# --- the geographic map ------------------------------------------------------------------------------------
def test_geographic_positions_with_a_view(site, users, admin):
    c1, c2 = site.cam("Camera 1"), site.cam("Camera 2")
    view = {"lat": 42.9326, "lon": 12.6086, "direction": 350, "fov": 90, "range_m": 70}
    r = admin.req("PUT", f"/api/v1/map/cameras/{c1}", json=view)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in view} == view
    # the view is kept when only the place changes, and each part can change alone
    r = admin.req("PUT", f"/api/v1/map/cameras/{c1}", json={"lat": 42.933, "lon": 12.609, "direction": 0})
    assert (r.json()["direction"], r.json()["fov"], r.json()["range_m"]) == (0, 90, 70)
    cam = next(c for c in users["viewer_a"].req("GET", "/api/v1/map").json()["cameras"] if c["id"] == c1)
    assert (cam["lat"], cam["lon"], cam["direction"], cam["fov"], cam["range_m"]) == (42.933, 12.609, 0, 90, 70)
    assert cam["ptz"] is False
    # bounds: direction 0..360, fov 1..360, range 1..5000 m; a view needs a place; 422 naming the field
    for bad in ({"direction": -1}, {"direction": 360.5}, {"fov": 0}, {"fov": 361}, {"range_m": 0},
                {"range_m": 5001}, {"direction": "north"}, {"fov": None, "range_m": []}):  # fmt: skip
        r = admin.req("PUT", f"/api/v1/map/cameras/{c2}", json={"lat": 42.93, "lon": 12.6, **bad})
        assert r.status_code == 422, bad
        assert r.json()["detail"][0]["loc"][-1] in bad, r.json()
    r = admin.req("PUT", f"/api/v1/map/cameras/{c2}", content=b'{"lat": 1, "lon": 1, "direction": Infinity}',
                  headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 422
    assert admin.req("PUT", f"/api/v1/map/cameras/{c2}", json={"direction": 90}).status_code == 422
    for edge in ({"direction": 0, "fov": 1, "range_m": 1}, {"direction": 360, "fov": 360, "range_m": 5000}):
        assert (
            admin.req("PUT", f"/api/v1/map/cameras/{c2}", json={"lat": 42.93, "lon": 12.6, **edge}).status_code == 200
        )
    # the viewer may not change it
    assert users["viewer_a"].req("PUT", f"/api/v1/map/cameras/{c1}", json=view).status_code == 403
    audit = admin.req("GET", "/api/v1/audit", params={"action": "map.position"}).json()
    assert any(e["details"].get("direction") == 350 for e in audit)


def test_without_a_plan_the_map_is_geographic(site, admin):
    c3 = site.cam("Camera 3")
    assert admin.req("DELETE", PLAN).status_code in (204, 404)
    try:
        m = admin.req("GET", "/api/v1/map").json()
        assert m["plan"] is None and m["mode"] == "geographic"
        assert m["attribution"] and m["max_zoom"] == 19
        # lat/lon need no plan; x/y do
        assert admin.req("PUT", f"/api/v1/map/cameras/{c3}", json={"lat": 42.93, "lon": 12.61}).status_code == 200
        r = admin.req("PUT", f"/api/v1/map/cameras/{c3}", json={"x": 0.5, "y": 0.5})
        assert r.status_code == 409 and "lat" in r.text
    finally:
        assert put_plan(admin, png_bytes(), "image/png").status_code == 200


def test_csp_without_a_base_map_allows_no_other_image_host(site):
    csp = site.ronda.anon("GET", "/").headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["img-src"] == "'self' blob: data:"


@pytest.mark.parametrize(("url", "source"), [
    ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
    ("https://{s}.tile.example.org/{z}/{x}/{y}@2x.png?key=abc", "https://*.tile.example.org"),
    ("http://127.0.0.1:8123/{z}/{x}/{y}.png", "http://127.0.0.1:8123"),
    ("http://[::1]:8123/tiles/{z}/{x}/{y}.png", "http://[::1]:8123"),
])  # fmt: skip
def test_the_tile_host_goes_into_img_src(url, source):
    assert tile_source(url) == source
    assert f"img-src 'self' blob: data: {source};" in content_security_policy(source)
    assert load_config(None, environ={"RONDA__MAP__TILE_URL": url}).map.tile_url == url


@pytest.mark.parametrize("url", [
    "javascript:alert(1)//{z}/{x}/{y}", "ftp://tiles.example.org/{z}/{x}/{y}.png", "https://tiles.example.org/{z}/{x}.png",
    "https://tiles.example.org/{z}/{x}/{y}/{apikey}.png", "https://tiles.example.org; script-src *;/{z}/{x}/{y}.png",
    "https://user:pw@tiles.example.org/{z}/{x}/{y}.png", "https://tiles.example.org/{z}/{x}/{y}.png#f",
    "https://tiles example.org/{z}/{x}/{y}.png", "https://'self'/{z}/{x}/{y}.png", "https://{s}.10.0.0.1/{z}/{x}/{y}.png",
    "https://-bad-.org/{z}/{x}/{y}.png", "https://tiles.example.org:99999/{z}/{x}/{y}.png",
])  # fmt: skip
def test_a_bad_tile_url_is_refused_at_start(url):
    with pytest.raises(ConfigError, match="map.tile_url"):
        load_config(None, environ={"RONDA__MAP__TILE_URL": url})
    with pytest.raises(ValueError):
        tile_source(url)


def test_no_base_map():
    assert load_config(None, environ={"RONDA__MAP__TILE_URL": ""}).map.tile_url is None
    assert load_config(None, environ={}).map.tile_url == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
