// @ts-check
// One camera of the playback grid: its <video>, the wall-clock time of the frame on screen, and its
// recorded player (created on the first instant that has recordings).
import { h } from "../../dom.js";
import { t } from "../../i18n.js";
import { formatWall } from "../../timeline.js";
import { TILE } from "./common.js";

/** @typedef {import("../../playback.js").RecordedPlayer} RecordedPlayer */
/** @typedef {import("./common.js").Camera} Camera */

/**
 * Loading a playlist waits for the video's metadata, which never comes if the video fails: give up
 * on an error of one of the tiles' videos or after 20 s instead of waiting for ever.
 * @template T
 * @param {Promise<T>} promise
 * @param {Tile[]} tiles
 * @returns {Promise<T>}
 */
export function guard(promise, tiles) {
  /** @type {(() => void)[]} */
  const cleanups = [];
  /** @type {Promise<never>} */
  const failed = new Promise((_, reject) => {
    const timer = setTimeout(() => reject(new Error("the recording did not load in 20 s")), 20_000);
    cleanups.push(() => clearTimeout(timer));
    for (const x of tiles) {
      const onError = () => reject(new Error(t("pb.cannotPlay")));
      x.video.addEventListener("error", onError, { once: true });
      cleanups.push(() => x.video.removeEventListener("error", onError));
    }
  });
  return Promise.race([promise, failed]).finally(() => cleanups.forEach((f) => f()));
}

/**
 * Resolves when the video's seek is done (at once when none is under way), or after `timeoutMs`.
 * @param {HTMLVideoElement} video
 * @param {number} [timeoutMs]
 * @returns {Promise<void>}
 */
export function waitSeeked(video, timeoutMs = 1000) {
  if (!video.seeking) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      video.removeEventListener("seeked", done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    video.addEventListener("seeked", done);
  });
}

export class Tile {
  /**
   * @param {Camera} cam
   * @param {string | undefined} timeZone the site's time zone, for the caption
   */
  constructor(cam, timeZone) {
    this.cam = cam;
    this.timeZone = timeZone;
    /** @type {RecordedPlayer | null} */
    this.player = null;
    this.stale = false; // nothing recorded at the group's instant
    this.hold = false; // reloading for reverse play: the picture and time in between are not shown
    this.busy = false; // a seek or load of this tile is under way
    this.checkedAt = 0;
    this.video = /** @type {HTMLVideoElement} */ (h("video", { playsinline: true, muted: true, "data-testid": "video-tile", "data-camera-id": cam.id, "aria-label": cam.name }));
    this.video.muted = true;
    this.time = h("span", { class: "pb-time", "data-testid": "tile-time" });
    this.note = h("span", { class: "pb-note", role: "status" });
    this.el = h("figure", { class: "pb-tile", "data-camera-id": cam.id },
      this.video, h("figcaption", {}, h("span", { class: "pb-name", text: cam.name }), this.time), this.note);
  }

  /** @param {number} ms */
  inMap(ms) {
    const s = this.player && this.player.map.segments;
    return Boolean(s && s.length && ms >= s[0].start && ms < s[s.length - 1].end);
  }

  /** @returns {number} the wall-clock time of the frame shown (NaN: none) */
  wallTime() {
    return this.player && !this.stale && !this.hold ? this.player.wallTime() : NaN;
  }

  /** @param {boolean} on */
  setHold(on) {
    this.hold = on;
    this.el.classList.toggle("pb-hold", on);
  }

  /** @param {string | null | undefined} text */
  setNote(text) {
    this.note.textContent = text || "";
    this.note.hidden = !text;
    this.el.classList.toggle("pb-stale", Boolean(text));
  }

  showTime() {
    if (this.hold) return;
    const ms = this.wallTime();
    this.time.textContent = formatWall(ms, TILE, this.timeZone);
    this.time.dataset.wallMs = Number.isFinite(ms) ? String(Math.round(ms)) : "";
  }
}
