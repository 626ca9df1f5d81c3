// Playback of recordings from any instant: the HLS VOD playlist of the catalog (gaps skipped),
// with speeds, frame step and the wall-clock time of the frame on screen.

const HOUR_MS = 3600 * 1000;
const RUN_JOIN_MS = 100; // segments closer than this play as one run
const RUN_END_MARGIN_MS = 250; // an instant this close to the end of a run shows the run's last frames

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

export async function showRecorded({ api, cameraId, video, at, stream = "main", onStatus = () => {} }) {
  let map = new RecordingMap([]);
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
  // media time of the frame on screen (frame step counts from it, not from the clock between frames)
  let shown = null;
  if (video.requestVideoFrameCallback) {
    const onFrame = (_now, meta) => {
      shown = meta.mediaTime;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
  return {
    get map() {
      return map;
    },
    wallTime: () => map.wallTime(video.currentTime),
    setRate(rate) {
      video.playbackRate = rate;
    },
    // One frame forward (or back): pauses, then moves by one frame interval.
    step(frames = 1, fps = 15) {
      video.pause();
      const base = shown ?? video.currentTime;
      video.currentTime = Math.max(0, base + frames / fps + 0.002);
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
