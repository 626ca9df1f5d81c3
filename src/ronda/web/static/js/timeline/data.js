// @ts-check
// The timeline's data: GET /api/v1/timeline for the view plus a margin, parsed into milliseconds.
import { t } from "../i18n.js";
import { loadMotion } from "./motion.js";

/** @typedef {import("../timeline.js").Timeline} Timeline */

const API_MAX_MS = 31 * 86_400_000;

/**
 * Asks for the view (a quarter more on each side); a newer request makes an older answer stale.
 * @param {Timeline} tl
 */
export async function loadData(tl) {
  if (!tl.cameras.length) return;
  const seq = ++tl._seq;
  const span = tl.end - tl.start;
  // a margin on both sides keeps small pans drawn while the next answer comes
  let from = tl.start - span / 4;
  let to = tl.end + span / 4;
  if (to - from > API_MAX_MS) [from, to] = [tl.start, tl.end];
  const resolution = Math.max(1, Math.ceil(span / tl.width));
  const q = new URLSearchParams({
    cameras: tl.cameras.map((c) => c.id).join(","),
    start: new Date(from).toISOString(), end: new Date(to).toISOString(), stream: tl.stream, resolution: String(resolution),
  });
  if (!tl.data) tl.status.textContent = t("tl.loading");
  try {
    const data = await tl.api.call(`/api/v1/timeline?${q}`);
    if (seq !== tl._seq) return; // a newer view asked meanwhile
    setData(tl, data);
    await loadMotion(tl, from, to, seq);
  } catch (e) {
    if (seq === tl._seq) tl.status.textContent = `${t("common.error")}: ${e.message}`;
  }
}

/**
 * @param {Timeline} tl
 * @param {any} data the API's answer
 */
function setData(tl, data) {
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
  tl.data = { cameras: cams, days: parse(data.days), truncated: data.truncated, resolution: data.resolution_ms };
  tl.status.textContent = data.truncated ? t("tl.truncated") : "";
  tl.el.dataset.runs = String(runs);
  tl.el.dataset.loads = String(Number(tl.el.dataset.loads || 0) + 1);
  tl.requestDraw();
  tl.dispatchEvent(new CustomEvent("load", { detail: { data: tl.data } }));
}
