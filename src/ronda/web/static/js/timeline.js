// @ts-check
// The playback timeline: one row per camera with recorded runs, gaps (reason in the tooltip), event
// ticks, bookmarks and evidence locks, over a time axis whose day boundaries come from the API's local
// `days` (so 23 h and 25 h days are drawn as they are). Click or drag to scrub, Shift+drag (or drag a
// selection edge) to select a range, wheel or buttons to zoom from 5 minutes to 30 days.
//
// Events dispatched: "seek" {ms, final}, "select" {start, end} | null, "load" {data}, "view" {start, end}.
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { axisTicks, formatSpan, formatWall, fromLocalInput, toLocalInput } from "./sitetime.js";
import { draw } from "./timeline/draw.js";
import { bindInput } from "./timeline/input.js";
import { AXIS_H, ROW_H } from "./timeline/style.js";

// the site-time helpers, where the views and tests have always found them
export { axisTicks, formatSpan, formatWall, fromLocalInput, toLocalInput };

export const MIN_SPAN_MS = 5 * 60 * 1000;
export const MAX_SPAN_MS = 30 * 86_400_000;
const API_MAX_MS = 31 * 86_400_000;

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
    this.hover = null; // x in CSS px
    this._seq = 0;
    this._drag = null;
    this._timers = [];

    this.canvas = h("canvas", {
      tabindex: "0", role: "slider", "aria-label": t("tl.label"), "aria-valuemin": "0", "aria-valuemax": "100",
      "data-testid": "timeline-canvas",
    });
    this.status = h("span", { class: "tl-status", role: "status" });
    this.spanLabel = h("span", { class: "tl-span" });
    const btn = (key, text, onclick, testid) =>
      h("button", { type: "button", title: t(key), "aria-label": t(key), "data-testid": testid, onclick }, text);
    this.el = h("div", { class: "timeline", "data-testid": "timeline", "aria-label": t("tl.label"), role: "group" },
      h("div", { class: "tl-bar" },
        btn("tl.earlier", "◀", () => this.pan(-0.5), "timeline-earlier"),
        btn("tl.zoomOut", "−", () => this.zoom(2), "timeline-zoom-out"),
        btn("tl.zoomIn", "+", () => this.zoom(0.5), "timeline-zoom-in"),
        btn("tl.later", "▶", () => this.pan(0.5), "timeline-later"),
        h("button", { type: "button", "data-testid": "timeline-now", onclick: () => this.goNow() }, t("tl.now")),
        this.spanLabel, this.status,
        h("span", { class: "tl-legend", "aria-hidden": "true" },
          ...[["run", "tl.recording"], ["gap", "tl.gap"], ["event", "tl.event"], ["bookmark", "tl.bookmark"], ["lock", "tl.lock"]]
            .map(([c, key]) => h("span", {}, h("i", { class: `tl-key tl-${c}` }), t(key))))),
      h("div", { class: "tl-canvas" }, this.canvas));
    this.el.rondaTimeline = this; // for tests and the console

    this._bind();
    this._resize = new ResizeObserver(() => this._fit());
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

  _fit() {
    const dpr = window.devicePixelRatio || 1;
    const cssH = AXIS_H + Math.max(1, this.cameras.length) * ROW_H + 4;
    this.canvas.style.height = `${cssH}px`;
    const w = Math.max(1, Math.round(this.width * dpr));
    if (this.canvas.width !== w || this.canvas.height !== Math.round(cssH * dpr)) {
      const widthChanged = Math.abs(this.canvas.width - w) > 50 * dpr;
      this.canvas.width = w;
      this.canvas.height = Math.round(cssH * dpr);
      if (widthChanged && this.data) this._scheduleLoad(); // a pixel is another length now
    }
    this.draw();
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

  async load() {
    if (!this.cameras.length) return;
    const seq = ++this._seq;
    const span = this.end - this.start;
    // a margin on both sides keeps small pans drawn while the next answer comes
    let from = this.start - span / 4;
    let to = this.end + span / 4;
    if (to - from > API_MAX_MS) [from, to] = [this.start, this.end];
    const resolution = Math.max(1, Math.ceil(span / this.width));
    const q = new URLSearchParams({
      cameras: this.cameras.map((c) => c.id).join(","),
      start: new Date(from).toISOString(), end: new Date(to).toISOString(), stream: this.stream, resolution: String(resolution),
    });
    if (!this.data) this.status.textContent = t("tl.loading");
    try {
      const data = await this.api.call(`/api/v1/timeline?${q}`);
      if (seq !== this._seq) return; // a newer view asked meanwhile
      this._setData(data);
    } catch (e) {
      if (seq === this._seq) this.status.textContent = `${t("common.error")}: ${e.message}`;
    }
  }

  _setData(data) {
    const parse = (list) => list.map((x) => ({ ...x, s: Date.parse(x.start), e: Date.parse(x.end) }));
    const cams = {};
    let runs = 0;
    for (const [id, c] of Object.entries(data.cameras)) {
      cams[id] = {
        runs: parse(c.runs), gaps: parse(c.gaps), bookmarks: parse(c.bookmarks), locks: parse(c.locks),
        events: c.events.map((ev) => ({ ...ev, s: Date.parse(ev.time) })),
      };
      runs += c.runs.length;
    }
    this.data = { cameras: cams, days: parse(data.days), truncated: data.truncated, resolution: data.resolution_ms };
    this.status.textContent = data.truncated ? t("tl.truncated") : "";
    this.el.dataset.runs = String(runs);
    this.el.dataset.loads = String(Number(this.el.dataset.loads || 0) + 1);
    this.requestDraw();
    this.dispatchEvent(new CustomEvent("load", { detail: { data: this.data } }));
  }

  // Events of all rows (loaded range), earliest first.
  allEvents() {
    const out = [];
    for (const c of Object.values(this.data?.cameras || {})) out.push(...c.events);
    return out.sort((a, b) => a.s - b.s);
  }

  _bind() {
    bindInput(this);
  }

  // Tooltip text for what is under the pointer: event, bookmark, lock, gap (with its reason) or recording.
  _describe(x, y) {
    const ms = this.timeAt(x);
    const row = Math.floor((y - AXIS_H) / ROW_H);
    const lines = [formatWall(ms, undefined, this.timeZone)];
    const cam = this.cameras[row];
    const d = cam && this.data?.cameras[String(cam.id)];
    if (!d || y < AXIS_H) return lines.join("\n");
    lines.unshift(cam.name);
    const pad = ((this.end - this.start) / this.width) * 4;
    for (const ev of d.events) {
      if (Math.abs(ev.s - ms) <= pad) lines.push(`${t("tl.event")}: ${ev.type}${ev.text ? ` — ${ev.text}` : ""} (${formatWall(ev.s, { timeStyle: "medium" }, this.timeZone)})`);
    }
    for (const b of d.bookmarks) if (b.s - pad <= ms && ms <= b.e + pad) lines.push(`${t("tl.bookmark")}: ${b.title}${b.note ? ` — ${b.note}` : ""}`);
    for (const l of d.locks) if (l.s <= ms && ms <= l.e) lines.push(`${t("tl.lock")}: ${l.reason}`);
    for (const g of d.gaps) if (g.s <= ms && ms <= g.e) lines.push(`${t("tl.gap")}: ${g.reason} (${formatSpan(g.e - g.s)})`);
    if (d.runs.some((r) => r.s <= ms && ms <= r.e)) lines.push(t("tl.recording"));
    return lines.join("\n");
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
