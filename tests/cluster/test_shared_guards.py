"""The guards against guessing and replay hold across API nodes (docs/cluster.md "Shared guards"): two real
``ronda serve`` processes on one real PostgreSQL, as behind a load balancer. Wrong passwords spread over
both nodes lock the account after as many failures as on one node; the per-address limit likewise; a TOTP
code sent to both nodes at the same moment logs in once; a federation request token accepted by one node
of a remote site is refused by the other.

Each client connects from a loopback address of its own (the whole 127/8 is local; the nodes trust no
proxy, so that address is what they throttle), so the tests do not spend each other's address budget.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from ronda.access.service import create_user
from ronda.cluster import federation as fed
from ronda.store.db import Database
from ronda.store.models import Event
from tests.cluster.conftest import NodeProcess, own_database
from tests.helpers import PW, free_port, write_config

pytestmark = pytest.mark.postgres
LOGIN = "/api/v1/auth/login"
PEER_PATH = "/api/v1/federation/peer/cameras"


@dataclass
class Pair:
    nodes: list[NodeProcess]  # n1 (every role), n2 (api only), one PostgreSQL database
    db: Database

    def user(self, prefix: str) -> str:
        name = f"{prefix}_{secrets.token_hex(3)}"
        create_user(self.db, name, PW, ["viewer"])
        return name


@pytest.fixture(scope="module")
def pair(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    base = tmp_path_factory.mktemp("guards")
    url = own_database(pg_url)
    ports = [free_port(), free_port()]
    nodes = []
    for name, port, role in (("n1", ports[0], "all"), ("n2", ports[1], "api")):
        cfg = write_config(base / name, port, [], database={"url": url}, site={"name": "comune-g"},
                           cluster={"node": name, "advertise_url": f"http://127.0.0.1:{port}"})  # fmt: skip
        nodes.append(NodeProcess(cfg, base / f"{name}.log", port, role))
    db = Database(url)
    try:
        nodes[0].start()
        # Every node of a site holds the same keys (the deployment copies them).
        shutil.copytree(base / "n1" / "keys", base / "n2" / "keys", dirs_exist_ok=True)
        nodes[1].start()
        yield Pair(nodes, db)
    finally:
        for n in nodes:
            n.close()
        db.dispose()


def _loopback() -> str:
    return f"127.{secrets.randbelow(250) + 2}.{secrets.randbelow(254) + 1}.{secrets.randbelow(254) + 1}"


def _from_address(addr: str | None = None) -> Callable[[NodeProcess], httpx.Client]:
    """Clients to either node, all from one fresh loopback address (or ``addr``)."""
    addr = addr or _loopback()
    return lambda node: httpx.Client(base_url=node.base, timeout=60,
                                     transport=httpx.HTTPTransport(local_address=addr))  # fmt: skip


def _login(client: httpx.Client, username: str, password: str, totp: str | None = None) -> int:
    body: dict[str, Any] = {"username": username, "password": password}
    if totp is not None:
        body["totp"] = totp
    return client.post(LOGIN, json=body).status_code


def test_wrong_passwords_alternated_over_two_nodes_lock_the_account_after_five(pair: Pair) -> None:
    name = pair.user("alt")
    client = _from_address()
    with client(pair.nodes[0]) as c1, client(pair.nodes[1]) as c2:
        codes = [_login((c1, c2)[i % 2], name, f"wrong-{i}") for i in range(5)]
        locked = [_login(c2, name, "wrong-5"), _login(c1, name, PW)]  # even the right password waits
        hammered = [_login((c1, c2)[i % 2], name, f"again-{i}") for i in range(6)]
    print(f"5 wrong passwords over 2 nodes: {codes}, then {locked}")
    assert codes == [401] * 5
    assert locked == [429, 429] and hammered == [429] * 6
    # The locked-out source hammering both nodes raises one security.login_failures event a minute, not
    # one per node (rules alarm on it).
    with pair.db.session() as s:
        events = s.scalars(select(Event.payload).where(Event.type == "security.login_failures")).all()
    assert [e["username"] for e in events if e and e.get("username") == name] == [name]


def test_the_address_limit_counts_failures_on_both_nodes(pair: Pair) -> None:
    addr = _loopback()
    client = _from_address(addr)
    good = pair.user("addr")  # a real account, right password: refused all the same from that address
    with client(pair.nodes[0]) as c1, client(pair.nodes[1]) as c2:
        codes = [_login((c1, c2)[i % 2], f"nobody_{secrets.token_hex(4)}", "wrong") for i in range(20)]
        after = [_login(c1, f"nobody_{secrets.token_hex(4)}", "wrong"), _login(c2, good, PW)]
        cycling = [_login((c1, c2)[i % 2], f"nobody_{secrets.token_hex(4)}", "wrong") for i in range(8)]
    print(f"20 unknown users over 2 nodes from one address: {codes.count(401)} x 401, then {after}")
    assert codes == [401] * 20
    assert after == [429, 429] and cycling == [429] * 8
    # The locked-out address trying a new name each time, on both nodes: one security.login_failures event
    # (a minute), not one per name or per node.
    with pair.db.session() as s:
        events = s.scalars(select(Event.payload).where(Event.type == "security.login_failures")).all()
    assert len([e for e in events if e and e.get("ip") == addr]) == 1
    with _from_address()(pair.nodes[1]) as other:  # from another address the account logs in
        assert _login(other, good, PW) == 200


def _totp_user(pair: Pair) -> tuple[str, pyotp.TOTP]:
    name = pair.user("otp")
    with _from_address()(pair.nodes[0]) as c:
        token = c.post(LOGIN, json={"username": name, "password": PW}).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        secret = c.post("/api/v1/me/totp", json={"password": PW}, headers=auth).json()["secret"]
        totp = pyotp.TOTP(secret)
        r = c.post("/api/v1/me/totp/confirm", json={"code": totp.now(), "password": PW}, headers=auth)
        assert r.status_code == 200, r.text
    return name, totp


def test_a_totp_code_is_accepted_once_across_nodes(pair: Pair) -> None:
    # One after the other: node 2 refuses the code node 1 accepted.
    name, totp = _totp_user(pair)
    code = totp.at(time.time() + 30)  # the next step's: later than the enrolment's
    client = _from_address()
    with client(pair.nodes[0]) as c1, client(pair.nodes[1]) as c2:
        assert _login(c1, name, PW, code) == 200
        assert _login(c2, name, PW, code) == 401
    # At the same moment, on both nodes (the race a load balancer makes possible): one login, for each of
    # three users. Without a compare-and-set both nodes read the old step while the other checks argon2.
    rounds = []
    for _ in range(3):
        name, totp = _totp_user(pair)
        code = totp.at(time.time() + 30)
        start = threading.Barrier(2)
        got: list[int] = []

        def attempt(node: NodeProcess, name: str = name, code: str = code, got: list[int] = got,
                    start: threading.Barrier = start) -> None:  # fmt: skip
            with client(node) as c:
                start.wait()
                got.append(_login(c, name, PW, code))

        threads = [threading.Thread(target=attempt, args=(n,)) for n in pair.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        rounds.append(sorted(got))
    print(f"one code at both nodes at once, 3 users: {rounds}")
    assert rounds == [[200, 401]] * 3


def test_a_federation_token_accepted_by_one_node_is_refused_by_the_other(pair: Pair) -> None:
    key = Ed25519PrivateKey.generate()
    peer = f"hq-{secrets.token_hex(3)}"
    r = pair.nodes[0].api(
        "POST", "/api/v1/federation/peers", json={"name": peer, "public_key": fed.public_key_text(key)}
    )
    assert r.status_code == 201, r.text

    def call(node: NodeProcess, token: str) -> int:
        return httpx.get(node.base + PEER_PATH, headers={fed.TOKEN_HEADER: token}, timeout=30).status_code

    token, _ = fed.sign_request(key, peer, "anna", "GET", PEER_PATH)
    first, replay = call(pair.nodes[0], token), call(pair.nodes[1], token)
    token2, _ = fed.sign_request(key, peer, "anna", "GET", PEER_PATH)
    fresh, replay2 = call(pair.nodes[1], token2), call(pair.nodes[0], token2)
    print(
        f"federation token: node 1 {first}, replayed to node 2 {replay}; node 2 {fresh}, replayed to node 1 {replay2}"
    )
    assert (first, replay, fresh, replay2) == (200, 401, 200, 401)
