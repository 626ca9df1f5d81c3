// @ts-check
// The timeline's tooltip: what is under the pointer (event, bookmark, lock, gap with its reason, or
// recording) on the camera row there.
import { t } from "../i18n.js";
import { reasonText } from "../reasons.js";
import { formatSpan, formatWall } from "../sitetime.js";
import { isObject, motionAt, objectLabel } from "./motion.js";
import { AXIS_H, ROW_H } from "./style.js";

/** @typedef {import("../timeline.js").Timeline} Timeline */

/**
 * @param {Timeline} tl
 * @param {number} x CSS px from the canvas' left edge
 * @param {number} y CSS px from its top edge
 * @returns {string}
 */
export function describe(tl, x, y) {
  const ms = tl.timeAt(x);
  const row = Math.floor((y - AXIS_H) / ROW_H);
  const lines = [formatWall(ms, undefined, tl.timeZone)];
  const cam = tl.cameras[row];
  const d = cam && tl.data?.cameras[String(cam.id)];
  if (!d || y < AXIS_H) return lines.join("\n");
  lines.unshift(cam.name);
  const pad = ((tl.end - tl.start) / tl.width) * 4;
  for (const ev of d.events) {
    if (Math.abs(ev.s - ms) > pad) continue;
    const score = ev.payload && typeof ev.payload.score === "number" ? ` ${Math.round(ev.payload.score * 100)}%` : "";
    if (isObject(ev)) lines.push(`${t("tl.object")}: ${objectLabel(ev)}${score} — ${ev.type} (${formatWall(ev.s, { timeStyle: "medium" }, tl.timeZone)})`);
    else lines.push(`${t("tl.event")}: ${ev.type}${ev.text ? ` — ${ev.text}` : ""} (${formatWall(ev.s, { timeStyle: "medium" }, tl.timeZone)})`);
  }
  for (const b of d.bookmarks) if (b.s - pad <= ms && ms <= b.e + pad) lines.push(`${t("tl.bookmark")}: ${b.title}${b.note ? ` — ${b.note}` : ""}`);
  for (const l of d.locks) if (l.s <= ms && ms <= l.e) lines.push(`${t("tl.lock")}: ${l.reason}`);
  for (const g of d.gaps) if (g.s <= ms && ms <= g.e) lines.push(`${t("tl.gap")}: ${reasonText(g.reason)} (${formatSpan(g.e - g.s)})`);
  if (d.runs.some((r) => r.s <= ms && ms <= r.e)) lines.push(t("tl.recording"));
  const level = motionAt(tl, cam.id, ms);
  if (level) lines.push(`${t("tl.motion")}: ${Math.round(level)}%`);
  return lines.join("\n");
}
