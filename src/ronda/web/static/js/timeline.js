// @ts-check
// The playback timeline: one row per camera with recorded runs, gaps (reason in the tooltip), event
// ticks, bookmarks and evidence locks, over a time axis whose day boundaries come from the API's local
// `days` (so 23 h and 25 h days are drawn as they are). Click or drag to scrub, Shift+drag (or drag a
// selection edge) to select a range, wheel or buttons to zoom from 5 minutes to 30 days.
//
// Events dispatched: "seek" {ms, final}, "select" {start, end} | null, "load" {data}, "view" {start, end}.
// Components in timeline/: bar.js (the elements), data.js (loading), draw.js, input.js, describe.js (tooltip),
// motion.js (the motion strip and object markers).
import { t } from "./i18n.js";
import { axisTicks, formatSpan, formatWall, fromLocalInput, toLocalInput } from "./sitetime.js";
import { timelineElements } from "./timeline/bar.js";
import { loadData } from "./timeline/data.js";
import { draw, fitCanvas } from "./timeline/draw.js";
import { bindInput } from "./timeline/input.js";

// the site-time helpers, where the views and tests have always found them
export { axisTicks, formatSpan, formatWall, fromLocalInput, toLocalInput };

export const MIN_SPAN_MS = 5 * 60 * 1000;
export const MAX_SPAN_MS = 30 * 86_400_000;

// --- the component -------------------------------------------------------------------------------------------
export class Timeline extends EventTarget {
  constructor({ api, cameras, start, end, stream = "main", timeZone = undefined }) {
    super();
    this.api = api;
    this.cameras = cameras; // [{id, name}]
    this.stream = stream;
    this.timeZone = timeZone; // the site's: axis labels, tooltips
    this.start = start;
    this.end = end;
    this.cursor = null;
    this.selection = null; // {start, end}
    this.data = null;
    /** @type {Record<string, import("./timeline/motion.js").MotionStrip | null> | null} the motion strip per camera (timeline/motion.js) */
    this.motion = null;
    this.hover = null; // x in CSS px
    this._seq = 0;
    this._drag = null;
    this._timers = [];

    const { el, canvas, status, spanLabel } = timelineElements(this);
    this.el = el;
    this.canvas = canvas;
    this.status = status;
    this.spanLabel = spanLabel;
    this.el.rondaTimeline = this; // for tests and the console

    bindInput(this);
    this._resize = new ResizeObserver(() => fitCanvas(this));
    this._resize.observe(this.canvas.parentElement);
    // The newest footage keeps arriving: refresh a view that reaches the present.
    this._timers.push(setInterval(() => {
      if (this.end > Date.now() - (this.end - this.start) / 4 && !this._drag) this.load();
    }, 15000));
    this._updateLabels();
    this.load();
  }

  destroy() {
    this._resize.disconnect();
    for (const id of this._timers) clearInterval(id);
    clearTimeout(this._loadTimer);
    this._seq++;
  }

  // --- geometry ---------------------------------------------------------------------------------------------
  get width() {
    return this.canvas.clientWidth || 600;
  }

  xOf(ms) {
    return ((ms - this.start) / (this.end - this.start)) * this.width;
  }

  timeAt(x) {
    return this.start + (x / this.width) * (this.end - this.start);
  }

  // Selection edges land on whole seconds (or on whole pixels when a pixel is longer).
  _snap(ms) {
    const unit = Math.max(1000, Math.round((this.end - this.start) / this.width / 1000) * 1000);
    return Math.round(ms / unit) * unit;
  }

  // --- view changes -----------------------------------------------------------------------------------------
  setView(start, end, { load = true } = {}) {
    const span = Math.min(MAX_SPAN_MS, Math.max(MIN_SPAN_MS, end - start));
    this.start = Math.round((start + end) / 2 - span / 2);
    this.end = this.start + span;
    this._updateLabels();
    this.requestDraw();
    if (load) this._scheduleLoad();
    this.dispatchEvent(new CustomEvent("view", { detail: { start: this.start, end: this.end } }));
  }

  zoom(factor, centerMs) {
    const span = this.end - this.start;
    const next = Math.min(MAX_SPAN_MS, Math.max(MIN_SPAN_MS, span * factor));
    let c = centerMs;
    if (c === undefined) c = this.cursor !== null && this.cursor >= this.start && this.cursor <= this.end ? this.cursor : (this.start + this.end) / 2;
    // keep the time under `c` at the same place on screen
    const frac = (c - this.start) / span;
    this.setView(c - frac * next, c - frac * next + next);
  }

  pan(fraction) {
    const d = (this.end - this.start) * fraction;
    this.setView(this.start + d, this.end + d);
  }

  // The latest recording in view, with the view ending at the present.
  goNow() {
    const span = this.end - this.start;
    const now = Date.now();
    this.setView(now - span * 0.9, now + span * 0.1);
    let last = -Infinity;
    for (const cam of Object.values(this.data?.cameras || {})) {
      for (const r of cam.runs) last = Math.max(last, Date.parse(r.end));
    }
    const target = Number.isFinite(last) ? Math.min(now, last) - 3000 : now - 10000;
    this._seek(target, true);
  }

  setCursor(ms, { follow = true } = {}) {
    if (!Number.isFinite(ms) || this._drag?.mode === "scrub") return;
    this.cursor = ms;
    this.canvas.setAttribute("aria-valuetext", formatWall(ms, undefined, this.timeZone));
    const span = this.end - this.start;
    // page the view so the playing instant stays on screen (backwards too)
    if (follow && ms > this.end - span * 0.02) this.setView(ms - span * 0.1, ms + span * 0.9);
    else if (follow && ms < this.start) this.setView(ms - span * 0.9, ms + span * 0.1);
    this.canvas.setAttribute("aria-valuenow", String(Math.round(Math.min(100, Math.max(0, ((ms - this.start) / span) * 100)))));
    this.requestDraw();
  }

  setSelection(start, end) {
    if (start === null || start === undefined) {
      this.selection = null;
    } else {
      const [a, b] = start <= end ? [start, end] : [end, start];
      this.selection = { start: a, end: b };
    }
    this._publishSelection();
  }

  _publishSelection() {
    const s = this.selection;
    this.el.dataset.selectionStart = s ? new Date(s.start).toISOString() : "";
    this.el.dataset.selectionEnd = s ? new Date(s.end).toISOString() : "";
    this.requestDraw();
    this.dispatchEvent(new CustomEvent("select", { detail: s && s.end > s.start ? { ...s } : null }));
  }

  _seek(ms, final) {
    this.cursor = ms;
    this.requestDraw();
    this.dispatchEvent(new CustomEvent("seek", { detail: { ms, final } }));
  }

  _updateLabels() {
    this.spanLabel.textContent = t("tl.span", { span: formatSpan(this.end - this.start) });
    this.el.dataset.viewStart = new Date(this.start).toISOString();
    this.el.dataset.viewEnd = new Date(this.end).toISOString();
  }

  // --- data -------------------------------------------------------------------------------------------------
  _scheduleLoad() {
    clearTimeout(this._loadTimer);
    this._loadTimer = setTimeout(() => this.load(), 150);
  }

  load() {
    return loadData(this);
  }

  // Events of all rows (loaded range), earliest first.
  allEvents() {
    const out = [];
    for (const c of Object.values(this.data?.cameras || {})) out.push(...c.events);
    return out.sort((a, b) => a.s - b.s);
  }

  // --- drawing ----------------------------------------------------------------------------------------------
  requestDraw() {
    if (this._drawPending) return;
    this._drawPending = true;
    requestAnimationFrame(() => {
      this._drawPending = false;
      this.draw();
    });
  }

  draw() {
    draw(this);
  }
}
