"""Access, refresh and stream tokens and WebSocket tickets, with real JWTs and forged ones."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading

import jwt
import pytest

from ronda.access.tokens import (
    Binding,
    InvalidToken,
    TicketBook,
    TokenIssuer,
    api_key_matches,
    api_key_prefix,
    load_or_create_key,
    new_api_key,
    new_refresh_token,
    token_hash,
)

KEY = b"k" * 32
NOW = 1_780_000_000.0


class Clock:
    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def b64(obj) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parts(token: str) -> tuple[dict, dict, str]:
    h, p, s = token.split(".")
    pad = lambda x: x + "=" * (-len(x) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(h))), json.loads(base64.urlsafe_b64decode(pad(p))), s


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(clock) -> TokenIssuer:
    return TokenIssuer(KEY, clock=clock)


def test_access_token_roundtrip(issuer, clock):
    tok = issuer.issue_access(42, "sess-1", 3)
    c = issuer.decode(tok)
    assert (c.user_id, c.session_id, c.token_version) == (42, "sess-1", 3)
    assert c.expires_at - c.issued_at == 900
    header, payload, _ = parts(tok)
    assert header["alg"] == "HS256"
    assert payload["typ"] == "access" and payload["sub"] == "42" and payload["ver"] == 3 and payload["sid"] == "sess-1"


def test_expired_token(issuer, clock):
    tok = issuer.issue_access(1, "s", 0)
    clock.t += 899
    issuer.decode(tok)
    clock.t += 1
    with pytest.raises(InvalidToken):
        issuer.decode(tok)


def test_token_issued_in_the_future_is_refused(issuer, clock):
    future = TokenIssuer(KEY, clock=Clock(NOW + 3600))
    with pytest.raises(InvalidToken):
        issuer.decode(future.issue_access(1, "s", 0))


def test_alg_none_is_refused(issuer):
    good = issuer.issue_access(1, "s", 0)
    _, payload, _ = parts(good)
    for alg in ("none", "None", "NONE"):
        forged = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(payload)}."
        with pytest.raises(InvalidToken):
            issuer.decode(forged)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_other_algorithms_are_refused_even_with_the_right_key(issuer, clock):
    payload = {"sub": "1", "sid": "s", "ver": 0, "iat": int(NOW), "exp": int(NOW) + 60, "typ": "access"}
    for alg in ("HS384", "HS512"):
        forged = jwt.encode(payload, issuer._access_key, algorithm=alg)
        with pytest.raises(InvalidToken):
            issuer.decode(forged)
    assert issuer.decode(jwt.encode(payload, issuer._access_key, algorithm="HS256")).user_id == 1


def test_wrong_key_is_refused(issuer, clock):
    payload = {"sub": "1", "sid": "s", "ver": 0, "iat": int(NOW), "exp": int(NOW) + 60, "typ": "access"}
    for key in (b"x" * 32, KEY):  # KEY itself is not the signing key: keys are derived per purpose
        with pytest.raises(InvalidToken):
            issuer.decode(jwt.encode(payload, key, algorithm="HS256"))
    other = TokenIssuer(b"o" * 32, clock=clock)
    with pytest.raises(InvalidToken):
        issuer.decode(other.issue_access(1, "s", 0))


def test_tampered_payload_and_signature(issuer):
    tok = issuer.issue_access(7, "s", 0)
    h, p, s = tok.split(".")
    _, payload, _ = parts(tok)
    for changes in ({"sub": "1"}, {"ver": 99}, {"exp": payload["exp"] + 10_000}, {"typ": "access", "sid": "x"}):
        forged = f"{h}.{b64({**payload, **changes})}.{s}"
        with pytest.raises(InvalidToken):
            issuer.decode(forged)
    flipped = s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]
    for bad in (f"{h}.{p}.{flipped}", f"{h}.{p}.", f"{h}.{p}", "", "garbage", "a.b.c", tok + "x", "." * 5000):
        with pytest.raises(InvalidToken):
            issuer.decode(bad)


def test_wrong_typ_and_bad_claims_are_refused(issuer, clock):
    base = {"sub": "1", "sid": "s", "ver": 0, "iat": int(NOW), "exp": int(NOW) + 60, "typ": "access"}
    bad_payloads = [
        {**base, "typ": "stream"},
        {**base, "typ": "refresh"},
        {k: v for k, v in base.items() if k != "typ"},
        {k: v for k, v in base.items() if k != "exp"},
        {k: v for k, v in base.items() if k != "sid"},
        {**base, "sub": "abc"},
        {**base, "sub": "-1"},
        {**base, "ver": "0"},
        {**base, "ver": True},
        {**base, "exp": str(int(NOW) + 60)},
    ]
    for payload in bad_payloads:
        with pytest.raises(InvalidToken):
            issuer.decode(jwt.encode(payload, issuer._access_key, algorithm="HS256"))
    # A stream token is never an access token (other typ and other derived key), and vice versa.
    with pytest.raises(InvalidToken):
        issuer.decode(issuer.issue_stream_token(Binding(1, "s", 0), 5, "live"))
    with pytest.raises(InvalidToken):
        issuer.verify_stream_token(issuer.issue_access(1, "s", 0), 5, "live")


def test_one_error_for_every_failure(issuer, clock):
    messages = set()
    expired = issuer.issue_access(1, "s", 0, ttl_s=-1)
    for bad in ("garbage", expired, jwt.encode({"sub": "1"}, b"z" * 32, algorithm="HS256")):
        with pytest.raises(InvalidToken) as ei:
            issuer.decode(bad)
        messages.add(str(ei.value))
    assert len(messages) == 1


def test_short_key_refused(tmp_path):
    with pytest.raises(ValueError):
        TokenIssuer(b"short")


def test_stream_token_bound_to_camera_and_right(issuer, clock):
    tok = issuer.issue_stream_token(Binding(9, "sess", 3), 5, "live")
    c = issuer.verify_stream_token(tok, 5, "live")
    assert (c.user_id, c.camera_id, c.right, c.binding, c.playlist) == (9, 5, "live", Binding(9, "sess", 3), False)
    for cam, right in ((6, "live"), (5, "playback"), (5, "export")):
        with pytest.raises(InvalidToken):
            issuer.verify_stream_token(tok, cam, right)
    clock.t += 60
    with pytest.raises(InvalidToken):
        issuer.verify_stream_token(tok, 5, "live")
    with pytest.raises(ValueError):
        issuer.issue_stream_token(Binding(9, "sess", 3), 5, "liev")


def test_stream_token_carries_its_binding(issuer):
    keyed = issuer.verify_stream_token(issuer.issue_stream_token(Binding(9, api_key_id=4), 5, "live", playlist=True),
                                       5, "live")  # fmt: skip
    assert keyed.binding == Binding(9, api_key_id=4) and keyed.playlist
    for bad in ((9,), (9, "s", None), (9, None, 1), (9, "s", 1, 4)):
        with pytest.raises(ValueError):
            Binding(*bad)  # neither or both of session and key
    # A token without a binding (or with half of one) is refused.
    now = int(issuer._now())
    for extra in ({}, {"sid": "s"}, {"ver": 1}, {"kid": "4"}, {"sid": "", "ver": 1}):
        claims = {"sub": "9", "cam": 5, "rgt": "live", "iat": now, "exp": now + 60, "typ": "stream", **extra}
        with pytest.raises(InvalidToken):
            issuer.verify_stream_token(jwt.encode(claims, issuer._stream_key, algorithm="HS256"), 5, "live")


def test_refresh_tokens_name_session_and_version_and_cannot_be_forged(issuer):
    tok, h = issuer.issue_refresh("sess-1", 7)
    assert h == token_hash(tok) and issuer.parse_refresh(tok) == ("sess-1", 7)
    assert issuer.issue_refresh("sess-1", 7)[0] != tok
    sid, ver, nonce, mac = tok.split(".")
    for bad in (
        f"sess-2.{ver}.{nonce}.{mac}",
        f"{sid}.8.{nonce}.{mac}",
        f"{sid}.{ver}.{nonce}x.{mac}",
        f"{sid}.{ver}.{nonce}",
        "",
        "x" * 500,
        "a.b.c.d",
        f"{sid}.{ver}.{nonce}.{mac}.x",
        "é.1.a.b",
    ):
        with pytest.raises(InvalidToken):
            issuer.parse_refresh(bad)  # fmt: skip


def test_refresh_tokens_and_api_keys():
    tok, h = new_refresh_token()
    assert len(tok) >= 43 and h == token_hash(tok) and len(h) == 64 and tok not in h
    assert new_refresh_token()[0] != tok
    k = new_api_key()
    assert k.key.startswith("rnd_") and api_key_prefix(k.key) == k.prefix
    assert api_key_matches(k.key, k.key_hash)
    assert not api_key_matches(k.key + "x", k.key_hash)
    for bad in ("", "rnd_", "rnd_zzzzzzzzzzzz_abc", f"rnd_{k.prefix}", "Bearer x", f"xyz_{k.prefix}_a"):
        assert api_key_prefix(bad) is None


def test_key_file_created_once_with_private_mode(tmp_path):
    path = tmp_path / "keys" / "jwt.key"
    k1 = load_or_create_key(path)
    assert len(k1) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) & 0o077 == 0
    assert load_or_create_key(path) == k1
    assert [p.name for p in path.parent.iterdir()] == ["jwt.key"]  # no temp files left
    (tmp_path / "short.key").write_text(base64.urlsafe_b64encode(b"abc").decode())
    with pytest.raises(ValueError):
        load_or_create_key(tmp_path / "short.key")


def test_key_file_race_yields_one_key(tmp_path):
    path = tmp_path / "keys" / "race.key"
    got: list[bytes] = []
    threads = [threading.Thread(target=lambda: got.append(load_or_create_key(path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1


def test_tickets_single_use_and_short_lived():
    clock = Clock(100.0)
    book = TicketBook(clock=clock)
    t1, t2 = book.issue(1), book.issue(2)
    assert t1 != t2
    assert book.redeem(t1) == 1
    assert book.redeem(t1) is None  # single use
    clock.t += 30
    assert book.redeem(t2) is None  # expired
    for bad in ("", "nope", "x" * 1000):
        assert book.redeem(bad) is None


def test_tickets_bounded_and_thread_safe():
    book = TicketBook(max_tickets=50)
    tickets = [book.issue(i) for i in range(200)]
    assert book.redeem(tickets[0]) is None  # evicted
    assert book.redeem(tickets[-1]) == 199
    t = book.issue(7)
    results: list[int | None] = []
    threads = [threading.Thread(target=lambda: results.append(book.redeem(t))) for _ in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results, key=lambda r: r is None) == [7] + [None] * 15
