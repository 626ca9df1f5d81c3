// @ts-check
// Drawing of the timeline on its canvas (sized to its box): the axis, one row per camera, the cursor and selection.
import { axisTicks } from "../sitetime.js";
import { drawMotion, drawObjects, isObject } from "./motion.js";
import { AXIS_H, COLORS, ROW_H, RUN_H, RUN_Y } from "./style.js";

/** @typedef {import("../timeline.js").Timeline} Timeline */

/**
 * Sizes the canvas to its box (a row per camera, in device pixels) and draws it.
 * @param {Timeline} tl
 */
export function fitCanvas(tl) {
  const dpr = window.devicePixelRatio || 1;
  const cssH = AXIS_H + Math.max(1, tl.cameras.length) * ROW_H + 4;
  tl.canvas.style.height = `${cssH}px`;
  const w = Math.max(1, Math.round(tl.width * dpr));
  if (tl.canvas.width !== w || tl.canvas.height !== Math.round(cssH * dpr)) {
    const widthChanged = Math.abs(tl.canvas.width - w) > 50 * dpr;
    tl.canvas.width = w;
    tl.canvas.height = Math.round(cssH * dpr);
    if (widthChanged && tl.data) tl._scheduleLoad(); // a pixel is another length now
  }
  tl.draw();
}

/** @param {Timeline} tl */
export function draw(tl) {
  const g = tl.canvas.getContext("2d");
  if (!g) return;
  const dpr = window.devicePixelRatio || 1;
  const W = tl.width;
  const H = tl.canvas.height / dpr;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.fillStyle = COLORS.bg;
  g.fillRect(0, 0, W, H);
  g.font = "11px system-ui, sans-serif";
  g.textBaseline = "middle";
  drawAxis(tl, g, W, H);
  tl.cameras.forEach((cam, i) => drawRow(tl, g, cam, AXIS_H + i * ROW_H, W));
  drawOverlay(tl, g, W, H);
}

function drawAxis(tl, g, W, H) {
  const { ticks, days } = axisTicks(tl.start, tl.end, tl.data?.days || [], W, tl.timeZone);
  for (const tk of ticks) {
    const x = Math.round(tl.xOf(tk.ms)) + 0.5;
    g.fillStyle = COLORS.tick;
    g.fillRect(x, AXIS_H - 8, 1, H - AXIS_H + 8);
    g.fillStyle = COLORS.axis;
    g.fillText(tk.label, x + 3, 27);
  }
  days.forEach((d, i) => {
    const x = Math.round(tl.xOf(d.ms)) + 0.5;
    g.fillStyle = COLORS.day;
    if (d.ms >= tl.start) g.fillRect(x, 0, 1, H);
    if (!d.label) return;
    // the label of the day in view at the left edge stays there, unless the next one needs the room
    const lx = Math.max(2, x + 3);
    const next = days.slice(i + 1).find((n) => n.label);
    if (next && tl.xOf(next.ms) - lx < g.measureText(d.label).width + 6) return;
    g.fillText(d.label, lx, 11);
  });
}

function drawRow(tl, g, cam, y, W) {
  const d = tl.data?.cameras[String(cam.id)];
  g.fillStyle = COLORS.row;
  g.fillRect(0, y + 1, W, ROW_H - 2);
  const span = (s, e, top, height, color) => {
    const x0 = Math.max(-1, tl.xOf(s));
    const x1 = Math.min(W + 1, tl.xOf(e));
    if (x1 < 0 || x0 > W) return;
    g.fillStyle = color;
    g.fillRect(x0, y + top, Math.max(1, x1 - x0), height);
  };
  if (d) {
    for (const r of d.runs) span(r.s, r.e, RUN_Y, RUN_H, COLORS.run);
    for (const gp of d.gaps) span(gp.s, gp.e, RUN_Y + 2, RUN_H - 4, COLORS.gap);
    for (const b of d.bookmarks) span(b.s, b.e, 2, 4, COLORS.bookmark);
    for (const l of d.locks) span(l.s, l.e, ROW_H - 4, 3, COLORS.lock);
    for (const ev of d.events) {
      const x = tl.xOf(ev.s);
      if (x < -2 || x > W + 2 || isObject(ev)) continue;
      g.fillStyle = ev.severity === "info" ? COLORS.event : COLORS.eventHigh;
      g.fillRect(Math.round(x) - 1, y + 3, 2, ROW_H - 6);
    }
  }
  drawMotion(tl, g, cam.id, y, W);
  if (d) drawObjects(tl, g, d.events, y, W);
  // the camera's name, readable over the bars
  const w = g.measureText(cam.name).width + 8;
  g.fillStyle = "rgba(11, 19, 36, 0.75)";
  g.fillRect(0, y + 4, w, ROW_H - 8);
  g.fillStyle = COLORS.text;
  g.fillText(cam.name, 4, y + ROW_H / 2);
}

function drawOverlay(tl, g, W, H) {
  const s = tl.selection;
  if (s) {
    const x0 = tl.xOf(s.start);
    const x1 = tl.xOf(s.end);
    g.fillStyle = COLORS.selection;
    g.fillRect(x0, AXIS_H, Math.max(1, x1 - x0), H - AXIS_H);
    g.fillStyle = COLORS.handle;
    g.fillRect(Math.round(x0) - 1, AXIS_H - 4, 2, H - AXIS_H + 4);
    g.fillRect(Math.round(x1) - 1, AXIS_H - 4, 2, H - AXIS_H + 4);
  }
  if (tl.hover !== null && !tl._drag) {
    g.fillStyle = "rgba(226, 232, 240, 0.35)";
    g.fillRect(Math.round(tl.hover), AXIS_H, 1, H - AXIS_H);
  }
  if (tl.cursor !== null) {
    const x = Math.round(tl.xOf(tl.cursor));
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
