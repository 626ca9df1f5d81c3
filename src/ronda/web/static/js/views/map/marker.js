// @ts-check
// A camera's marker on the plan: its status colour, the alarm pulse, a click that opens the live popup
// and, in edit mode, drag and arrow keys to move it.
import { h } from "../../dom.js";
import { t } from "../../i18n.js";
import { statusClass } from "./plan.js";

/** @typedef {import("./stage.js").MapCamera} MapCamera */
/**
 * How a marker is moved in edit mode: placement.js on the plan, geo.js on the geographic map.
 * @typedef {{ dragging: number | null, startMove: (e: PointerEvent, m: HTMLElement, cam: MapCamera) => void,
 *   keyMove: (e: KeyboardEvent, cam: MapCamera) => void }} MarkerHooks
 */

/**
 * @param {MapCamera} cam
 * @param {number[]} fraction where it sits, as fractions of the plan
 * @param {{ alarmed: boolean, editing: boolean, placement: MarkerHooks, onOpen: (cam: MapCamera) => void }} options
 */
export function marker(cam, [fx, fy], { alarmed, editing, placement, onOpen }) {
  const label = `${cam.name} — ${cam.status}${alarmed ? `, ${t("map.alarm")}` : ""}`;
  const m = h("button", {
    type: "button",
    class: `map-marker ${statusClass(cam.status)}${alarmed ? " alarm" : ""}`,
    title: label,
    "aria-label": label,
    "data-testid": "map-marker",
    "data-camera-id": cam.id,
    "data-status": cam.status,
    "data-alarm": alarmed ? "true" : "false",
  }, h("span", { class: "map-marker-label", text: cam.name }));
  // Through the CSSOM, not a style attribute: the Content-Security-Policy forbids inline styles.
  m.style.left = `${(fx * 100).toFixed(3)}%`;
  m.style.top = `${(fy * 100).toFixed(3)}%`;
  m.addEventListener("click", (e) => {
    if (editing || placement.dragging) return;
    e.stopPropagation();
    onOpen(cam);
  });
  if (editing) {
    m.addEventListener("pointerdown", (e) => placement.startMove(e, m, cam));
    m.addEventListener("keydown", (e) => placement.keyMove(e, cam));
  }
  return m;
}

/** @param {{ camera?: number | null, cameras?: number[] }} a an alarm @returns {Set<number>} its cameras */
export function alarmCameras(a) {
  return new Set([a.camera, ...(a.cameras || [])].filter((c) => c !== null && c !== undefined));
}

/** The markers' colours explained. */
export function legend() {
  return h("ul", { class: "map-legend", "aria-label": "legend" },
    ...[["ok", "map.legend.ok"], ["warn", "map.legend.warn"], ["bad", "map.legend.bad"], ["alarm", "map.legend.alarm"]].map(([c, k]) =>
      h("li", {}, h("span", { class: `dot ${c}` }), t(k))));
}
