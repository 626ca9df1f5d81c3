// @ts-check
// The map's edit panel (manage_cameras): upload or remove the plan, and the camera list to place from.
import { clear, h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { statusClass } from "./plan.js";

/** @typedef {import("./stage.js").MapCamera} MapCamera */

const TYPES = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", geojson: "application/geo+json", json: "application/geo+json",
  svg: "image/svg+xml" };

/**
 * What the panel needs of the map view.
 * @typedef {{ ctx: import("../../app.js").AppContext, stage: import("./stage.js").PlanStage,
 *   placement: import("./placement.js").Placement, cameras: () => MapCamera[],
 *   showError: (e: unknown) => void, load: () => Promise<void> }} PanelView
 */

/**
 * Calls the API, shows its error if any, then reads the map again.
 * @param {PanelView} v
 * @param {() => Promise<unknown>} change
 */
async function changeAndReload(v, change) {
  try {
    await change();
  } catch (e) {
    v.showError(e);
  }
  await v.load();
}

/** @param {PanelView} v @param {File} file */
async function upload(v, file) {
  const ext = (file.name.split(".").pop() || "").toLowerCase();
  const type = TYPES[ext] || file.type || "application/octet-stream";
  await changeAndReload(v, async () => {
    await v.ctx.api.call("/api/v1/map/plan", { method: "PUT", body: file, headers: { "Content-Type": type } });
    toast(t("map.uploaded"));
    v.showError(null);
  });
}

/** @param {PanelView} v @param {boolean} hasPlan */
function removeButton(v, hasPlan) {
  const remove = h("button", { type: "button", class: "danger", text: t("map.removePlan"), hidden: !hasPlan });
  remove.addEventListener("click", () => {
    const yes = h("button", { type: "button", class: "danger", text: t("map.yes") });
    const no = h("button", { type: "button", text: t("map.no"), onclick: () => confirm.replaceWith(remove) });
    const confirm = h("span", { class: "confirm", role: "group" }, t("map.removePlanConfirm"), " ", yes, no);
    yes.addEventListener("click", () => changeAndReload(v, () => v.ctx.api.call("/api/v1/map/plan", { method: "DELETE" })));
    remove.replaceWith(confirm);
    no.focus();
  });
  return remove;
}

/** @param {PanelView} v @param {MapCamera} cam @param {boolean} hasPlan */
function cameraItem(v, cam, hasPlan) {
  const placed = Boolean(v.stage.fractionOf(cam));
  const li = h("li", { class: "map-cam", draggable: hasPlan ? "true" : "false", "data-testid": "map-camera-item", "data-camera-id": cam.id },
    h("span", { class: `dot ${statusClass(cam.status)}` }),
    h("span", { class: "name", text: cam.name }),
    h("span", { class: "muted state", text: placed ? t("map.placed") : t("map.notPlaced") }),
    hasPlan ? h("button", { type: "button", text: t("map.place"), onclick: () => v.placement.start(cam) }) : null,
    placed ? h("button", { type: "button", class: "link", text: t("map.unplace"),
      onclick: () => changeAndReload(v, () => v.ctx.api.call(`/api/v1/map/cameras/${cam.id}`, { method: "DELETE" })) }) : null);
  li.addEventListener("dragstart", (e) => {
    e.dataTransfer.setData("application/x-ronda-camera", String(cam.id));
    e.dataTransfer.effectAllowed = "move";
  });
  return li;
}

/** @param {PanelView} v @returns {HTMLElement[]} the plan's upload and removal */
export function planControls(v) {
  const hasPlan = Boolean(v.stage.plan());
  const file = /** @type {HTMLInputElement} */ (h("input", { type: "file", "data-testid": "map-upload", "aria-label": t("map.upload"),
    accept: ".png,.jpg,.jpeg,.geojson,.json,image/png,image/jpeg,application/geo+json" }));
  file.addEventListener("change", () => {
    if (file.files[0]) upload(v, file.files[0]);
  });
  return [
    h("label", { class: "map-upload" }, h("strong", { text: t("map.upload") }), file),
    h("p", { class: "muted small", text: t("map.uploadHint") }),
    removeButton(v, hasPlan),
  ];
}

/** @param {PanelView} v @param {HTMLElement} panel */
export function paintPanel(v, panel) {
  clear(panel);
  const hasPlan = Boolean(v.stage.plan());
  const cams = v.cameras();
  const list = h("ul", { class: "map-cam-list", "aria-label": t("map.cameras") }, ...cams.map((cam) => cameraItem(v, cam, hasPlan)));
  panel.append(
    ...planControls(v),
    h("h3", { text: t("map.cameras") }),
    h("p", { class: "muted small", text: t("map.dragHint") }),
    cams.length ? list : h("p", { class: "muted", text: t("map.noCameras") }));
}
