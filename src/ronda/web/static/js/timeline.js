// @ts-check
// The playback timeline: one row per camera with recorded runs, gaps (reason in the tooltip), event
// ticks, bookmarks and evidence locks, over a time axis whose day boundaries come from the API's local
// `days` (so 23 h and 25 h days are drawn as they are). Click or drag to scrub, Shift+drag (or drag a
// selection edge) to select a range, wheel or buttons to zoom from 5 minutes to 30 days.
//
// Events dispatched: "seek" {ms, final}, "select" {start, end} | null, "load" {data}, "view" {start, end}.
import { h } from "./dom.js";
import { addStrings, language, t } from "./i18n.js";

addStrings({
  en: {
    "tl.label": "Timeline. Click or drag to move playback; Shift+drag to select a range; arrow keys move, + and − zoom, [ and ] mark the selection, End goes to now.",
    "tl.zoomIn": "Zoom in", "tl.zoomOut": "Zoom out", "tl.now": "Now", "tl.earlier": "Earlier", "tl.later": "Later",
    "tl.recording": "Recording", "tl.gap": "Gap", "tl.event": "Event", "tl.bookmark": "Bookmark", "tl.lock": "Evidence lock",
    "tl.loading": "Loading timeline…", "tl.truncated": "Too much to show at this zoom: zoom in to see everything.",
    "tl.span": "Showing {span}", "tl.hours": "{h} h day",
  },
  it: {
    "tl.label": "Linea del tempo. Clic o trascinamento per spostare la riproduzione; Maiusc+trascinamento per selezionare un intervallo; frecce per spostarsi, + e − per lo zoom, [ e ] segnano la selezione, Fine va ad adesso.",
    "tl.zoomIn": "Ingrandisci", "tl.zoomOut": "Riduci", "tl.now": "Adesso", "tl.earlier": "Prima", "tl.later": "Dopo",
    "tl.recording": "Registrazione", "tl.gap": "Interruzione", "tl.event": "Evento", "tl.bookmark": "Segnalibro", "tl.lock": "Blocco probatorio",
    "tl.loading": "Caricamento della linea del tempo…", "tl.truncated": "Troppi elementi a questo zoom: ingrandisci per vedere tutto.",
    "tl.span": "Intervallo {span}", "tl.hours": "giorno di {h} h",
  },
});

export const MIN_SPAN_MS = 5 * 60 * 1000;
export const MAX_SPAN_MS = 30 * 86_400_000;
const API_MAX_MS = 31 * 86_400_000;
const AXIS_H = 36;
const ROW_H = 24;
const COLORS = {
  bg: "#0b1324", row: "#111c33", axis: "#94a3b8", tick: "#334155", day: "#e2e8f0", run: "#16a34a", gap: "#b91c1c",
  event: "#facc15", eventHigh: "#fb923c", bookmark: "#38bdf8", lock: "#a855f7", cursor: "#f8fafc",
  selection: "rgba(56, 189, 248, 0.22)", handle: "#38bdf8", text: "#e2e8f0",
};
// Axis label steps under a day; above that the axis labels days only.
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200].map((s) => s * 1000);

// --- time in the site's zone ------------------------------------------------------------------------------
// Every helper takes the site's IANA time zone (ctx.siteTimeZone); without one, times are shown in the
// browser's zone and typed in UTC.
/** @type {Map<string, Intl.DateTimeFormat>} */
const formatters = new Map();
/**
 * @param {Intl.DateTimeFormatOptions} options
 * @param {string} [tz]
 */
function formatter(options, tz) {
  const key = `${language()}|${tz}|${JSON.stringify(options)}`;
  if (!formatters.has(key)) {
    formatters.set(key, new Intl.DateTimeFormat(language() === "it" ? "it-IT" : "en-GB", { timeZone: tz, ...options }));
  }
  return formatters.get(key);
}

/**
 * A wall-clock instant as text in the site's zone ("—" for no instant).
 * @param {number} ms epoch milliseconds
 * @param {Intl.DateTimeFormatOptions} [options]
 * @param {string} [timeZone] the site's time zone
 * @returns {string}
 */
export function formatWall(ms, options = { dateStyle: "medium", timeStyle: "medium" }, timeZone = undefined) {
  return Number.isFinite(ms) ? formatter(options, timeZone).format(new Date(ms)) : "—";
}

/**
 * @param {number} ms
 * @param {string} tz
 * @returns {Record<string, string>}
 */
function zoneParts(ms, tz) {
  const f = new Intl.DateTimeFormat("en-US", {
    timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  return Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
}

/**
 * "YYYY-MM-DDTHH:MM:SS" in the site's zone, for <input type="datetime-local">.
 * @param {number} ms
 * @param {string} [tz] the site's time zone (default UTC)
 * @returns {string}
 */
export function toLocalInput(ms, tz) {
  tz ||= "UTC";
  const p = zoneParts(ms, tz);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}`;
}

// The UTC instant of a wall-clock time in the site's zone (the value of a datetime-local input). A
// time the clocks skip is read with the offset before the change (02:30 → 03:30 summer time); a time
// that happens twice gives the first one.
/**
 * @param {string} value
 * @param {string} [tz] the site's time zone (default UTC)
 * @returns {number} epoch milliseconds, NaN for no valid time
 */
export function fromLocalInput(value, tz) {
  tz ||= "UTC";
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value || "");
  if (!m) return NaN;
  const naive = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  const offsetAt = (ms) => {
    const p = zoneParts(ms, tz);
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
  };
  const before = offsetAt(naive - 43_200_000);
  const after = offsetAt(naive + 43_200_000);
  const fits = [naive - before, naive - after].filter((ms) => offsetAt(ms) === naive - ms);
  return fits.length ? Math.min(...fits) : naive - before;
}

export function formatSpan(ms) {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 360) / 10} h`;
  return `${Math.round(s / 8640) / 10} d`;
}

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

  // --- input ------------------------------------------------------------------------------------------------
  _bind() {
    const c = this.canvas;
    const xOfEvent = (e) => e.clientX - c.getBoundingClientRect().left;
    c.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      c.focus();
      c.setPointerCapture(e.pointerId);
      const x = xOfEvent(e);
      const sel = this.selection;
      let mode = e.shiftKey ? "select" : "scrub";
      let anchor = this._snap(this.timeAt(x));
      if (!e.shiftKey && sel) {
        // dragging a selection edge moves that edge
        if (Math.abs(this.xOf(sel.start) - x) <= 5) [mode, anchor] = ["select", sel.end];
        else if (Math.abs(this.xOf(sel.end) - x) <= 5) [mode, anchor] = ["select", sel.start];
      }
      this._drag = { mode, x0: x, anchor, moved: false, lastSeek: 0 };
      if (mode === "select" && e.shiftKey) this.setSelection(anchor, anchor);
      e.preventDefault();
    });
    c.addEventListener("pointermove", (e) => {
      const x = xOfEvent(e);
      this.hover = x;
      const d = this._drag;
      if (!d) {
        c.title = this._describe(x, e.clientY - c.getBoundingClientRect().top);
        this.requestDraw();
        return;
      }
      if (Math.abs(x - d.x0) > 3) d.moved = true;
      if (!d.moved) return;
      if (d.mode === "select") {
        this.selection = { start: Math.min(d.anchor, this._snap(this.timeAt(x))), end: Math.max(d.anchor, this._snap(this.timeAt(x))) };
        this.requestDraw();
      } else {
        this.cursor = this.timeAt(x);
        this.requestDraw();
        const now = performance.now();
        if (now - d.lastSeek > 200) {
          d.lastSeek = now;
          this.dispatchEvent(new CustomEvent("seek", { detail: { ms: this.cursor, final: false } }));
        }
      }
    });
    const end = (e) => {
      const d = this._drag;
      if (!d) return;
      this._drag = null;
      const x = xOfEvent(e);
      if (d.mode === "select" && d.moved) {
        this._publishSelection();
      } else if (d.mode === "select" && e.shiftKey) {
        this.setSelection(null); // a Shift+click without a drag clears the selection
      } else {
        this._seek(this.timeAt(x), true);
      }
    };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", () => {
      this._drag = null;
    });
    c.addEventListener("pointerleave", () => {
      this.hover = null;
      this.requestDraw();
    });
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) this.pan(e.deltaX > 0 ? 0.1 : -0.1);
      else this.zoom(e.deltaY > 0 ? 1.25 : 0.8, this.timeAt(xOfEvent(e)));
    }, { passive: false });
    c.addEventListener("keydown", (e) => {
      const span = this.end - this.start;
      const at = this.cursor ?? (this.start + this.end) / 2;
      const keys = {
        ArrowLeft: () => this._seek(at - span / 50, true),
        ArrowRight: () => this._seek(at + span / 50, true),
        PageUp: () => this.pan(-0.5),
        PageDown: () => this.pan(0.5),
        "+": () => this.zoom(0.5),
        "=": () => this.zoom(0.5),
        "-": () => this.zoom(2),
        End: () => this.goNow(),
        "[": () => this.setSelection(this._snap(at), Math.max(this._snap(at), this.selection?.end ?? this._snap(at))),
        "]": () => this.setSelection(Math.min(this._snap(at), this.selection?.start ?? this._snap(at)), this._snap(at)),
        Escape: () => this.setSelection(null),
      };
      if (keys[e.key]) {
        e.preventDefault();
        keys[e.key]();
      }
    });
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
    const g = this.canvas.getContext("2d");
    if (!g) return;
    const dpr = window.devicePixelRatio || 1;
    const W = this.width;
    const H = this.canvas.height / dpr;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = COLORS.bg;
    g.fillRect(0, 0, W, H);
    g.font = "11px system-ui, sans-serif";
    g.textBaseline = "middle";
    this._drawAxis(g, W, H);
    this.cameras.forEach((cam, i) => this._drawRow(g, cam, AXIS_H + i * ROW_H, W));
    this._drawOverlay(g, W, H);
  }

  _drawAxis(g, W, H) {
    const { ticks, days } = axisTicks(this.start, this.end, this.data?.days || [], W, this.timeZone);
    for (const tk of ticks) {
      const x = Math.round(this.xOf(tk.ms)) + 0.5;
      g.fillStyle = COLORS.tick;
      g.fillRect(x, AXIS_H - 8, 1, H - AXIS_H + 8);
      g.fillStyle = COLORS.axis;
      g.fillText(tk.label, x + 3, 27);
    }
    days.forEach((d, i) => {
      const x = Math.round(this.xOf(d.ms)) + 0.5;
      g.fillStyle = COLORS.day;
      if (d.ms >= this.start) g.fillRect(x, 0, 1, H);
      if (!d.label) return;
      // the label of the day in view at the left edge stays there, unless the next one needs the room
      const lx = Math.max(2, x + 3);
      const next = days.slice(i + 1).find((n) => n.label);
      if (next && this.xOf(next.ms) - lx < g.measureText(d.label).width + 6) return;
      g.fillText(d.label, lx, 11);
    });
  }

  _drawRow(g, cam, y, W) {
    const d = this.data?.cameras[String(cam.id)];
    g.fillStyle = COLORS.row;
    g.fillRect(0, y + 1, W, ROW_H - 2);
    const span = (s, e, top, height, color) => {
      const x0 = Math.max(-1, this.xOf(s));
      const x1 = Math.min(W + 1, this.xOf(e));
      if (x1 < 0 || x0 > W) return;
      g.fillStyle = color;
      g.fillRect(x0, y + top, Math.max(1, x1 - x0), height);
    };
    if (d) {
      for (const r of d.runs) span(r.s, r.e, 7, ROW_H - 14, COLORS.run);
      for (const gp of d.gaps) span(gp.s, gp.e, 9, ROW_H - 18, COLORS.gap);
      for (const b of d.bookmarks) span(b.s, b.e, 2, 4, COLORS.bookmark);
      for (const l of d.locks) span(l.s, l.e, ROW_H - 6, 4, COLORS.lock);
      for (const ev of d.events) {
        const x = this.xOf(ev.s);
        if (x < -2 || x > W + 2) continue;
        g.fillStyle = ev.severity === "info" ? COLORS.event : COLORS.eventHigh;
        g.fillRect(Math.round(x) - 1, y + 3, 2, ROW_H - 6);
      }
    }
    // the camera's name, readable over the bars
    const w = g.measureText(cam.name).width + 8;
    g.fillStyle = "rgba(11, 19, 36, 0.75)";
    g.fillRect(0, y + 4, w, ROW_H - 8);
    g.fillStyle = COLORS.text;
    g.fillText(cam.name, 4, y + ROW_H / 2);
  }

  _drawOverlay(g, W, H) {
    const s = this.selection;
    if (s) {
      const x0 = this.xOf(s.start);
      const x1 = this.xOf(s.end);
      g.fillStyle = COLORS.selection;
      g.fillRect(x0, AXIS_H, Math.max(1, x1 - x0), H - AXIS_H);
      g.fillStyle = COLORS.handle;
      g.fillRect(Math.round(x0) - 1, AXIS_H - 4, 2, H - AXIS_H + 4);
      g.fillRect(Math.round(x1) - 1, AXIS_H - 4, 2, H - AXIS_H + 4);
    }
    if (this.hover !== null && !this._drag) {
      g.fillStyle = "rgba(226, 232, 240, 0.35)";
      g.fillRect(Math.round(this.hover), AXIS_H, 1, H - AXIS_H);
    }
    if (this.cursor !== null) {
      const x = Math.round(this.xOf(this.cursor));
      if (x >= -6 && x <= W + 6) {
        g.fillStyle = COLORS.cursor;
        g.fillRect(x - 1, AXIS_H - 6, 2, H - AXIS_H + 6);
        g.beginPath();
        g.moveTo(x - 5, AXIS_H - 8);
        g.lineTo(x + 5, AXIS_H - 8);
        g.lineTo(x, AXIS_H - 2);
        g.fill();
      }
    }
  }
}

// The axis of [start, end) on `width` pixels: hour/minute ticks counted from each local midnight of the
// API's `days` (so a 23 h or 25 h day has its real hours: 01:00, 02:00, 02:00, 03:00 on the night clocks
// go back), and the day boundaries with their labels (thinned out when days are narrow).
/**
 * Axis labels of a range: hour/minute ticks under a day, else day labels (23 h / 25 h days said so).
 * @param {number} start
 * @param {number} end
 * @param {{ s: number, e: number, hours: number }[]} days the site's days over the range
 * @param {number} width pixels
 * @param {string} [timeZone] the site's time zone
 */
export function axisTicks(start, end, days, width, timeZone = undefined) {
  const msPerPx = (end - start) / width;
  const inView = days.filter((d) => d.e > start && d.s < end);
  const step = STEPS.find((s) => s / msPerPx >= 80);
  const ticks = [];
  if (step) {
    /** @type {Intl.DateTimeFormatOptions} */
    const opts = step < 60000 ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
    for (const d of inView) {
      for (let k = Math.max(1, Math.ceil((start - d.s) / step)); d.s + k * step < Math.min(d.e, end); k++) {
        ticks.push({ ms: d.s + k * step, label: formatWall(d.s + k * step, opts, timeZone) });
      }
    }
  }
  const every = Math.max(1, Math.ceil(90 / (86_400_000 / msPerPx)));
  const out = inView.map((d, i) => ({
    ms: d.s,
    hours: d.hours,
    label: i % every === 0 || d.s < start
      ? formatWall(d.s, { weekday: "short", day: "numeric", month: "short" }, timeZone) + (d.hours !== 24 ? ` · ${t("tl.hours", { h: d.hours })}` : "")
      : "",
  }));
  return { step, ticks, days: out };
}
