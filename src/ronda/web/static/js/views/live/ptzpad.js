// @ts-check
// The PTZ joystick: a round pad dragged with a pointer (mouse, pen, finger) or steered with the arrow
// keys, giving pan/tilt speeds proportional to the offset from its centre. While a move is held it is
// sent again every REFRESH_MS (the server stops a dome whose joystick goes quiet for ptz.deadman_seconds,
// 1 s), and it is stopped on release, pointercancel, the window losing focus or the page being hidden.
import { h } from "../../dom.js";

export const REFRESH_MS = 300;
const DEAD_ZONE = 0.08; // a knob this close to the centre (fraction of the radius) means no move
const KEY_SPEED = 0.5;
const KEYS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };

/** @typedef {{ pan: number, tilt: number, zoom: number }} Speeds */

/**
 * Pan/tilt speeds (−1..1, two decimals) for a knob at (dx, dy) pixels from the centre of a pad of
 * radius `r`; screen y grows downwards, tilt grows upwards.
 * @param {number} dx @param {number} dy @param {number} r
 * @returns {{ pan: number, tilt: number }}
 */
export function speedsAt(dx, dy, r) {
  const len = Math.hypot(dx, dy);
  if (r <= 0 || len / r < DEAD_ZONE) return { pan: 0, tilt: 0 };
  const k = len > r ? r / len : 1; // clamp to the rim, keeping the direction
  const q = (v) => Math.round(Math.max(-1, Math.min(1, v)) * 100) / 100 || 0;
  return { pan: q((dx * k) / r), tilt: q((-dy * k) / r) };
}

/**
 * Drives the continuous moves of one dome: `send(speeds)` for each (re)sent move, `stop()` on release.
 * Requests go one at a time in order (a stop never overtakes a move still on its way).
 */
export class Mover {
  /** @param {(s: Speeds) => Promise<unknown>} send @param {() => Promise<unknown>} stop */
  constructor(send, stop) {
    this.send = send;
    this.stopFn = stop;
    /** @type {Speeds | null} */
    this.current = null;
    this.busy = false;
    this.timer = null;
    /** @type {Promise<unknown>} */
    this.chain = Promise.resolve();
  }

  /** @param {(() => Promise<unknown>)} fn */
  _queue(fn) {
    this.chain = this.chain.then(fn).catch(() => {});
    return this.chain;
  }

  /** Hold these speeds (all zero: stop) until the next call. @param {Speeds} s */
  hold(s) {
    if (!s.pan && !s.tilt && !s.zoom) {
      this.release();
      return;
    }
    const changed = !this.current || ["pan", "tilt", "zoom"].some((k) => this.current[k] !== s[k]);
    this.current = s;
    if (!this.timer) this.timer = setInterval(() => this._tick(), REFRESH_MS);
    if (changed) this._tick();
  }

  _tick() {
    if (!this.current || this.busy) return; // the latest speeds go with the next tick
    const s = this.current;
    this.busy = true;
    this._queue(() => this.send(s)).finally(() => {
      this.busy = false;
    });
  }

  /** Forget the held move without a stop (the dome was taken over: a stop would only be refused). */
  drop() {
    clearInterval(this.timer);
    this.timer = null;
    this.current = null;
  }

  release() {
    clearInterval(this.timer);
    this.timer = null;
    if (!this.current) return;
    this.current = null;
    this._queue(() => this.stopFn());
  }
}

/**
 * The pad element. `onSpeeds` gets the speeds for each change (zero on release); `onZoom(+1 | -1)` a
 * wheel notch or the +/− keys.
 * @param {{ label: string, onSpeeds: (s: {pan: number, tilt: number}) => void, onZoom: (dir: number) => void }} opts
 */
export function joystick({ label, onSpeeds, onZoom }) {
  const knob = h("div", { class: "ptz-knob", "aria-hidden": "true" });
  const pad = h("div", { class: "ptz-pad", role: "application", tabindex: "0", "aria-label": label,
    "data-testid": "ptz-pad" }, knob);
  let dragging = null; // the pointer id while dragged
  const held = new Set(); // arrow keys down
  const place = (dx, dy) => {
    knob.style.transform = dx || dy ? `translate(${dx}px, ${dy}px)` : "";
  };
  const fromPointer = (/** @type {PointerEvent} */ e) => {
    const r = pad.getBoundingClientRect();
    const radius = r.width / 2;
    let dx = e.clientX - (r.left + radius);
    let dy = e.clientY - (r.top + r.height / 2);
    const len = Math.hypot(dx, dy);
    if (len > radius) [dx, dy] = [(dx * radius) / len, (dy * radius) / len];
    place(dx, dy);
    onSpeeds(speedsAt(dx, dy, radius));
  };
  const end = () => {
    if (dragging === null && !held.size) return;
    dragging = null;
    held.clear();
    pad.classList.remove("active");
    place(0, 0);
    onSpeeds({ pan: 0, tilt: 0 });
  };
  pad.addEventListener("pointerdown", (e) => {
    if (pad.classList.contains("disabled") || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    pad.focus();
    dragging = e.pointerId;
    pad.setPointerCapture(e.pointerId);
    pad.classList.add("active");
    fromPointer(e);
  });
  pad.addEventListener("pointermove", (e) => {
    if (dragging === e.pointerId) fromPointer(e);
  });
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) pad.addEventListener(type, end);
  pad.addEventListener("blur", end);
  const fromKeys = () => {
    let pan = 0;
    let tilt = 0;
    for (const k of held) [pan, tilt] = [pan + KEYS[k][0] * KEY_SPEED, tilt + KEYS[k][1] * KEY_SPEED];
    const r = pad.clientWidth / 2;
    place(pan * r, -tilt * r);
    pad.classList.toggle("active", held.size > 0);
    onSpeeds({ pan, tilt });
  };
  const keydown = (/** @type {KeyboardEvent} */ e, arrowsOnly = false) => {
    if (e.altKey || e.ctrlKey || e.metaKey || pad.classList.contains("disabled")) return;
    if (e.key in KEYS) {
      e.preventDefault();
      e.stopPropagation();
      if (held.has(e.key)) return; // key repeat: the mover refreshes the move itself
      held.add(e.key);
      fromKeys();
    } else if (!arrowsOnly && (e.key === "+" || e.key === "=" || e.key === "-")) {
      e.preventDefault();
      e.stopPropagation();
      onZoom(e.key === "-" ? -1 : 1);
    }
  };
  const keyup = (/** @type {KeyboardEvent} */ e) => {
    if (!held.delete(e.key)) return;
    e.preventDefault();
    fromKeys();
  };
  pad.addEventListener("keydown", keydown);
  pad.addEventListener("keyup", keyup);
  let lastWheel = 0;
  pad.addEventListener("wheel", (e) => {
    e.preventDefault();
    if (pad.classList.contains("disabled") || e.timeStamp - lastWheel < 150) return; // one step per notch burst
    lastWheel = e.timeStamp;
    onZoom(e.deltaY < 0 ? 1 : -1);
  }, { passive: false });
  return {
    el: pad,
    end,
    /** The arrow keys on another element (the video in the single view, whose +/− zoom digitally). @param {HTMLElement} el */
    keysOn(el) {
      el.addEventListener("keydown", (e) => e.target === el && keydown(e, true));
      el.addEventListener("keyup", keyup);
      el.addEventListener("blur", end);
    },
    /** @param {boolean} off */
    disable(off) {
      if (off) end();
      pad.classList.toggle("disabled", off);
      pad.setAttribute("aria-disabled", String(off));
    },
  };
}
