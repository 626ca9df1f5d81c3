// @ts-check
// The search results: one card per hit with a still of the moment (the object's own snapshot when it
// has one, else the recorded frame, analytics/frame.js, loaded when the card comes into view), its
// time, length and score or class; a click (or Enter) opens playback at the hit.
import { frameAt } from "../../analytics/frame.js";
import { className } from "../../analytics/strings.js";
import { h } from "../../dom.js";
import { t } from "../../i18n.js";
import { formatWall } from "../../sitetime.js";

/**
 * A hit of either search, in one shape.
 * @typedef {{ camera: number, s: number, e: number, score: number | null, cls: string | null, snapshot: string | null }} Hit
 */

/**
 * The API's hits as Hits (motion: start/end/score; objects: class, score, first/last seen, snapshot).
 * @param {any} body @param {number} camera
 * @returns {Hit[]}
 */
export function parseHits(body, camera) {
  const list = Array.isArray(body) ? body : body.hits || body.objects || [];
  return list.map((x) => {
    const s = Date.parse(x.start || x.first || x.first_seen || x.time);
    const e = Date.parse(x.end || x.last || x.last_seen || x.start || x.first || x.time);
    return { camera: Number(x.camera || camera), s, e: Number.isFinite(e) ? e : s, score: typeof x.score === "number" ? x.score : null,
      cls: x.class || null, snapshot: x.snapshot || x.snapshot_url || null };
  }).filter((x) => Number.isFinite(x.s));
}

/**
 * @param {import("../../app.js").AppContext} ctx
 * @param {Hit[]} hits
 * @returns {{ el: HTMLElement, destroy: () => void }}
 */
export function hitList(ctx, hits) {
  /** @type {string[]} */
  const urls = [];
  let closed = false;
  const observer = new IntersectionObserver((entries) => {
    for (const en of entries) {
      if (!en.isIntersecting) continue;
      observer.unobserve(en.target);
      const img = /** @type {HTMLImageElement} */ (en.target);
      still(ctx, hits[Number(img.dataset.index)]).then((url) => {
        if (!url) return void (img.dataset.thumb = "none");
        if (closed) return URL.revokeObjectURL(url);
        urls.push(url);
        img.src = url;
        img.dataset.thumb = "ok";
      }).catch(() => { img.dataset.thumb = "none"; });
    }
  });
  const el = h("ol", { class: "se-hits", "data-testid": "se-hits" }, ...hits.map((x, i) => {
    const when = formatWall(x.s, undefined, ctx.siteTimeZone);
    const img = h("img", { class: "thumb", alt: "", "data-index": i, "data-testid": "se-thumb" });
    observer.observe(img);
    const facts = [
      x.cls ? className(x.cls) : null,
      x.e > x.s ? t("se.duration", { s: Math.max(1, Math.round((x.e - x.s) / 1000)) }) : null,
      x.score !== null ? t("se.score", { score: x.score.toFixed(2) }) : null,
    ].filter(Boolean).join(" · ");
    const open = () => ctx.navigate(`/playback?${new URLSearchParams({ cameras: String(x.camera), at: new Date(x.s).toISOString() })}`);
    return h("li", { class: "se-hit" },
      h("button", { type: "button", "data-testid": "se-hit", "data-start": new Date(x.s).toISOString(), "aria-label": t("se.play", { time: when }), onclick: open },
        img, h("strong", { text: when }), h("small", { text: facts })));
  }));
  return {
    el,
    destroy() {
      closed = true;
      observer.disconnect();
      for (const u of urls) URL.revokeObjectURL(u);
    },
  };
}

/**
 * @param {import("../../app.js").AppContext} ctx @param {Hit} x
 * @returns {Promise<string | null>}
 */
async function still(ctx, x) {
  if (x.snapshot) {
    if (!x.snapshot.startsWith("/api/")) return x.snapshot;
    const res = await ctx.api.call(x.snapshot, { raw: true });
    if (res.ok) return URL.createObjectURL(await res.blob());
  }
  // a moment into the hit: its first frame may be from before the movement reached the region
  return frameAt(ctx, x.camera, x.s + Math.min(1000, (x.e - x.s) / 2));
}
