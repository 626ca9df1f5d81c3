// @ts-check
// Drawing zones on the analytics stage: a polygon (click points, close on the first point or Enter), a
// line (two points; an arrow shows its "in" side, the left walking from the first point), moving a
// selected zone's points by dragging. Keyboard: in drawing, arrow keys move a cross-hair (Shift: in
// bigger steps), Space adds a point there, Enter closes, Backspace takes the last point back, Escape
// stops; a selected zone's points are focusable, arrows move them and Delete removes one.
import { t } from "../../i18n.js";
import { arrowMarker, clampPoint, draftShapes, zoneShape } from "../../analytics/shapes.js";
import { svg } from "../../analytics/stage.js";

/** @typedef {import("../../analytics/stage.js").Point} Point */
/** @typedef {import("../../analytics/shapes.js").Zone} Zone */

const CLOSE_PX = 14; // a click this close (screen px) to the first point closes the polygon

export class ZoneDrawer extends EventTarget {
  /**
   * @param {import("../../analytics/stage.js").Stage} stage
   * @param {Zone[]} zones edited in place
   */
  constructor(stage, zones) {
    super();
    this.stage = stage;
    this.zones = zones;
    /** @type {"idle" | "polygon" | "line"} */
    this.mode = "idle";
    /** @type {Point[]} */
    this.draft = [];
    /** @type {Point} */
    this.cursor = [0.5, 0.5];
    this.pointer = false; // the cross-hair follows the pointer (else the keyboard)
    /** @type {number | null} */
    this.selected = null;
    /** @type {{ zone: number, point: number } | null} */
    this.drag = null;
    const el = stage.el;
    stage.svg.addEventListener("pointerdown", (e) => this._down(e));
    stage.svg.addEventListener("pointermove", (e) => this._move(e));
    stage.svg.addEventListener("pointerup", () => this._up());
    el.addEventListener("keydown", (e) => this._key(e));
    el.addEventListener("resized", () => this.render());
    this.render();
  }

  /** @param {"polygon" | "line"} mode */
  start(mode) {
    this.mode = mode;
    this.draft = [];
    this.cursor = [0.5, 0.5]; // keyboard drawing starts in the middle
    this.select(null);
    this.stage.el.dataset.mode = mode;
    this.stage.el.focus();
    this._changed("mode");
  }

  cancel() {
    this.mode = "idle";
    this.draft = [];
    this.stage.el.dataset.mode = "idle";
    this._changed("mode");
  }

  /** Closes the polygon (≥ 3 points) or ends the line (2 points) as a new zone. */
  finish() {
    const need = this.mode === "line" ? 2 : 3;
    if (this.mode === "idle" || this.draft.length < need) return;
    const kind = this.mode === "line" ? "line" : "include";
    const base = kind === "line" ? t("an.lineName") : t("an.zoneName");
    let n = this.zones.length + 1;
    while (this.zones.some((z) => z.name === `${base} ${n}`)) n++;
    this.zones.push({ name: `${base} ${n}`, kind, points: this.draft.slice(0, kind === "line" ? 2 : undefined) });
    this.cancel();
    this.select(this.zones.length - 1);
    this._changed("zones");
  }

  /** @param {number | null} i */
  select(i) {
    this.selected = i;
    this.render();
    this.dispatchEvent(new CustomEvent("select", { detail: i }));
  }

  /** @param {string} what */
  _changed(what) {
    this.render();
    this.dispatchEvent(new CustomEvent("change", { detail: what }));
  }

  /** @param {Point} p */
  _add(p) {
    if (this.mode === "polygon" && this.draft.length >= 3) {
      const [fx, fy] = this.stage.px(this.draft[0]);
      const [px, py] = this.stage.px(p);
      const r = this.stage.svg.getBoundingClientRect();
      const scale = r.width / this.stage.W || 1;
      if (Math.hypot(fx - px, fy - py) * scale <= CLOSE_PX) return this.finish();
    }
    this.draft.push(p);
    if (this.mode === "line" && this.draft.length === 2) return this.finish();
    this.render();
  }

  /** @param {PointerEvent} e */
  _down(e) {
    if (e.button !== 0) return;
    const target = /** @type {Element} */ (e.target);
    if (this.mode !== "idle") {
      e.preventDefault();
      this.pointer = true;
      this._add(this.stage.toNorm(e));
      return;
    }
    const handle = target.closest("[data-point]");
    const shape = target.closest("[data-zone-index]");
    if (handle && this.selected !== null) {
      this.drag = { zone: this.selected, point: Number(handle.getAttribute("data-point")) };
      this.stage.svg.setPointerCapture(e.pointerId);
      e.preventDefault();
    } else {
      this.select(shape ? Number(shape.getAttribute("data-zone-index")) : null);
    }
  }

  /** @param {PointerEvent} e */
  _move(e) {
    if (this.drag) {
      this.zones[this.drag.zone].points[this.drag.point] = this.stage.toNorm(e);
      this.render();
    } else if (this.mode !== "idle") {
      this.pointer = true;
      this.cursor = this.stage.toNorm(e);
      this.render();
    }
  }

  _up() {
    if (!this.drag) return;
    this.drag = null;
    this._changed("points");
  }

  /** @param {KeyboardEvent} e */
  _key(e) {
    const step = e.shiftKey ? 0.05 : 0.01;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const handle = /** @type {Element} */ (e.target).closest?.("[data-point]");
    if (handle && this.selected !== null && this.mode === "idle") {
      const z = this.zones[this.selected];
      const i = Number(handle.getAttribute("data-point"));
      if (moves[e.key]) {
        z.points[i] = clampPoint([z.points[i][0] + moves[e.key][0], z.points[i][1] + moves[e.key][1]]);
      } else if ((e.key === "Delete" || e.key === "Backspace") && z.kind !== "line" && z.points.length > 3) {
        z.points.splice(i, 1);
      } else return;
      e.preventDefault();
      this._changed("points");
      this._focusPoint(Math.min(i, z.points.length - 1));
      return;
    }
    if (this.mode === "idle") return;
    if (moves[e.key]) {
      this.pointer = false;
      this.cursor = clampPoint([this.cursor[0] + moves[e.key][0], this.cursor[1] + moves[e.key][1]]);
      this.render();
    } else if (e.key === " ") this._add([...this.cursor]);
    else if (e.key === "Enter") this.finish();
    else if (e.key === "Backspace") {
      this.draft.pop();
      this.render();
    } else if (e.key === "Escape") this.cancel();
    else return;
    e.preventDefault();
  }

  /** @param {number} i */
  _focusPoint(i) {
    const el = /** @type {SVGElement | null} */ (this.stage.svg.querySelector(`[data-point="${i}"]`));
    if (el) el.focus();
  }

  render() {
    const { stage } = this;
    const s = stage.svg;
    while (s.firstChild) s.firstChild.remove();
    const u = stage.unit();
    s.append(arrowMarker());
    this.zones.forEach((z, i) => s.append(zoneShape(stage, z, i, i === this.selected)));
    if (this.selected !== null && this.zones[this.selected] && this.mode === "idle") {
      const z = this.zones[this.selected];
      z.points.forEach((p, i) => {
        const [x, y] = stage.px(p);
        s.append(svg("circle", { class: "an-handle", cx: x, cy: y, r: 7 * u, tabindex: 0, "data-point": i, role: "button",
          "aria-label": t("an.point", { n: i + 1, x: Math.round(p[0] * 100), y: Math.round(p[1] * 100) }) }));
      });
    }
    if (this.mode !== "idle") s.append(...draftShapes(stage, this.draft, this.cursor));
    stage.el.dataset.zones = String(this.zones.length);
    stage.el.dataset.draft = String(this.draft.length);
  }
}

