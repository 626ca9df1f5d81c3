// @ts-check
// The edit panel's camera list on the geographic map: place a camera ("Place", then click on the map),
// and set what it looks at (direction, field of view, range) with number inputs, which the keyboard
// reaches and the arrow keys step; each change is saved at once and turns the cone.
import { h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { DEFAULT_VIEW, normalise } from "./cone.js";
import { statusClass } from "./plan.js";

/** @typedef {import("./stage.js").MapCamera} MapCamera */

/**
 * What the list needs of the map view.
 * @typedef {{ ctx: import("../../app.js").AppContext, geo: import("./geo.js").GeoStage, hint: HTMLElement,
 *   cameras: () => MapCamera[], showError: (e: unknown) => void, load: () => Promise<void> }} GeoPanelView
 */

const FIELDS = [
  ["direction", "map.direction", 0, 360, 5],
  ["fov", "map.fov", 1, 360, 5],
  ["range_m", "map.range", 1, 5000, 5],
];

/**
 * Saves a camera's place and view (what `change` gives over what it has), then reads the map again.
 * @param {GeoPanelView} v @param {MapCamera} cam @param {Record<string, number>} change
 */
export async function saveGeo(v, cam, change) {
  const body = { lat: cam.lat, lon: cam.lon, ...change };
  body.lat = +Math.min(90, Math.max(-90, body.lat)).toFixed(7);
  body.lon = +normaliseLon(body.lon).toFixed(7);
  try {
    await v.ctx.api.call(`/api/v1/map/cameras/${cam.id}`, { method: "PUT", body });
    toast(t("map.saved", { name: cam.name }));
    v.showError(null);
  } catch (e) {
    v.showError(e);
  }
  await v.load();
}

/** @param {number} lon @returns {number} in [-180, 180] (a dragged marker can cross the date line) */
function normaliseLon(lon) {
  return ((((lon + 180) % 360) + 360) % 360) - 180;
}

/** @param {GeoPanelView} v @param {MapCamera} cam */
function viewInputs(v, cam) {
  return h("div", { class: "map-cam-view" }, ...FIELDS.map(([name, label, min, max, step]) => {
    const value = cam[name] ?? DEFAULT_VIEW[name];
    const input = /** @type {HTMLInputElement} */ (h("input", { type: "number", min, max, step, value, name,
      "data-testid": `map-${name === "range_m" ? "range" : name}`, "aria-label": `${t(label)} — ${cam.name}` }));
    input.addEventListener("change", () => {
      let n = Number(input.value);
      if (!Number.isFinite(n) || input.value === "") return;
      if (name === "direction") n = normalise(n);
      n = Math.min(Number(max), Math.max(Number(min), n));
      // The first view an admin gives carries the defaults of the other two, so the cone appears whole.
      const view = cam.direction == null ? { ...DEFAULT_VIEW } : {};
      saveGeo(v, cam, { ...view, [name]: n });
    });
    return h("label", { class: "small" }, t(label), input);
  }));
}

/** @param {GeoPanelView} v @param {MapCamera} cam */
function cameraItem(v, cam) {
  const placed = cam.lat != null && cam.lon != null;
  return h("li", { class: "map-cam map-cam-geo", "data-testid": "map-camera-item", "data-camera-id": cam.id },
    h("div", { class: "map-cam-head" },
      h("span", { class: `dot ${statusClass(cam.status)}` }),
      h("span", { class: "name", text: cam.name }),
      h("span", { class: "muted state", text: placed ? t("map.placed") : t("map.notPlaced") }),
      h("button", { type: "button", text: t("map.place"), onclick: () => v.geo.startPlacing(cam, v.hint) }),
      placed ? h("button", { type: "button", class: "link", text: t("map.unplace"),
        onclick: async () => {
          try {
            await v.ctx.api.call(`/api/v1/map/cameras/${cam.id}`, { method: "DELETE" });
          } catch (e) {
            v.showError(e);
          }
          await v.load();
        } }) : null),
    placed ? viewInputs(v, cam) : null);
}

/** @param {GeoPanelView} v @returns {HTMLElement[]} the panel's part for the geographic map */
export function geoCameraList(v) {
  const cams = v.cameras();
  return [
    h("h3", { text: t("map.cameras") }),
    h("p", { class: "muted small", text: t("map.dragHintGeo") }),
    cams.length
      ? h("ul", { class: "map-cam-list", "aria-label": t("map.cameras") }, ...cams.map((cam) => cameraItem(v, cam)))
      : h("p", { class: "muted", text: t("map.noCameras") }),
  ];
}
