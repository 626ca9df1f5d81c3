// @ts-check
// The searched region: a rectangle dragged on the camera's picture (normalised x0,y0,x1,y1; the whole
// picture by default). Keyboard on the picture: arrow keys move it, Shift+arrow keys resize it.
import { svg } from "../../analytics/stage.js";

/** @typedef {[number, number, number, number]} Region */

const MIN = 0.01;

export class RegionPicker extends EventTarget {
  /**
   * @param {import("../../analytics/stage.js").Stage} stage
   * @param {Region} region
   */
  constructor(stage, region) {
    super();
    this.stage = stage;
    /** @type {Region} */
    this.region = region;
    /** @type {[number, number] | null} */
    this.anchor = null;
    stage.el.classList.add("region");
    const s = stage.svg;
    s.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      e.preventDefault();
      stage.el.focus();
      s.setPointerCapture(e.pointerId);
      this.anchor = stage.toNorm(e);
    });
    s.addEventListener("pointermove", (e) => {
      if (!this.anchor) return;
      const [ax, ay] = this.anchor;
      const [x, y] = stage.toNorm(e);
      this.region = [Math.min(ax, x), Math.min(ay, y), Math.max(ax, x), Math.max(ay, y)];
      this.render();
    });
    s.addEventListener("pointerup", () => {
      if (!this.anchor) return;
      this.anchor = null;
      const [x0, y0, x1, y1] = this.region;
      // a click without a drag keeps a small square around the point rather than nothing
      if (x1 - x0 < MIN || y1 - y0 < MIN) this.set([Math.max(0, x0 - 0.05), Math.max(0, y0 - 0.05), Math.min(1, x1 + 0.05), Math.min(1, y1 + 0.05)]);
      else this.set(this.region);
    });
    stage.el.addEventListener("keydown", (e) => this._key(e));
    stage.el.addEventListener("resized", () => this.render());
    this.render();
  }

  /** @param {Region} r */
  set(r) {
    const c = (v) => Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000;
    this.region = [c(r[0]), c(r[1]), c(r[2]), c(r[3])];
    this.render();
    this.dispatchEvent(new CustomEvent("change", { detail: this.region }));
  }

  /** @param {KeyboardEvent} e */
  _key(e) {
    const d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
    if (!d) return;
    e.preventDefault();
    const step = 0.02;
    let [x0, y0, x1, y1] = this.region;
    if (e.shiftKey) {
      x1 = Math.max(x0 + MIN, x1 + d[0] * step);
      y1 = Math.max(y0 + MIN, y1 + d[1] * step);
    } else {
      const dx = Math.min(1 - x1, Math.max(-x0, d[0] * step));
      const dy = Math.min(1 - y1, Math.max(-y0, d[1] * step));
      [x0, y0, x1, y1] = [x0 + dx, y0 + dy, x1 + dx, y1 + dy];
    }
    this.set([x0, y0, x1, y1]);
  }

  render() {
    const s = this.stage.svg;
    while (s.firstChild) s.firstChild.remove();
    const [x0, y0] = this.stage.px([this.region[0], this.region[1]]);
    const [x1, y1] = this.stage.px([this.region[2], this.region[3]]);
    s.append(svg("rect", { class: "an-region", x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0) }));
    this.stage.el.dataset.region = this.region.join(",");
  }
}
