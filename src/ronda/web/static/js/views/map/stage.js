// @ts-check
// The plan on screen: its image (fetched with the Authorization header) or GeoJSON drawing, fitted to
// the stage, and the conversion between cameras' positions and fractions of the plan.
import { clear, h } from "../../dom.js";
import { t } from "../../i18n.js";
import { drawGeoJson, projection } from "./plan.js";

/**
 * The plan as GET /api/v1/map describes it.
 * @typedef {{ type: string, url: string, width?: number, height?: number, bounds?: number[] }} Plan
 */
/**
 * A camera as GET /api/v1/map lists it (x, y on an image plan; lat, lon on the geographic map and a GeoJSON
 * plan; its view: direction, fov, range_m; ptz: a dome).
 * @typedef {{ id: number, name: string, status: string, x?: number, y?: number, lat?: number, lon?: number,
 *   direction?: number | null, fov?: number | null, range_m?: number | null, ptz?: boolean }} MapCamera
 */

export class PlanStage {
  /** @type {ReturnType<typeof projection> | null} */
  proj = null;
  /** @type {string | null} */
  objectUrl = null;

  /**
   * @param {import("../../app.js").AppContext} ctx
   * @param {() => Plan | null} plan the plan shown now
   */
  constructor(ctx, plan) {
    this.ctx = ctx;
    this.plan = plan;
    this.box = h("div", { class: "map-plan", "data-testid": "map-plan" });
    this.empty = h("p", { class: "muted map-empty", hidden: true });
    this.el = h("div", { class: "map-stage", "data-testid": "map-stage" }, this.box, this.empty);
  }

  /** @param {Plan | null} plan */
  async load(plan) {
    this.dispose();
    this.objectUrl = null;
    this.proj = null;
    clear(this.box);
    if (!plan) return;
    if (plan.type === "geojson") {
      const doc = await this.ctx.api.call(plan.url);
      this.proj = projection(plan.bounds);
      this.box.append(drawGeoJson(doc, this.proj));
    } else {
      // The plan needs the Authorization header: fetched as a blob, shown through an object URL.
      const res = await this.ctx.api.call(plan.url, { raw: true });
      if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
      this.objectUrl = URL.createObjectURL(await res.blob());
      this.box.append(h("img", { src: this.objectUrl, alt: t("map.title"), draggable: "false", class: "map-image" }));
    }
  }

  aspect() {
    const p = this.plan();
    if (!p) return 1;
    return p.type === "geojson" ? this.proj.aspect : p.width / p.height;
  }

  fit() {
    const box = this.box;
    if (!this.plan()) {
      box.style.width = box.style.height = "";
      return;
    }
    const r = this.el.getBoundingClientRect();
    const a = this.aspect();
    const w = Math.max(50, Math.min(r.width - 16, (r.height - 16) * a));
    box.style.width = `${Math.round(w)}px`;
    box.style.height = `${Math.round(w / a)}px`;
  }

  /**
   * Where a camera sits, as fractions of the plan; null when it is not placed.
   * @param {MapCamera} cam
   * @returns {number[] | null}
   */
  fractionOf(cam) {
    const p = this.plan();
    if (!p) return null;
    if (p.type === "geojson") return cam.lat == null || cam.lon == null ? null : this.proj.toFrac(cam.lon, cam.lat);
    return cam.x == null || cam.y == null ? null : [cam.x, cam.y];
  }

  /**
   * The fractions of the plan under a point of the page.
   * @param {number} clientX
   * @param {number} clientY
   * @returns {[number, number]}
   */
  fracAt(clientX, clientY) {
    const r = this.box.getBoundingClientRect();
    return [(clientX - r.left) / r.width, (clientY - r.top) / r.height];
  }

  dispose() {
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
  }
}
