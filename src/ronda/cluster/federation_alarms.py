"""Remote alarms pushed to the centre (docs/cluster.md "Federation", Alarms pushed).

The remote serves its peer one long answer, ``GET /federation/peer/alarms/stream``: a line per change of an
alarm whose own camera the peer has the ``alarms`` right on, a ping every ``PING_S`` while nothing happens,
and an end after ``LIFETIME_S`` (the centre asks again at once, with a new token: the peer's key and grants
are checked again each time). Each line is ``<signature> <json>``: the JSON carries its sequence number,
the signature (the remote's federation key) binds it to the request's nonce and that number, so a line
cannot be forged, replayed from another answer or reordered. The lines name the alarm, its camera, state,
priority and change only: what the alarm says is read through the centre's audited alarm list.

At the centre, every API node follows every online site (``AlarmFeed``, one task each) and passes each line
to its listeners: the events WebSocket of each central user, which forwards ``{"kind": "remote_alarm"}``
to the users with the ``alarms`` right on that remote camera. The first line of each answer is a
``hello``, passed on as a *resync* (``None``): changes made while no answer was open are then read again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ronda.cluster import federation as fed
from ronda.errors import Invalid, Unavailable
from ronda.events.fanout import Fanout
from ronda.events.messages import AlarmChange, AlarmChanged, AlarmState, Message
from ronda.events.rules import PRIORITY_NUM
from ronda.tasks import cancel_and_wait

log = logging.getLogger(__name__)

STREAM_PATH = "/api/v1/federation/peer/alarms/stream"
LIFETIME_S = 60.0  # one answer's life: then a new token (grants and key checked again)
PING_S = 10.0  # a line at least this often, so a dead connection is seen
READ_TIMEOUT_S = PING_S * 2.5
STOP_CHECK_S = 0.5  # how often a quiet answer looks whether the server is stopping
MAX_LINE = 16 << 10
RETRY_S = 2.0
MAX_STREAMS_PER_PEER = 8  # alarm answers a peer may hold open on one node (a centre has one per API node)
BACKLOG_BYTES = 256 << 10  # what a peer's answer may have queued, unsent, before it is ended
MAX_LINES_PER_S = 100  # what a site may send a centre: more is a flood (the answer is ended)
NOT_SERVED_RETRY_S = 60.0  # a site that does not serve the stream (an older version): the list's reads only

# A change the centre's users are told of: the site's id and the line's JSON, or None to read everything
# again (the answer was (re)opened: changes in between were not pushed).
Listener = Callable[[int, "dict[str, Any] | None"], None]


def _line_nonce(nonce: str, seq: int) -> str:
    return f"{nonce}:{seq}"


def stream_line(key: Ed25519PrivateKey, nonce: str, seq: int, data: dict[str, Any]) -> bytes:
    """One signed line of the remote's answer."""
    body = json.dumps({"seq": seq, **data}, separators=(",", ":")).encode()
    return fed.sign_answer(key, _line_nonce(nonce, seq), body).encode() + b" " + body + b"\n"


def read_line(public: Ed25519PublicKey, nonce: str, seq: int, line: bytes) -> dict[str, Any]:
    """The line's JSON when it is signed by the remote for this answer at this place; ``ValueError`` if not."""
    signature, _, body = line.partition(b" ")
    try:
        sig_text = signature.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("a line that is not signed") from None
    if not fed.answer_is_signed(public, _line_nonce(nonce, seq), body, sig_text):
        raise ValueError("a line not signed by the site's key for this answer")
    data = json.loads(body)
    if not isinstance(data, dict) or data.get("seq") != seq:
        raise ValueError("a line out of order")
    return data


def alarm_line(msg: AlarmChanged) -> dict[str, Any]:
    a = msg.alarm
    return {"kind": "alarm", "alarm": a.id, "camera": a.camera, "state": a.state.value, "priority": a.priority,
            "change": msg.change.value}  # fmt: skip


MaySee = Callable[[int], bool]


class PeerStreams:
    """How many alarm answers each peer has open on this node (at most ``limit``: a peer cannot hold the
    node's connections and memory with answers it opens and never reads)."""

    def __init__(self, limit: int = MAX_STREAMS_PER_PEER) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}

    def full(self, peer: str) -> bool:
        return self.open.get(peer, 0) >= self.limit

    def enter(self, peer: str) -> None:
        self.open[peer] = self.open.get(peer, 0) + 1

    def leave(self, peer: str) -> None:
        left = self.open.get(peer, 0) - 1
        if left > 0:
            self.open[peer] = left
        else:
            self.open.pop(peer, None)


async def peer_stream(fanout: Fanout, may_see: MaySee, key: Ed25519PrivateKey, nonce: str, *,
                      lifetime_s: float = LIFETIME_S, ping_s: float = PING_S,
                      stopping: Callable[[], bool] = lambda: False,
                      refresh: Callable[[], Awaitable[MaySee | None]] | None = None,
                      streams: tuple[PeerStreams, str] | None = None) -> AsyncIterator[bytes]:  # fmt: skip
    """The remote's answer: signed lines for the alarm changes on cameras ``may_see`` (the peer's grant of
    ``alarms`` on the alarm's own camera), pings, an end after ``lifetime_s`` or within half a second of
    ``stopping`` (the server shuts down). Every ``ping_s`` the peer's grant is read again (``refresh``): a
    peer removed ends the answer, a grant changed applies at once. A peer that falls ``BACKLOG_BYTES``
    behind has its answer ended (it opens another and reads the list again). ``streams``: the count of open
    answers it is one of, and its peer's name."""
    holder = [may_see]
    if streams is not None:
        streams[0].enter(streams[1])

    def allowed(msg: Message) -> bool:
        return isinstance(msg, AlarmChanged) and msg.alarm.camera is not None and holder[0](msg.alarm.camera)

    client = fanout.add(allowed, max_bytes=BACKLOG_BYTES)
    try:
        seq = 0
        yield stream_line(key, nonce, seq, {"kind": "hello"})
        loop = asyncio.get_running_loop()
        end = loop.time() + lifetime_s
        quiet_since = checked = loop.time()
        while (left := end - loop.time()) > 0 and not stopping() and not client.overflowed:
            if refresh is not None and loop.time() - checked >= ping_s:
                checked = loop.time()
                fresh = await refresh()
                if fresh is None:
                    return  # the peer is no longer trusted here
                holder[0] = fresh
            try:
                text = await asyncio.wait_for(client.queue.get(), min(ping_s, left, STOP_CHECK_S))
            except TimeoutError:
                if loop.time() - quiet_since < ping_s:
                    continue
                data: dict[str, Any] = {"kind": "ping"}
            else:
                if client.overflowed:
                    return
                if text is None:
                    continue
                data = alarm_line(AlarmChanged.from_json(json.loads(text)))
            seq += 1
            quiet_since = loop.time()
            yield stream_line(key, nonce, seq, data)
    finally:
        fanout.remove(client)
        if streams is not None:
            streams[0].leave(streams[1])


class NotServed(Exception):
    """The site has no alarm stream (a version before it)."""


class AlarmFeed:
    """The centre's side: one follower task per site, and the listeners told of each change."""

    def __init__(self, federation: fed.Federation) -> None:
        self.f = federation
        self._tasks: dict[int, tuple[fed.SiteState, asyncio.Task[None]]] = {}
        self._listeners: set[Listener] = set()
        self.lines = 0  # verified alarm lines, for tests and metrics

    def watch(self, fn: Listener) -> None:
        self._listeners.add(fn)

    def unwatch(self, fn: Listener) -> None:
        self._listeners.discard(fn)

    def _emit(self, site_id: int, data: dict[str, Any] | None) -> None:
        for fn in list(self._listeners):
            try:
                fn(site_id, data)
            except Exception:  # one listener's fault is not the others'
                log.exception("federation: a remote alarm listener failed")

    def sync(self, sites: dict[int, fed.SiteState]) -> None:
        """A follower for each site, none for a site removed or changed (its key or address)."""
        for sid, (st, task) in list(self._tasks.items()):
            if sites.get(sid) is not st or task.done():
                task.cancel()
                del self._tasks[sid]
        for sid, st in sites.items():
            if sid not in self._tasks:
                self._tasks[sid] = (st, asyncio.create_task(self._follow(st), name=f"federation-alarms-{st.name}"))

    async def stop(self) -> None:
        tasks = [t for _, t in self._tasks.values()]
        self._tasks.clear()
        for t in tasks:
            await cancel_and_wait(t)

    async def _follow(self, st: fed.SiteState) -> None:
        loop = asyncio.get_running_loop()
        ended: float | None = None  # when the last answer ended as it should (its life over)
        while True:
            if not st.online:  # the poller judges the site: wait for it to answer again
                await asyncio.sleep(RETRY_S / 2)
                ended = None
                continue
            started = loop.time()
            # Read everything again after a gap only: not when this answer follows one that just ended.
            resync = ended is None or started - ended > RETRY_S
            try:
                await self._read(st, resync)
                ended = loop.time()
                if ended - started >= LIFETIME_S / 2:
                    continue  # the answer's life ended: ask again at once
                # An answer that ended early (a site restarting, or one ending its answers at once):
                # not again at once, or the centre would ask in a loop.
                log.info("federation: the alarm stream of site %s ended early", st.name)
                await asyncio.sleep(RETRY_S)
                continue
            except NotServed:
                log.info("federation: site %s does not push its alarms (the centre reads them)", st.name)
                await asyncio.sleep(NOT_SERVED_RETRY_S)
                continue
            except (Unavailable, Invalid, httpx.HTTPError, OSError, TimeoutError, ValueError) as e:
                log.info("federation: the alarm stream of site %s ended: %s", st.name, e)
            except Exception:  # whatever a site sends, the follower goes on (after the pause)
                log.exception("federation: reading the alarm stream of site %s failed", st.name)
            ended = None
            await asyncio.sleep(RETRY_S)

    async def _read(self, st: fed.SiteState, resync: bool) -> None:
        client = self.f.http_client()
        public = fed.parse_public_key(st.public_key)
        token, nonce = fed.sign_request(self.f.key, self.f.name, "", "GET", STREAM_PATH)
        timeout = httpx.Timeout(self.f.timeout_seconds, read=READ_TIMEOUT_S)
        headers = {fed.TOKEN_HEADER: token, "accept-encoding": "identity"}  # no compressed answer: no bomb
        async with client.stream("GET", st.url.rstrip("/") + STREAM_PATH, headers=headers,
                                 timeout=timeout) as r:  # fmt: skip
            if r.status_code in (404, 405):
                raise NotServed
            if r.status_code != 200:
                raise Unavailable(f"the site answered {r.status_code}")
            if r.headers.get("content-encoding", "identity") != "identity":
                raise ValueError("a compressed answer")
            seq = 0
            buf = b""
            loop = asyncio.get_running_loop()
            window, in_window = loop.time(), 0
            async for chunk in r.aiter_raw():
                buf += chunk
                while (i := buf.find(b"\n")) >= 0:
                    line, buf = buf[:i], buf[i + 1 :]
                    if len(line) > MAX_LINE:
                        raise ValueError("a line longer than a site sends")
                    data = read_line(public, nonce, seq, line)
                    seq += 1
                    if loop.time() - window >= 1.0:
                        window, in_window = loop.time(), 0
                    in_window += 1
                    if in_window > MAX_LINES_PER_S:  # a flood: end it (asked again later, then read whole)
                        raise ValueError(f"more than {MAX_LINES_PER_S} lines a second")
                    kind = data.get("kind")
                    if kind == "hello":
                        if resync:
                            self._emit(st.id, None)
                    elif kind == "alarm":
                        change = checked_line(data)
                        if change is not None:
                            self.lines += 1
                            self._emit(st.id, change)
                if len(buf) > MAX_LINE:
                    raise ValueError("a line longer than a site sends")


_STATES = frozenset(s.value for s in AlarmState)
_CHANGES = frozenset(c.value for c in AlarmChange)
_PRIORITIES = frozenset(PRIORITY_NUM)


def checked_line(data: dict[str, Any]) -> dict[str, Any] | None:
    """An alarm line with only the values a site may send (what reaches the users' sockets), or None."""
    alarm, camera = data.get("alarm"), data.get("camera")
    state, priority, change = data.get("state"), data.get("priority"), data.get("change")
    if type(alarm) is not int or type(camera) is not int or not (0 < alarm < 2**63 and 0 < camera < 2**31):
        return None
    if not all(isinstance(v, str) for v in (state, priority, change)):
        return None
    if state not in _STATES or priority not in _PRIORITIES or change not in _CHANGES:
        return None
    return {"alarm": alarm, "camera": camera, "state": state, "priority": priority, "change": change}


def attach(federation: fed.Federation) -> AlarmFeed:
    """The centre's feed of pushed remote alarms, run by ``federation`` beside its poller."""
    feed = AlarmFeed(federation)
    federation.alarm_feed = feed
    return feed


def user_message(alarm_cameras: dict[int, frozenset[int]], site_id: int, data: dict[str, Any] | None) -> str | None:
    """What a central user's events WebSocket gets of a site's line (``None``: nothing), given the remote
    cameras the user has the alarms right on (``Federation.alarm_cameras``): ``{"kind": "remote_alarm",
    "site", "alarm", "camera", "state", "priority", "change"}``, or ``{"kind": "remote_alarm", "site", "resync": true}``
    (read the site's alarms again)."""
    ids = alarm_cameras.get(site_id)
    if not ids:
        return None
    if data is None:
        return json.dumps({"kind": "remote_alarm", "site": site_id, "resync": True}, separators=(",", ":"))
    if data.get("camera") not in ids:
        return None
    out = {"kind": "remote_alarm", "site": site_id, "alarm": data.get("alarm"), "camera": data.get("camera"),
           "state": data.get("state"), "priority": data.get("priority"), "change": data.get("change")}  # fmt: skip
    return json.dumps(out, separators=(",", ":"))
