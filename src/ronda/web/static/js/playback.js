// @ts-check
// Playback of recordings from any instant: the HLS VOD playlist of the catalog (gaps skipped),
// with speeds, frame step and the wall-clock time of the frame on screen.
// Components in playback/: map.js (RecordingMap), frames.js (frame step), sync.js (SyncGroup).
import { frameTracker, seekToFrame } from "./playback/frames.js";
import { RecordingMap } from "./playback/map.js";
import { SyncGroup } from "./playback/sync.js";

// where the views, the player page and the tests have always found them
export { RecordingMap, SyncGroup };

const HOUR_MS = 3600 * 1000;
export const DEFAULT_FPS = 15; // when the recordings do not tell their frame rate (no segment measured)

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
  const tracker = frameTracker(video, fps);
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
    wallTime: () => map.wallTime(tracker.shownTime()),
    setRate(rate) {
      video.playbackRate = rate;
    },
    // Pauses and moves `frames` frames (±1: one frame) at the recording's real frame rate. Steps
    // queue: a step asked while the previous one still decodes counts from the frame that one shows.
    step(frames = 1) {
      const n = Math.trunc(frames) || 0;
      stepping = stepping.then(() => (n ? tracker.stepOnce(n) : undefined)).catch(() => {});
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
