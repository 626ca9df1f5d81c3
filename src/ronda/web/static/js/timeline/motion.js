// @ts-check
// The timeline's analytics: a motion strip under each camera's recording bar (GET
// /api/v1/cameras/{id}/motion: a level 0–100 per bucket over the loaded range, about one bucket per
// pixel) and object events (object.*) as markers with their class.
import { className } from "../analytics/strings.js";
import { COLORS, MOTION_Y, ROW_H, RUN_H, RUN_Y } from "./style.js";

/** @typedef {import("../timeline.js").Timeline} Timeline */
/** @typedef {{ s: number, e: number, levels: number[] }} MotionStrip */

const MAX_BUCKETS = 2000;

/**
 * The API's answer as levels over [from, to): a list of levels, or an object with `levels` (or
 * `buckets`: numbers or {level}) and, when it says so, its own start and end.
 * @param {any} body @param {number} from @param {number} to
 * @returns {MotionStrip}
 */
export function parseMotion(body, from, to) {
  const list = Array.isArray(body) ? body : body.levels || body.buckets || [];
  const levels = list.map((x) => Number(typeof x === "object" && x !== null ? x.level ?? x.max ?? x.value ?? 0 : x) || 0);
  const s = body.start ? Date.parse(body.start) : from;
  const e = body.end ? Date.parse(body.end) : to;
  return { s, e, levels };
}

/**
 * Loads the strips of every camera on the timeline for [from, to); a camera whose strip cannot be had
 * (no analytics, no right) simply has none.
 * @param {Timeline} tl @param {number} from @param {number} to @param {number} seq the load it belongs to
 */
export async function loadMotion(tl, from, to, seq) {
  const buckets = Math.max(1, Math.min(MAX_BUCKETS, Math.round((tl.width * (to - from)) / (tl.end - tl.start))));
  const q = new URLSearchParams({ start: new Date(from).toISOString(), end: new Date(to).toISOString(), buckets: String(buckets) });
  const strips = await Promise.all(tl.cameras.map((c) =>
    tl.api.call(`/api/v1/cameras/${c.id}/motion?${q}`).then((b) => parseMotion(b, from, to)).catch(() => null)));
  if (seq !== tl._seq) return;
  tl.motion = Object.fromEntries(tl.cameras.map((c, i) => [String(c.id), strips[i]]));
  tl.el.dataset.motionLoads = String(Number(tl.el.dataset.motionLoads || 0) + 1);
  tl.requestDraw();
}

/**
 * The motion level at `ms` on a camera's strip (null: no strip there).
 * @param {Timeline} tl @param {number | string} cameraId @param {number} ms
 */
export function motionAt(tl, cameraId, ms) {
  const m = tl.motion && tl.motion[String(cameraId)];
  if (!m || ms < m.s || ms >= m.e || !m.levels.length) return null;
  return m.levels[Math.floor(((ms - m.s) / (m.e - m.s)) * m.levels.length)] ?? null;
}

/**
 * Draws a camera's strip: a dark track where it is known, brighter where more moved.
 * @param {Timeline} tl @param {CanvasRenderingContext2D} g @param {number | string} cameraId @param {number} y @param {number} W
 */
export function drawMotion(tl, g, cameraId, y, W) {
  const m = tl.motion && tl.motion[String(cameraId)];
  if (!m || !m.levels.length) return;
  const x0 = Math.max(0, tl.xOf(m.s));
  const x1 = Math.min(W, tl.xOf(m.e));
  g.fillStyle = COLORS.motionTrack;
  g.fillRect(x0, y + MOTION_Y, Math.max(0, x1 - x0), 4);
  const step = (m.e - m.s) / m.levels.length;
  m.levels.forEach((level, i) => {
    if (!(level > 0)) return;
    const a = tl.xOf(m.s + i * step);
    const b = tl.xOf(m.s + (i + 1) * step);
    if (b < 0 || a > W) return;
    g.fillStyle = `rgba(${COLORS.motionRgb}, ${(0.45 + 0.55 * Math.min(100, level) / 100).toFixed(2)})`;
    g.fillRect(a, y + MOTION_Y, Math.max(1, b - a), 4);
  });
}

/** @param {{ type?: string }} ev */
export const isObject = (ev) => typeof ev.type === "string" && ev.type.startsWith("object.");

/**
 * Object events: a diamond on the recording bar and a tick, with the class where there is room.
 * @param {Timeline} tl @param {CanvasRenderingContext2D} g @param {any[]} events @param {number} y @param {number} W
 */
export function drawObjects(tl, g, events, y, W) {
  const cy = y + RUN_Y + RUN_H / 2;
  let free = -Infinity; // the first x where a label fits without covering the previous one
  for (const ev of events) {
    if (!isObject(ev)) continue;
    const x = Math.round(tl.xOf(ev.s));
    if (x < -6 || x > W + 6) continue;
    g.fillStyle = COLORS.object;
    g.fillRect(x - 1, y + 2, 2, ROW_H - 4);
    g.beginPath();
    g.moveTo(x, cy - 5);
    g.lineTo(x + 5, cy);
    g.lineTo(x, cy + 5);
    g.lineTo(x - 5, cy);
    g.fill();
    const label = objectLabel(ev);
    if (label && x + 7 >= free) {
      const w = g.measureText(label).width;
      g.fillStyle = "rgba(11, 19, 36, 0.8)";
      g.fillRect(x + 7, cy - 6, w + 4, 12);
      g.fillStyle = COLORS.object;
      g.fillText(label, x + 9, cy);
      free = x + w + 14;
    }
  }
}

/** "car" (or the event's type when it names no class). @param {any} ev */
export function objectLabel(ev) {
  const cls = ev.payload && ev.payload.class;
  return cls ? className(String(cls)) : String(ev.type || "").replace(/^object\./, "");
}
