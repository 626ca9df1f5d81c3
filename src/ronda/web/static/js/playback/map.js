// @ts-check
// The recording map: the player's timeline (segments back to back, gaps removed) to wall-clock time and back.

const RUN_JOIN_MS = 100; // segments closer than this play as one run
const RUN_END_MARGIN_MS = 250; // an instant this close to the end of a run shows the run's last frames

/** @typedef {{ start: number, end: number, t0?: number }} MappedSegment */

export class RecordingMap {
  /** @param {{ start: string, end: string }[]} segments the catalog's, in order */
  constructor(segments) {
    /** @type {MappedSegment[]} */
    this.segments = segments.map((s) => ({ start: Date.parse(s.start), end: Date.parse(s.end) }));
    let t = 0;
    for (const s of this.segments) {
      s.t0 = t;
      t += (s.end - s.start) / 1000;
    }
  }

  /** @param {number} currentTime player seconds @returns {number} wall-clock ms (NaN when nothing is mapped) */
  wallTime(currentTime) {
    for (const s of this.segments) {
      if (currentTime < s.t0 + (s.end - s.start) / 1000) return s.start + (currentTime - s.t0) * 1000;
    }
    const last = this.segments[this.segments.length - 1];
    return last ? last.end : NaN;
  }

  /** @param {number} wallMs @returns {number | null} player seconds, null after the last segment */
  playerTime(wallMs) {
    const segs = this.segments;
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      if (wallMs < s.end) {
        // The last frame before a gap (or the end) may have no duration in the media: an instant
        // inside it would show the first frame after the gap. Show the run's last frames instead.
        const next = segs[i + 1];
        const runEnds = !next || next.start - s.end > RUN_JOIN_MS;
        const latest = runEnds ? Math.max(s.start, s.end - RUN_END_MARGIN_MS) : s.end;
        return s.t0 + Math.max(0, Math.min(wallMs, latest) - s.start) / 1000; // in a gap: the next recording
      }
    }
    return null;
  }
}
