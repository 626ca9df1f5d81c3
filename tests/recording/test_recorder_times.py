"""Evidence times: the catalog's start and end of every segment agree with the capture time printed
in the frames themselves (the simulator's clock camera), across a stop or crash of Ronda and its
recovery: the clean stop and kill -9 that `test_recorder_integration` puts the session's site through
if it ran first, else a kill -9 made here."""

from __future__ import annotations

from tests.helpers import catalog, clock_codes, wait_for

FRAME_MS = 1000 / 15
LIMIT_MS = 250  # capture-to-arrival delay of the stream (up to ~200 ms on a loaded machine) plus one frame
# The first segment of a capture session starts one frame earlier than its catalog start: ffmpeg's RTSP
# demuxer stamps the second packet of a session 65 us after the keyframe, so its segment list gives
# that segment one frame less than it holds (the end, which anchors the session, stays right).
FIRST_EXTRA_MS = FRAME_MS


def spans_a_restart(segs: list, gaps: list) -> bool:
    restarts = [g for g in gaps if g.reason in ("ronda_stopped", "recorder_restart") and g.end_ms is not None]
    return any(segs[0].end_ms <= g.start_ms and g.end_ms <= segs[-1].start_ms for g in restarts)


def around_gaps(segs: list, gaps: list, n: int = 12) -> list:
    """The segments worth decoding (each is one ffmpeg run, and the session's site records the clock
    camera all along): the first and last ``n``, ``n`` on each side of every gap, and every tenth."""
    keep = set(range(min(n, len(segs)))) | set(range(max(0, len(segs) - n), len(segs))) | set(range(0, len(segs), 10))
    for g in gaps:
        i = next((k for k, x in enumerate(segs) if x.start_ms >= g.start_ms), len(segs))
        keep |= set(range(max(0, i - n), min(len(segs), i + n)))
    return [segs[k] for k in sorted(keep)]


def test_catalog_times_match_the_frames(site, record_property):
    cid = site.cam("Clock")
    segs, gaps = wait_for(lambda: catalog(site.data_dir, cid)[0] and catalog(site.data_dir, cid), 40,
                          what="a segment of the clock camera")  # fmt: skip
    if not spans_a_restart(segs, gaps):
        # No earlier test stopped Ronda in this session: crash it here, mid-segment, so the recovered
        # segment and the first one after the restart are checked too.
        wait_for(lambda: any((site.data_dir / "recordings" / ".partial" / f"{cid}-main").glob("*.partial")), 20,
                 interval=0.1, what="a partial segment of the clock camera")  # fmt: skip
        site.ronda.kill9()
        site.ronda.start()

    def checked():
        segs, gaps = catalog(site.data_dir, cid)
        return len(segs) >= 10 and spans_a_restart(segs, gaps) and (segs, gaps)

    segs, gaps = wait_for(checked, 120, what="ten segments of the clock camera around a restart of Ronda")
    segs = around_gaps(segs, gaps)
    start_errs, end_errs = [], []
    holes: list[tuple[str, int]] = []  # (segment, frames missing inside it)
    for s in segs:
        codes = clock_codes(site.data_dir / "recordings" / s.path)
        assert codes and all(c is not None for c in codes), f"{s.path}: frames without a readable time code"
        steps = [b - a for a, b in zip(codes, codes[1:], strict=False)]
        assert all(d > 0 for d in steps), f"{s.path}: frame times step by {min(steps)} ms"
        holes += [(s.path, round(d / FRAME_MS) - 1) for d in steps if d >= 400]
        start_errs.append(codes[0] - s.start_ms)
        end_errs.append(round(codes[-1] + FRAME_MS) - s.end_ms)
    record_property("segments", len(segs))
    record_property("start_error_ms", [min(start_errs), max(start_errs)])
    print(f"{len(segs)} segments ({sum(s.recovered for s in segs)} recovered): catalog start minus frame time "
          f"{min(start_errs)}..{max(start_errs)} ms, end {min(end_errs)}..{max(end_errs)} ms")  # fmt: skip
    firsts = {segs[0].start_ms} | {g.end_ms for g in gaps}
    bad = [(s.path, a, b) for s, a, b in zip(segs, start_errs, end_errs, strict=True)
           if abs(a) > LIMIT_MS + (FIRST_EXTRA_MS if s.start_ms in firsts else 0) or abs(b) > LIMIT_MS]  # fmt: skip
    assert not bad, f"catalog times differ from the frames' capture times: {bad}"
    # Frames missing inside a segment: only those the simulator itself never sent (its 15 fps pusher drops
    # the ticks it fell more than 5 frames behind on, when the machine is short of CPU); Ronda loses none.
    not_sent = site.sim.health()["pacers"].get("15", {}).get("skipped", 0)
    assert sum(n for _, n in holes) <= not_sent, f"frames missing in the recording: {holes}, not sent: {not_sent}"
