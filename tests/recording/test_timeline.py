from ronda.recording.timeline import SessionClock


def test_consecutive_segments_touch():
    c = SessionClock(floor_ms=None)
    a = c.place(0.0, 4.0, received_ms=1_000_000)
    b = c.place(4.0, 8.0, received_ms=1_004_030)  # 30 ms of delivery jitter
    assert a.end_ms == b.start_ms
    assert a.start_ms == 996_000 and b.end_ms - b.start_ms == 4000


def test_new_session_never_overlaps_previous():
    c = SessionClock(floor_ms=1_000_000)
    p = c.place(0.0, 4.0, received_ms=1_003_500)  # would start at 999_500
    assert p.start_ms == 1_000_000 and p.end_ms == 1_004_000


def test_new_session_after_outage_reports_hole():
    c = SessionClock(floor_ms=1_000_000)
    p = c.place(10.0, 14.0, received_ms=1_030_000)
    assert p.start_ms == 1_026_000 and p.hole_before_ms == 26_000


def test_backwards_clock_step_does_not_overlap():
    c = SessionClock(floor_ms=None)
    c.place(0.0, 4.0, received_ms=2_000_000)
    p = c.place(4.0, 8.0, received_ms=2_004_000 - 3_600_000)  # NTP stepped back one hour
    assert p.reanchored_by_ms < 0
    assert p.start_ms == 2_000_000 and p.end_ms == 2_004_000


def test_forward_clock_step_reanchors_and_reports_hole():
    c = SessionClock(floor_ms=None)
    c.place(0.0, 4.0, received_ms=2_000_000)
    p = c.place(4.0, 8.0, received_ms=2_004_000 + 5_000)
    assert p.reanchored_by_ms == 5_000
    assert p.hole_before_ms == 5_000 and p.end_ms == 2_009_000


def test_small_drift_does_not_reanchor():
    c = SessionClock(floor_ms=None)
    c.place(0.0, 4.0, received_ms=2_000_000)
    p = c.place(4.0, 8.0, received_ms=2_004_900)
    assert p.reanchored_by_ms == 0 and p.hole_before_ms == 0


def test_recovered_segment_touches_the_previous_one_within_the_skew():
    # Its cut last fragment makes it look a few ms shorter than the time since the previous segment.
    c = SessionClock(floor_ms=1_000_000)
    p = c.place_recovered(3_992, file_mtime_ms=1_004_000)
    assert p.start_ms == 1_000_000 and p.end_ms == 1_003_992 and p.hole_before_ms == 0


def test_recovered_segment_after_a_real_outage_keeps_its_hole():
    c = SessionClock(floor_ms=1_000_000)
    p = c.place_recovered(4_000, file_mtime_ms=1_030_000)
    assert p.start_ms == 1_026_000 and p.hole_before_ms == 26_000


def test_outage_after_a_backwards_step_keeps_its_length():
    # Segments ran until 2_004_000 (monotonic 50_000); the wall clock then stepped back an hour and
    # the camera was away 10 s: the new session's first segment (4 s) arrives at monotonic 64_000.
    c = SessionClock(floor_ms=2_004_000, floor_mono_ms=50_000)
    p = c.place(0.0, 4.0, received_ms=2_014_000 - 3_600_000, received_mono_ms=64_000)
    assert p.start_ms == 2_014_000 and p.hole_before_ms == 10_000 and p.end_mono_ms == 64_000


def test_monotonic_bound_does_not_move_a_session_without_steps():
    # The floor's list line arrived 5 s late (a stall): the wall clock's start is the later, true one.
    c = SessionClock(floor_ms=1_000_000, floor_mono_ms=55_000)
    p = c.place(0.0, 4.0, received_ms=1_020_000, received_mono_ms=70_000)
    assert p.start_ms == 1_016_000


def test_a_late_line_is_a_delivery_delay_not_a_clock_step():
    # The box was busy: the second segment's line came 2.5 s late, the wall clock where it was (wall minus
    # monotonic unchanged). No re-anchor, no hole: the segment touches the first, the third is on time.
    c = SessionClock(floor_ms=None)
    a = c.place(0.0, 6.0, received_ms=2_000_000, received_mono_ms=50_000)
    b = c.place(6.0, 12.0, received_ms=2_008_500, received_mono_ms=58_500)
    d = c.place(12.0, 18.0, received_ms=2_012_050, received_mono_ms=62_050)
    assert b.reanchored_by_ms == 0 and b.hole_before_ms == 0 and b.start_ms == a.end_ms
    assert d.start_ms == b.end_ms == 2_006_000 and d.end_ms == 2_012_000


def test_a_drained_backlog_does_not_reanchor():
    # The event loop stalled 20 s: five lines arrive at once, each less late than the one before.
    c = SessionClock(floor_ms=None)
    c.place(0.0, 6.0, received_ms=2_000_000, received_mono_ms=50_000)
    placed = [
        c.place(6.0 * k, 6.0 * (k + 1), received_ms=2_020_000 + k, received_mono_ms=70_000 + k) for k in (1, 2, 3)
    ]
    assert [p.reanchored_by_ms for p in placed] == [0, 0, 0]
    assert [p.hole_before_ms for p in placed] == [0, 0, 0]


def test_lasting_lateness_reanchors_by_the_least_of_it():
    # A camera clock running slow: every line later than the last, over more than LATE_SPAN_MS.
    c = SessionClock(floor_ms=None)
    c.place(0.0, 6.0, received_ms=2_000_000, received_mono_ms=50_000)
    lates = [1_200, 1_500, 1_800]
    placed = [
        c.place(
            6.0 * k, 6.0 * (k + 1), received_ms=2_000_000 + 6_000 * k + late, received_mono_ms=50_000 + 6_000 * k + late
        )
        for k, late in zip((1, 2, 3), lates, strict=True)
    ]
    assert [p.reanchored_by_ms for p in placed] == [0, 0, 1_200]
    assert placed[2].hole_before_ms == 1_200


def test_a_wall_clock_step_reanchors_at_once():
    # The wall clock jumped 5 s ahead of the monotonic clock: a step, whatever the delivery.
    c = SessionClock(floor_ms=None)
    c.place(0.0, 6.0, received_ms=2_000_000, received_mono_ms=50_000)
    p = c.place(6.0, 12.0, received_ms=2_011_000, received_mono_ms=56_000)
    assert p.reanchored_by_ms == 5_000 and p.hole_before_ms == 5_000
