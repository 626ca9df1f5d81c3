// @ts-check
// The playback grid's transport: every camera at one wall-clock instant. Seeks coalesce; play, pause,
// speeds (reverse emulated, see reverse.js), frame step; a clock that follows the lead camera's frame
// and re-aligns the others (loading.js: each camera's recordings).
import { errorText } from "../../api.js";
import { toast } from "../../dom.js";
import { DEFAULT_FPS, SyncGroup } from "../../playback.js";
import { keepLoaded, loadTile } from "./loading.js";
import { startReverse } from "./reverse.js";
import { guard, waitSeeked } from "./tile.js";

/** @typedef {import("./tile.js").Tile} Tile */

/**
 * What the grid tells the view: a seek settled or playing paused (URL, go-to field), play state changed,
 * the clock ticked.
 * @typedef {{ settled: () => void, paused: () => void, playState: () => void, clock: (cursorMs: number) => void }} GridHooks
 */

export class PlaybackGrid {
  playing = false;
  speed = 1;
  closed = false;
  /** @type {ReturnType<typeof setInterval> | null} */
  reverseTimer = null;
  /** @type {number | null} */
  pendingSeek = null;
  /** @type {Promise<void> | null} */
  seeking = null;
  lastAlign = 0;
  /** @type {Promise<void>} */
  stepping = Promise.resolve();

  /**
   * @param {{ api: import("../../api.js").Api, apiFn: (path: string, options?: object) => Promise<any> }} ctx
   * @param {Tile[]} tiles
   * @param {import("../../timeline.js").Timeline} timeline
   * @param {number} startAt
   * @param {GridHooks} hooks
   */
  constructor(ctx, tiles, timeline, startAt, hooks) {
    this.ctx = ctx;
    this.tiles = tiles;
    this.timeline = timeline;
    this.hooks = hooks;
    this.cursor = startAt;
  }

  active() {
    return this.tiles.filter((x) => x.player && !x.stale);
  }

  /** @returns {Tile | null} the camera whose frame drives the clock */
  lead() {
    return this.active()[0] || null;
  }

  // frame rate of the lead camera's recordings (each camera records at its own rate)
  leadFps() {
    const first = this.lead();
    return first ? first.player.frameRate : DEFAULT_FPS;
  }

  // --- seeking -------------------------------------------------------------------------------------------
  /** @param {Tile} tile */
  applyPlayState(tile) {
    if (this.playing && this.speed > 0 && !tile.stale) {
      tile.video.playbackRate = this.speed;
      tile.video.play().catch(() => {});
    } else {
      tile.video.pause();
    }
  }

  /** @param {Tile} tile @param {number} ms */
  seekTile(tile, ms) {
    return loadTile(this, tile, ms);
  }

  /** @param {number} target */
  async seekOnce(target) {
    const loaded = this.tiles.filter((x) => x.inMap(target));
    const others = this.tiles.filter((x) => !x.inMap(target));
    const group = new SyncGroup(loaded.map((x) => x.player));
    await Promise.all([guard(group.seekWall(target), loaded), ...others.map((x) => this.seekTile(x, target))]);
    for (const x of loaded) {
      x.stale = false;
      x.setNote("");
      this.applyPlayState(x);
    }
    await Promise.all(this.active().map((x) => waitSeeked(x.video)));
  }

  /**
   * Every camera to `ms`. Seeks coalesce: while one runs, only the latest request waits (dragging
   * the timeline asks often).
   * @param {number} ms
   */
  seekAll(ms) {
    this.pendingSeek = ms;
    this.cursor = ms;
    this.seeking ||= (async () => {
      while (this.pendingSeek !== null && !this.closed) {
        const target = this.pendingSeek;
        this.pendingSeek = null;
        await this.seekOnce(target).catch((e) => toast(errorText(e), "error"));
      }
      this.seeking = null;
      if (this.closed) return;
      this.hooks.settled();
      this.tick();
    })();
    return this.seeking;
  }

  // --- play, pause, speeds, frame step ----------------------------------------------------------------------
  play() {
    if (!this.active().length) return;
    this.playing = true;
    if (this.speed > 0) {
      new SyncGroup(this.active().map((x) => x.player)).setRate(this.speed);
      for (const x of this.active()) this.applyPlayState(x);
    } else {
      this.reverseTimer = startReverse(this);
    }
    this.hooks.playState();
  }

  pause() {
    this.playing = false;
    for (const x of this.tiles) x.setHold(false);
    clearInterval(this.reverseTimer);
    this.reverseTimer = null;
    for (const x of this.tiles) x.video.pause();
    this.hooks.playState();
    if (!this.closed) this.hooks.paused();
  }

  /** @param {number} speed */
  setSpeed(speed) {
    const wasPlaying = this.playing;
    if (wasPlaying) this.pause();
    this.speed = speed;
    if (wasPlaying) this.play();
  }

  /**
   * One frame of the lead camera (at its own frame rate); the other cameras show their frame of the
   * lead's new instant, so a grid of cameras at different rates stays together.
   * @param {number} frames
   */
  step(frames) {
    this.pause();
    this.stepping = this.stepping.then(async () => {
      const first = this.lead();
      if (!first || this.closed) return;
      await first.player.step(frames);
      const wall = first.wallTime();
      if (Number.isFinite(wall)) {
        const others = this.active().filter((x) => x !== first && x.inMap(wall));
        await Promise.all(others.map((x) => x.player.seekWall(wall).catch(() => {})));
      }
      this.tick();
    }).catch((e) => toast(errorText(e), "error"));
    return this.stepping;
  }

  // --- the clock ----------------------------------------------------------------------------------------------
  // The lead camera's frame time drives the cursor; followers that drift are re-aligned.
  tick() {
    for (const x of this.tiles) x.showTime();
    const first = this.lead();
    const wall = first ? first.wallTime() : NaN;
    if (!this.seeking && Number.isFinite(wall)) {
      this.cursor = wall;
      this.timeline.setCursor(wall, { follow: this.playing });
    }
    this.hooks.clock(this.cursor);
    if (!this.playing || this.speed < 0 || this.seeking || performance.now() - this.lastAlign < 1000) return;
    this.lastAlign = performance.now();
    keepLoaded(this, first, wall);
  }

  close() {
    this.closed = true;
    this.pause();
    for (const x of this.tiles) if (x.player) x.player.stop();
  }
}
