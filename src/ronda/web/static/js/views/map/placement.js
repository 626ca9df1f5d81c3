// @ts-check
// Placing cameras on the plan (edit mode): drag a marker, "Place" then click, drop a camera from the
// list, or arrow keys on a focused marker; each move is saved at once.
import { h, toast } from "../../dom.js";
import { t } from "../../i18n.js";

/** @typedef {import("./stage.js").MapCamera} MapCamera */

/**
 * What placement needs of the map view.
 * @typedef {{ editing: () => boolean, cameras: () => MapCamera[], showError: (e: unknown) => void,
 *   load: () => Promise<void> }} MapViewHooks
 */

const clamp01 = (/** @type {number} */ f) => Math.min(1, Math.max(0, f));

export class Placement {
  /** @type {MapCamera | null} the camera waiting for a click on the plan */
  placing = null;
  /** @type {number | null} the camera whose marker is being dragged */
  dragging = null;

  /**
   * @param {import("../../app.js").AppContext} ctx
   * @param {import("./stage.js").PlanStage} stage
   * @param {MapViewHooks} view
   */
  constructor(ctx, stage, view) {
    this.ctx = ctx;
    this.stage = stage;
    this.view = view;
    this.hint = h("p", { class: "map-hint", role: "status", hidden: true });
    this.bind(stage.box);
  }

  /** @param {MapCamera} cam @param {number} fx @param {number} fy */
  async save(cam, fx, fy) {
    fx = clamp01(fx);
    fy = clamp01(fy);
    let body;
    if (this.stage.plan().type === "geojson") {
      const [lon, lat] = this.stage.proj.fromFrac(fx, fy);
      body = { lat: +Math.min(90, Math.max(-90, lat)).toFixed(7), lon: +Math.min(180, Math.max(-180, lon)).toFixed(7) };
    } else {
      body = { x: +fx.toFixed(5), y: +fy.toFixed(5) };
    }
    try {
      await this.ctx.api.call(`/api/v1/map/cameras/${cam.id}`, { method: "PUT", body });
      toast(t("map.saved", { name: cam.name }));
      this.view.showError(null);
    } catch (e) {
      this.view.showError(e);
    }
    await this.view.load();
  }

  /** @param {PointerEvent} e @param {HTMLElement} m the marker @param {MapCamera} cam */
  startMove(e, m, cam) {
    if (e.button !== 0) return;
    e.preventDefault();
    m.setPointerCapture(e.pointerId);
    const start = [e.clientX, e.clientY];
    let moved = false;
    const move = (/** @type {PointerEvent} */ ev) => {
      if (Math.abs(ev.clientX - start[0]) + Math.abs(ev.clientY - start[1]) > 3) moved = true;
      if (!moved) return;
      this.dragging = cam.id;
      const [fx, fy] = this.stage.fracAt(ev.clientX, ev.clientY);
      m.style.left = `${clamp01(fx) * 100}%`;
      m.style.top = `${clamp01(fy) * 100}%`;
    };
    const up = (/** @type {PointerEvent} */ ev) => {
      m.removeEventListener("pointermove", move);
      m.removeEventListener("pointerup", up);
      m.removeEventListener("pointercancel", up);
      if (moved) this.save(cam, ...this.stage.fracAt(ev.clientX, ev.clientY)).finally(() => { this.dragging = null; });
    };
    m.addEventListener("pointermove", move);
    m.addEventListener("pointerup", up);
    m.addEventListener("pointercancel", up);
  }

  /** @param {KeyboardEvent} e @param {MapCamera} cam */
  keyMove(e, cam) {
    const step = e.shiftKey ? 0.05 : 0.01;
    const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
    if (!d) return;
    e.preventDefault();
    const [fx, fy] = this.stage.fractionOf(cam);
    this.save(cam, fx + d[0], fy + d[1]).then(() => {
      const again = /** @type {HTMLElement | null} */ (this.stage.box.querySelector(`.map-marker[data-camera-id="${cam.id}"]`));
      if (again) again.focus();
    });
  }

  /** @param {MapCamera} cam */
  start(cam) {
    this.placing = cam;
    this.stage.box.classList.add("placing");
    this.hint.hidden = false;
    this.hint.textContent = t("map.placeHint", { name: cam.name });
  }

  stop() {
    this.placing = null;
    this.stage.box.classList.remove("placing");
    this.hint.hidden = true;
  }

  // A click on the plan places the chosen camera; a camera dragged from the list drops there.
  /** @param {HTMLElement} planBox */
  bind(planBox) {
    const { stage, view } = this;
    planBox.addEventListener("click", (e) => {
      if (!view.editing() || !this.placing) return;
      const cam = this.placing;
      this.stop();
      this.save(cam, ...stage.fracAt(e.clientX, e.clientY));
    });
    planBox.addEventListener("dragover", (e) => {
      if (!view.editing() || !e.dataTransfer.types.includes("application/x-ronda-camera")) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "move";
      planBox.classList.add("drop-target");
    });
    planBox.addEventListener("dragleave", () => planBox.classList.remove("drop-target"));
    planBox.addEventListener("drop", (e) => {
      planBox.classList.remove("drop-target");
      if (!view.editing()) return;
      const id = Number(e.dataTransfer.getData("application/x-ronda-camera"));
      const cam = view.cameras().find((c) => c.id === id);
      if (!cam) return;
      e.preventDefault();
      this.save(cam, ...stage.fracAt(e.clientX, e.clientY));
    });
  }
}
