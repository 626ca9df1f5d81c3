"""Federation's pure parts (``ronda.cluster.federation``), without servers: the signed request tokens a
remote accepts or refuses, the signed answers, and what a central user may use of a remote's cameras.
The three-process test (test_federation_sites.py) runs the same over real HTTP."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from ronda.access.audit import AuditLog
from ronda.access.rights import Grant, Permissions
from ronda.access.service import Principal
from ronda.cluster import federation as fed
from ronda.cluster import federation_admin as admin
from ronda.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated, Unavailable
from ronda.store.access_models import CameraGroup, CameraGroupMember, Role
from ronda.store.all_models import Base
from ronda.store.db import Database
from ronda.store.models import Camera

PATH = "/api/v1/federation/peer/cameras"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(f"sqlite:///{tmp_path / 'fed.db'}")
    Base.metadata.create_all(d.engine)
    with d.session() as s:
        for n in (1, 2, 3):
            s.add(Camera(id=n, name=f"C{n}", created_ms=0))
        s.flush()
        piazza, other = CameraGroup(name="Piazza"), CameraGroup(name="Other")
        s.add_all([piazza, other])
        s.flush()
        s.add_all(
            [CameraGroupMember(group_id=g, camera_id=c) for g, c in ((piazza.id, 1), (piazza.id, 2), (other.id, 3))]
        )
        s.add_all([Role(name="viewer", rights=["live", "playback"]), Role(name="ops", rights=["live", "export"])])
    yield d
    d.dispose()


@pytest.fixture
def centre_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def audit(db: Database, tmp_path: Path) -> Iterator[AuditLog]:
    log = AuditLog.open(db, tmp_path / "keys")
    yield log
    log.close()


@pytest.fixture
def peer(db: Database, audit: AuditLog, centre_key: Ed25519PrivateKey) -> int:
    return admin.add_peer(db, audit, "test", "hq", fed.public_key_text(centre_key), [("Piazza", ["live", "playback"])])


def verify(db: Database, nonces: fed.NonceCache, token: str | None, method: str = "GET", path: str = PATH,
           body: bytes = b"", now: int | None = None) -> fed.PeerCall:  # fmt: skip
    with db.session() as s:
        return fed.verify_request(s, nonces, token, method, path, body, "127.0.0.1", now)


def test_a_good_token_is_accepted_once_and_carries_the_peers_grants(db, peer, centre_key) -> None:
    nonces = fed.NonceCache()
    token, nonce = fed.sign_request(centre_key, "hq", "anna", "GET", PATH)
    call = verify(db, nonces, token)
    assert (call.peer, call.user, call.nonce, call.actor) == ("hq", "anna", nonce, "anna@hq")
    assert call.groups == {1: ["Piazza"], 2: ["Piazza"]}
    assert call.principal.can("live", 1) and call.principal.can("playback", 2)
    assert not call.principal.can("live", 3) and not call.principal.can("export", 1)
    with pytest.raises(Unauthenticated, match="already used"):
        verify(db, nonces, token)


@pytest.mark.parametrize("case", ["forged", "site", "method", "path", "body", "expired", "ahead", "none", "junk"])
def test_tokens_the_remote_refuses(db, peer, centre_key, case: str) -> None:
    now = 1_800_000_000_000
    key = Ed25519PrivateKey.generate() if case == "forged" else centre_key
    site = "elsewhere" if case == "site" else "hq"
    signed_at = now - 120_000 if case == "expired" else now + 600_000 if case == "ahead" else now
    token: str | None
    token, _ = fed.sign_request(key, site, "anna", "GET", PATH, b"", now=signed_at)
    method, path, body = "GET", PATH, b""
    if case == "method":
        method = "POST"
    elif case == "path":
        path = PATH + "?x=1"
    elif case == "body":
        body = b"{}"
    elif case == "none":
        token = None
    elif case == "junk":
        token = "a.b"
    with pytest.raises(Unauthenticated):
        verify(db, fed.NonceCache(), token, method, path, body, now=now)


def test_a_token_is_refused_once_the_peer_is_removed_or_its_key_changed(db, peer, centre_key) -> None:
    from ronda.store.federation_models import FederationPeer

    token, _ = fed.sign_request(centre_key, "hq", "anna", "GET", PATH)
    with db.session() as s:
        row = s.get(FederationPeer, peer)
        assert row is not None
        row.public_key = fed.public_key_text(Ed25519PrivateKey.generate())
    with pytest.raises(Unauthenticated):
        verify(db, fed.NonceCache(), token)


def test_answers_are_bound_to_the_request_and_the_body() -> None:
    key = Ed25519PrivateKey.generate()
    sig = fed.sign_answer(key, "n1", b"body")
    pub = key.public_key()
    assert fed.answer_is_signed(pub, "n1", b"body", sig)
    assert not fed.answer_is_signed(pub, "n2", b"body", sig)
    assert not fed.answer_is_signed(pub, "n1", b"bodY", sig)
    assert not fed.answer_is_signed(Ed25519PrivateKey.generate().public_key(), "n1", b"body", sig)
    assert not fed.answer_is_signed(pub, "n1", b"body", None)
    assert not fed.answer_is_signed(pub, "n1", b"body", "%%%")


def test_a_token_used_on_one_api_node_is_refused_by_another(db, peer, centre_key) -> None:
    """``SharedNonces`` (what ``Federation`` uses): the nonce is in the database both nodes use."""
    other = Database(db.url)  # a second API node of the remote site
    try:
        token, _ = fed.sign_request(centre_key, "hq", "anna", "GET", PATH)
        assert verify(db, fed.SharedNonces(db), token).user == "anna"
        with pytest.raises(Unauthenticated, match="already used"):
            verify(other, fed.SharedNonces(other), token)
        fresh, _ = fed.sign_request(centre_key, "hq", "anna", "GET", PATH)
        assert verify(other, fed.SharedNonces(other), fresh).user == "anna"
    finally:
        other.dispose()


def test_a_token_with_an_overlong_nonce_is_malformed() -> None:
    import base64
    import json

    payload = {"v": 1, "site": "hq", "user": "", "m": "GET", "p": PATH, "b": "", "exp": 1, "n": "n" * 65}
    head = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated, match="invalid"):
        fed.read_claims(head + ".AAAA")


def test_the_nonce_cache_forgets_expired_nonces_and_stays_bounded() -> None:
    cache = fed.NonceCache(limit=4)
    assert cache.first_use("a", 10, 0) and cache.first_use("b", 10, 0)
    assert not cache.first_use("a", 10, 0)
    assert cache.first_use("c", 30, 20)  # half full: the expired a and b are forgotten
    assert cache.first_use("a", 30, 20)
    assert cache.first_use("d", 30, 20) and cache.first_use("e", 30, 20)
    assert not cache.first_use("f", 30, 20)  # full of live nonces: refused rather than grown


def _caller(roles: list[str], rights: set[str]) -> Principal:
    return Principal(user_id=1, username="anna", roles=roles, organisation_id=None,
                     permissions=Permissions([Grant(frozenset(rights))]))  # fmt: skip


def test_a_central_user_gets_the_remote_grant_narrowed_by_its_roles(db, audit) -> None:
    key = fed.public_key_text(Ed25519PrivateKey.generate())
    sid = admin.add_site(db, audit, "test", "comune-a", "http://127.0.0.1:1/", key,
                       [("Piazza", ["viewer", "ops"]), ("Other", ["ops"])])  # fmt: skip
    f = fed.Federation(db, Ed25519PrivateKey.generate(), "hq")
    f.reload()
    st = f.sites[sid]
    assert st.url == "http://127.0.0.1:1"
    st.cameras = [{"id": 1, "name": "C1", "groups": ["Piazza"], "rights": ["live", "playback", "export"]},
                  {"id": 2, "name": "C2", "groups": ["Piazza"], "rights": ["live"]},
                  {"id": 3, "name": "C3", "groups": ["Other"], "rights": ["live", "alarms"]},
                  {"id": 4, "name": "C4", "groups": ["Elsewhere"], "rights": ["live"]}]  # fmt: skip
    viewer = _caller(["viewer"], {"live", "playback"})
    [site] = f.cameras_for(viewer)
    assert [(c["name"], c["rights"]) for c in site["cameras"]] == [("C1", ["live", "playback"]), ("C2", ["live"])]
    ops = _caller(["ops"], {"live", "export"})
    [site] = f.cameras_for(ops)
    assert [(c["name"], c["rights"]) for c in site["cameras"]] == [("C1", ["live", "export"]), ("C2", ["live"]),
                                                                   ("C3", ["live"])]  # fmt: skip
    # An API key or time profile without "live" narrows further: the rights held now count.
    assert f.cameras_for(_caller(["ops"], {"export"}))[0]["cameras"] == [
        {"id": 1, "name": "C1", "groups": ["Piazza"], "rights": ["export"], "streams": []}]  # fmt: skip
    assert f.cameras_for(_caller(["administrator"], {"live", "playback", "export", "alarms"})) == []
    assert f.check(viewer, sid, 1, "playback") is st
    with pytest.raises(Forbidden):
        f.check(viewer, sid, 2, "playback")
    for cam in (3, 4, 99):
        with pytest.raises(NotFound):
            f.check(viewer, sid, cam, "live")
    with pytest.raises(NotFound):
        f.check(viewer, sid + 1, 1, "live")
    with pytest.raises(Forbidden):
        f.check_site(viewer, sid, "alarms")
    # Each right is checked on its own (what the web client offers follows the same `rights`): the
    # site's grant lacks export on C2, the caller's rights held now lack live.
    assert f.check(ops, sid, 1, "export") is st
    with pytest.raises(Forbidden):
        f.check(ops, sid, 2, "export")
    with pytest.raises(Forbidden):
        f.check(_caller(["ops"], {"export"}), sid, 1, "live")


def test_registration_refuses_bad_input(db, audit, peer) -> None:
    key = fed.public_key_text(Ed25519PrivateKey.generate())
    with pytest.raises(Conflict):
        admin.add_peer(db, audit, "t", "hq", key, [])
    for name, k, grants in [("x", "short", []), ("x", key, [("Nope", ["live"])]), ("x", key, [("Piazza", ["ptz"])]),
                            ("x", key, [("Piazza", [])]), ("bad\nname", key, [])]:  # fmt: skip
        with pytest.raises(Invalid):
            admin.add_peer(db, audit, "t", name, k, grants)
    for url in ("ftp://h", "http://u:p@h", "http://h/?q=1", "nohost"):
        with pytest.raises(Invalid):
            admin.add_site(db, audit, "t", "s", url, key, [])
    with pytest.raises(Invalid, match="no role"):
        admin.add_site(db, audit, "t", "s", "http://h:1", key, [("Piazza", ["nobody"])])
    assert admin.parse_pairs(["Piazza=live, playback", "A=B=export"], "--grant") == [
        ("Piazza", ["live", "playback"]), ("A=B", ["export"])]  # fmt: skip
    with pytest.raises(Invalid):
        admin.parse_pairs(["Piazza"], "--grant")
    # A group (or a group and role) named twice is one grant, with the union of the rights.
    admin.add_peer(db, audit, "t", "twice", key, [("Piazza", ["live"]), ("Piazza", ["export"])])
    admin.add_site(db, audit, "t", "twice", "http://h:1", key, [("Piazza", ["viewer"]), ("Piazza", ["viewer", "ops"])])
    with db.session() as s:
        from ronda.store.federation_models import FederationPeer, FederationPeerGrant, FederationSiteAccess

        pid = s.scalar(select(FederationPeer.id).where(FederationPeer.name == "twice"))
        assert s.scalars(select(FederationPeerGrant.rights).where(FederationPeerGrant.peer_id == pid)).all() == [
            ["export", "live"]]  # fmt: skip
        assert len(s.scalars(select(FederationSiteAccess.role_id)).all()) == 2
    # Audited (once each: the refused ones left nothing, change or entry).
    assert [r.action for r in audit.iter_records()].count("federation.peer.add") == 2


def test_a_remotes_camera_list_is_kept_only_in_the_expected_shape() -> None:
    got = fed.clean_cameras([
        {"id": 1, "name": "C1", "groups": ["Piazza", 3], "rights": ["live", "ptz", "export"], "extra": "x",
         "streams": ["sub", "hd", 4, "main"]},
        {"id": "2", "name": "C2"}, {"id": True, "name": "C3"}, {"id": 0, "name": "C4"}, {"id": 5}, "junk",
        {"id": 6, "name": "N" * 500, "groups": "Piazza"},
    ])  # fmt: skip
    assert got == [
        {"id": 1, "name": "C1", "groups": ["Piazza"], "rights": ["live", "export"], "streams": ["main", "sub"]},
        {"id": 6, "name": "N" * 200, "groups": [], "rights": [], "streams": []},
    ]
    with pytest.raises(Unavailable):
        fed.clean_cameras({"cameras": []})


def test_repeated_views_open_one_window_per_viewer_and_camera() -> None:
    views = fed.ViewWindow(window_s=60, limit=3)
    assert views.first("anna", "1", now=0)
    assert not views.first("anna", "1", now=59_999)
    assert views.first("anna", "2", now=1) and views.first("bob", "1", now=1)
    assert views.first("anna", "1", now=60_000)
    assert views.first("carl", "1", now=200_000)  # full: the expired windows are dropped first


def test_only_a_playlist_of_relative_part_names_is_passed_on() -> None:
    good = b'#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MAP:URI="init-1.mp4"\n#EXTINF:1.000,\n12.m4s\n'
    assert fed.relative_playlist(good)
    for bad in (b"", b"12.m4s\n", good.replace(b"12.m4s", b"http://evil/12.m4s"),
                good.replace(b"init-1.mp4", b"../init-1.mp4"), good + b"#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n",
                good.replace(b"12.m4s", b"12.m4s?token=x"), "#EXTM3U\n\u00e9.m4s\n".encode()):  # fmt: skip
        assert not fed.relative_playlist(bad), bad


@pytest.fixture
def signing_site(tmp_path: Path) -> Iterator[tuple[str, Ed25519PrivateKey, bytes]]:
    """A real HTTP server on loopback answering as a remote would: ``/good`` (3 MiB signed with the site's
    key), ``/forged`` (signed with another key), ``/refused`` (403)."""
    import threading

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from tests.helpers import free_port

    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    body = os.urandom(3 << 20)

    async def answer(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind == "refused":
            return Response(status_code=403)
        claims, _, _ = fed.read_claims(request.headers[fed.TOKEN_HEADER])
        sig = fed.sign_answer(key if kind == "good" else other, claims.nonce, body)
        return Response(body, media_type="application/zip", headers={fed.SIGNATURE_HEADER: sig})

    port = free_port()
    app = Starlette(routes=[Route("/x/{kind}", answer)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", key, body
    finally:
        server.should_exit = True
        thread.join(10)


async def test_a_large_answer_is_spooled_to_disk_checked_and_removed_when_bad(db, tmp_path, signing_site) -> None:
    """An export package goes to a file as it arrives (hashed on the way), kept only when the site's
    signature matches; a forged, too large or refused answer leaves no file behind."""
    url, key, body = signing_site
    spool = tmp_path / "spool"
    f = fed.Federation(db, Ed25519PrivateKey.generate(), "hq", spool_dir=spool)
    await f.start()
    try:
        st = fed.SiteState(1, "comune-a", url, fed.public_key_text(key), online=True)
        into = f.spool_file()
        answer = await f.call(st, "GET", "/x/good", user="anna", max_bytes=8 << 20, into=into)
        assert (answer.status, answer.body) == (200, b"") and into.read_bytes() == body
        into.unlink()
        for path, limit in (("/x/forged", 8 << 20), ("/x/good", 1 << 20)):
            into = f.spool_file()
            with pytest.raises(Unavailable):
                await f.call(st, "GET", path, user="anna", max_bytes=limit, into=into)
            assert not into.exists(), path
        assert st.online is False and "not signed" in (st.error or "")  # the forged answer marks the site
        into = f.spool_file()
        assert (await f.call(st, "GET", "/x/refused", user="anna", max_bytes=8 << 20, into=into)).status == 403
        assert not into.exists()
        assert list(spool.iterdir()) == []
    finally:
        await f.stop()
