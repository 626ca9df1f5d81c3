// @ts-check
// Playback of recordings from any instant: the HLS VOD playlist of the catalog (gaps skipped),
// with speeds, frame step and the wall-clock time of the frame on screen.

const HOUR_MS = 3600 * 1000;
const RUN_JOIN_MS = 100; // segments closer than this play as one run
const RUN_END_MARGIN_MS = 250; // an instant this close to the end of a run shows the run's last frames
export const DEFAULT_FPS = 15; // when the recordings do not tell their frame rate (no segment measured)
const FRAME_WAIT_MS = 400; // how long a step waits for its frame to be presented before going on

// Maps the player's timeline (segments back to back, gaps removed) to wall-clock time and back.
export class RecordingMap {
  constructor(segments) {
    this.segments = segments.map((s) => ({ start: Date.parse(s.start), end: Date.parse(s.end) }));
    let t = 0;
    for (const s of this.segments) {
      s.t0 = t;
      t += (s.end - s.start) / 1000;
    }
  }

  wallTime(currentTime) {
    for (const s of this.segments) {
      if (currentTime < s.t0 + (s.end - s.start) / 1000) return s.start + (currentTime - s.t0) * 1000;
    }
    const last = this.segments[this.segments.length - 1];
    return last ? last.end : NaN;
  }

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

// Sets currentTime and resolves when the frame there is ready to be shown.
function seekToFrame(video, t) {
  return new Promise((resolve) => {
    video.addEventListener("seeked", () => resolve(), { once: true });
    video.currentTime = t;
  });
}

// Resolves once no seek is under way.
function seekDone(video) {
  if (!video.seeking) return Promise.resolve();
  return new Promise((resolve) => video.addEventListener("seeked", () => resolve(), { once: true }));
}

/**
 * What a player says about itself: "playing", "empty" (nothing recorded), "error" with a reason.
 * @typedef {(status: { state: string, reason?: string }) => void} StatusHandler
 */

/**
 * A recorded player on `video`, at the wall-clock instant `at` (ISO), from the catalog's HLS playlist.
 * @param {{ api: (path: string, options?: object) => Promise<any>, cameraId: number | string, video: HTMLVideoElement,
 *   at: string, stream?: string, onStatus?: StatusHandler }} options
 */
export async function showRecorded({ api, cameraId, video, at, stream = "main", onStatus = () => {} }) {
  let map = new RecordingMap([]);
  let frameRate = null; // frames per second of the recordings (from the API), null until known
  const fps = () => frameRate || DEFAULT_FPS;
  const seekTo = (t) => seekToFrame(video, t);
  // The playlist's segment URLs carry a token of a few minutes, bound to this session: before it runs
  // out, load a fresh playlist at the instant on screen (the new token comes through the live session).
  let renewTimer = null;
  const scheduleRenewal = (seconds) => {
    clearTimeout(renewTimer);
    renewTimer = setTimeout(() => {
      const at = map.wallTime(video.currentTime);
      if (typeof at === "number" && !Number.isNaN(at)) load(at, !video.paused).catch(() => {});
    }, Math.max(30, seconds - 60) * 1000);
  };
  // Loads the hour of recordings from `atMs` and shows the frame at that instant.
  async function load(atMs, play = true) {
    if (Number.isNaN(atMs)) throw new Error("a valid start time is needed");
    const tok = await api(`/api/v1/cameras/${cameraId}/stream-token`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ right: "playback" }),
    });
    const iso = new Date(atMs).toISOString();
    const endIso = new Date(atMs + HOUR_MS).toISOString();
    const rec = await api(
      `/api/v1/cameras/${cameraId}/recordings?start=${encodeURIComponent(iso)}&end=${encodeURIComponent(endIso)}&stream=${stream}`,
    );
    if (rec.frame_rate > 0) frameRate = rec.frame_rate;
    const first = rec.segments.findIndex((s) => Date.parse(s.end) > atMs);
    map = new RecordingMap(first < 0 ? [] : rec.segments.slice(first));
    if (!map.segments.length) {
      onStatus({ state: "empty", reason: "no recordings from this instant on" });
      return undefined;
    }
    const ready = new Promise((resolve) => {
      video.addEventListener("error", () => resolve(), { once: true });
      // The playlist starts with the segment holding the instant; not every player honours its
      // EXT-X-START, so move to the exact instant once the media is known (resolved once shown).
      video.addEventListener(
        "loadedmetadata",
        () => {
          const t = map.playerTime(atMs);
          if (t) seekTo(t).then(resolve);
          else resolve();
        },
        { once: true },
      );
    });
    video.src = tok.urls.vod.replace("{start}", encodeURIComponent(iso)) + `&stream=${stream}`;
    scheduleRenewal(tok.playlist_expires_in || 600);
    if (play) video.play().catch(() => {});
    return ready;
  }

  video.addEventListener("playing", () => onStatus({ state: "playing" }));
  video.addEventListener("error", () => onStatus({ state: "error", reason: "the recording cannot be played" }));
  await load(Date.parse(at)).catch((e) => onStatus({ state: "error", reason: String(e.message || e) }));
  // The frame on screen, as presented (requestVideoFrameCallback): its media time, and whether it
  // is the frame at the current position. A frame presented before a seek is stale: its callback may
  // run while the seek still decodes, or even after "seeked" under load, and counting a step from it
  // lands a frame or more off. So a presented frame counts only if it covers currentTime (starts at
  // most one frame interval before it).
  /** @type {{ shown: number | null, fresh: boolean, duringSeek: number | null, waiters: (() => void)[] }} */
  const frames = { shown: null, fresh: false, duringSeek: null, waiters: [] };
  /** @param {number} m */
  const covers = (m) => m <= video.currentTime + 0.002 && video.currentTime < m + 1 / fps() - 0.002;
  /** @param {number} mediaTime */
  const accept = (mediaTime) => {
    frames.shown = mediaTime;
    frames.fresh = true;
    for (const w of frames.waiters.splice(0)) w();
  };
  const forget = () => {
    frames.fresh = false;
    frames.duringSeek = null;
  };
  video.addEventListener("seeking", forget);
  video.addEventListener("emptied", forget); // another playlist: nothing of it shown yet
  // The seek's own frame may be presented just before "seeked" fires: it is the one that covers
  // the new position (a frame presented before the seek does not).
  video.addEventListener("seeked", () => {
    const m = frames.duringSeek;
    if (!frames.fresh && m !== null && covers(m)) accept(m);
  });
  if (video.requestVideoFrameCallback) {
    const onFrame = (_now, meta) => {
      if (video.seeking) frames.duringSeek = meta.mediaTime;
      else if (covers(meta.mediaTime)) accept(meta.mediaTime);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
  // Resolves when a frame is presented after the seek just done (or after FRAME_WAIT_MS: a seek to
  // the frame already shown may present nothing new).
  const presented = () => new Promise((resolve) => {
    if (frames.fresh || !video.requestVideoFrameCallback) return resolve();
    const timer = setTimeout(done, FRAME_WAIT_MS);
    function done() {
      clearTimeout(timer);
      resolve();
    }
    frames.waiters.push(done);
  });

  // `n` frames forward (1) or back (-1) from the frame on screen. The target is the middle of the
  // frame interval `n` frames on, not its edge: the frame shown at a time is the last one starting at
  // or before it, so an edge target flips between two frames on a timestamp a little off the grid.
  // (A frame missing from the recording is not skipped over: that step shows the frame before it.)
  /** @param {number} n */
  async function stepOnce(n) {
    video.pause();
    await seekDone(video);
    await presented();
    const d = 1 / fps();
    // the middle of the frame shown; without a presented frame, currentTime lies inside it
    const base = frames.fresh && covers(frames.shown) ? frames.shown + d / 2 : video.currentTime;
    const target = Math.min(Math.max(0, base + n * d), video.duration || Infinity);
    await seekToFrame(video, target);
    await presented();
  }
  let stepping = Promise.resolve();

  return {
    get map() {
      return map;
    },
    // frames per second of the recordings (their measured rate, or DEFAULT_FPS when unknown)
    get frameRate() {
      return fps();
    },
    // The wall-clock time of the picture: while paused on a presented frame, that frame's own time.
    wallTime: () => map.wallTime(video.paused && frames.fresh && !video.seeking && covers(frames.shown) ? frames.shown : video.currentTime),
    setRate(rate) {
      video.playbackRate = rate;
    },
    // Pauses and moves `frames` frames (±1: one frame) at the recording's real frame rate. Steps
    // queue: a step asked while the previous one still decodes counts from the frame that one shows.
    step(frames = 1) {
      const n = Math.trunc(frames) || 0;
      stepping = stepping.then(() => (n ? stepOnce(n) : undefined)).catch(() => {});
      return stepping;
    },
    // Shows the frame at a wall-clock instant, loading another hour of recordings when needed.
    async seekWall(wallMs) {
      const segs = map.segments;
      if (!segs.length || wallMs < segs[0].start || wallMs >= segs[segs.length - 1].end) {
        await load(wallMs, !video.paused);
        return;
      }
      const t = map.playerTime(wallMs);
      if (t !== null) await seekTo(t);
    },
    stop() {
      clearTimeout(renewTimer);
      video.removeAttribute("src");
      video.load();
    },
  };
}

/** @typedef {Awaited<ReturnType<typeof showRecorded>>} RecordedPlayer */

// Several recorded players kept at the same wall-clock instant (the first one leads).
export class SyncGroup {
  constructor(players) {
    this.players = players;
  }

  async seekWall(wallMs) {
    await Promise.all(this.players.map((p) => p.seekWall(wallMs)));
  }

  setRate(rate) {
    for (const p of this.players) p.setRate(rate);
  }

  // Re-aligns followers that drifted more than `toleranceMs` from the leader.
  async align(toleranceMs = 200) {
    const lead = this.players[0].wallTime();
    await Promise.all(
      this.players.slice(1).filter((p) => Math.abs(p.wallTime() - lead) > toleranceMs).map((p) => p.seekWall(lead)),
    );
    return lead;
  }
}
