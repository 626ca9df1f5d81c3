// @ts-check
// A camera picture with an SVG overlay in the picture's own pixels, for drawing zones (admin) and
// search regions (search view). Shapes are kept normalised (0–1, origin top left, as the API speaks);
// the overlay's viewBox is the picture's size, so circles stay round and lines keep their angle.
// The picture is the camera's latest snapshot; when that is refused (no live right) or fails, a
// recorded frame (frame.js), else an empty 16:9 frame: a region can be drawn without a picture.
import { h } from "../dom.js";
import { frameAt } from "./frame.js";

export const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * An SVG element.
 * @param {string} tag
 * @param {Record<string, string | number | null | undefined>} [attrs]
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  return el;
}

/** @typedef {[number, number]} Point normalised 0–1 */

/**
 * The snapshot as an object URL (null when the API refuses it).
 * @param {import("../app.js").AppContext} ctx
 * @param {number} cameraId
 * @param {number} [fallbackMs] a recorded instant to show when there is no snapshot
 * @returns {Promise<string | null>}
 */
async function picture(ctx, cameraId, fallbackMs) {
  try {
    const res = await ctx.api.call(`/api/v1/cameras/${cameraId}/snapshot`, { raw: true });
    if (res.ok) return URL.createObjectURL(await res.blob());
  } catch {
    // no snapshot: try a recorded frame
  }
  return fallbackMs ? frameAt(ctx, cameraId, fallbackMs, 1280).catch(() => null) : null;
}

export class Stage {
  /**
   * @param {import("../app.js").AppContext} ctx
   * @param {number} cameraId
   * @param {{ label: string, testid: string, fallbackMs?: number }} options
   */
  constructor(ctx, cameraId, { label, testid, fallbackMs }) {
    this.W = 1600;
    this.H = 900;
    this.img = /** @type {HTMLImageElement} */ (h("img", { alt: "", draggable: "false" }));
    this.svg = /** @type {SVGSVGElement} */ (/** @type {unknown} */ (svg("svg", { class: "an-overlay", viewBox: `0 0 ${this.W} ${this.H}`, preserveAspectRatio: "none" })));
    this.el = h("div", { class: "an-stage", tabindex: "0", role: "application", "aria-label": label, "data-testid": testid }, this.img, this.svg);
    this.el.style.aspectRatio = `${this.W} / ${this.H}`;
    /** @type {string | null} */
    this.url = null;
    /** @type {Promise<void>} */
    this.ready = picture(ctx, cameraId, fallbackMs).then((url) => {
      this.url = url;
      if (!url) {
        this.el.dataset.picture = "none";
        return;
      }
      return new Promise((resolve) => {
        this.img.addEventListener("load", () => {
          this.resize(this.img.naturalWidth, this.img.naturalHeight);
          this.el.dataset.picture = "ok";
          resolve();
        }, { once: true });
        this.img.addEventListener("error", () => resolve(), { once: true });
        this.img.src = url;
      });
    });
  }

  /** @param {number} w @param {number} hgt */
  resize(w, hgt) {
    if (!(w > 0 && hgt > 0)) return;
    this.W = w;
    this.H = hgt;
    this.svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
    this.el.style.aspectRatio = `${w} / ${hgt}`;
    this.el.dispatchEvent(new CustomEvent("resized"));
  }

  /** An overlay length that looks the same whatever the picture's resolution: `n` per 1000 px of width. */
  unit(n = 1) {
    return (this.W / 1000) * n;
  }

  /** @param {Point} p @returns {[number, number]} overlay coordinates */
  px(p) {
    return [p[0] * this.W, p[1] * this.H];
  }

  /**
   * The normalised point under a pointer event, clamped to the frame.
   * @param {{ clientX: number, clientY: number }} e
   * @returns {Point}
   */
  toNorm(e) {
    const r = this.svg.getBoundingClientRect();
    const c = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
    return [c((e.clientX - r.left) / r.width), c((e.clientY - r.top) / r.height)];
  }

  destroy() {
    if (this.url) URL.revokeObjectURL(this.url);
  }
}
