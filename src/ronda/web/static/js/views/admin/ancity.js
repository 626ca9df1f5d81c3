// @ts-check
// The analytics editor's forms for the city detectors' own settings (dumping, graffiti, tamper,
// licence plates; the models are ronda.analytics.settings): one fieldset per detector, shown while it
// is ticked. Each form starts from the camera's settings as the API gave them and changes only the
// keys it shows, so a key it does not know (a newer server's, or one set in the YAML) goes back as it
// came. The server validates; its refusal is marked on the field it names (showError).
import { h } from "../../dom.js";
import { t } from "../../i18n.js";
import { className } from "../../analytics/strings.js";
import { field } from "./common.js";

export const CITY = ["dumping", "graffiti", "tamper", "plates"];
const VEHICLES = ["car", "truck", "bus", "motorbike", "bicycle"];

/**
 * A field of a detector's settings. kind: number (the default), range (a 1-100 slider), bool, cameras
 * (a multi-select of the site's other cameras), classes (object class boxes). pct: a share of the
 * picture (or zone) the API keeps as 0-1, shown as a percentage.
 * @typedef {{ key: string, kind?: "number" | "range" | "bool" | "cameras" | "classes", min?: number,
 *   max?: number, step?: number, pct?: boolean, hint?: boolean }} Spec
 */

/** @type {Record<string, Spec[]>} the fields per detector, with the model's limits (percent where pct) */
const SPECS = {
  dumping: [
    { key: "hold_seconds", min: 2, max: 3600, step: 1, hint: true },
    { key: "min_area", min: 0, max: 50, step: 0.01, pct: true },
    { key: "max_area", min: 0.01, max: 100, step: 0.01, pct: true },
    { key: "fps", min: 0.5, max: 10, step: 0.5 },
    { key: "plate_cameras", kind: "cameras", hint: true },
    { key: "plate_window_s", min: 0, max: 3600, step: 1, hint: true },
  ],
  graffiti: [
    { key: "sensitivity", kind: "range", min: 1, max: 100, step: 1, hint: true },
    { key: "hold_seconds", min: 2, max: 3600, step: 1, hint: true },
    { key: "min_area", min: 0.1, max: 50, step: 0.1, pct: true },
  ],
  tamper: [
    { key: "sensitivity", kind: "range", min: 1, max: 100, step: 1, hint: true },
    { key: "hold_seconds", min: 1, max: 600, step: 1, hint: true },
  ],
  plates: [
    { key: "classes", kind: "classes" },
    { key: "min_confidence", min: 0.05, max: 1, step: 0.05 },
    { key: "emit_confidence", min: 0.05, max: 1, step: 0.05, hint: true },
    { key: "reads_per_track", min: 1, max: 50, step: 1 },
    { key: "read_interval_s", min: 0, max: 60, step: 0.1 },
    { key: "frame_mode", kind: "bool", hint: true },
    { key: "frame_interval_s", min: 0.5, max: 3600, step: 0.5 },
  ],
};

/** The model's defaults, for a settings object without the detector's block (an older server's). */
const DEFAULTS = {
  dumping: { hold_seconds: 10, min_area: 0.001, max_area: 0.15, fps: 2, plate_cameras: [], plate_window_s: 300 },
  graffiti: { sensitivity: 50, hold_seconds: 10, min_area: 0.01 },
  tamper: { sensitivity: 50, hold_seconds: 5 },
  plates: { classes: ["car", "truck", "bus", "motorbike"], min_confidence: 0.5, reads_per_track: 5, read_interval_s: 0.4,
    emit_confidence: 0.8, frame_mode: false, frame_interval_s: 3 },
};

/**
 * @param {any} settings the API's settings of the camera
 * @param {{ id: number, name: string }[]} cameras the site's other cameras (plate cameras to offer)
 * @returns {{ el: HTMLElement[], show: (detector: string, on: boolean) => void, read: () => Record<string, object>,
 *   showError: (e: unknown) => void }}
 */
export function cityForms(settings, cameras) {
  /** @type {Record<string, HTMLFieldSetElement>} */
  const sets = {};
  /** @type {Record<string, () => object>} */
  const readers = {};
  for (const det of CITY) {
    const current = { ...DEFAULTS[det], ...(settings[det] || {}) };
    const fields = SPECS[det].map((spec) => input(det, spec, current[spec.key], cameras));
    sets[det] = /** @type {HTMLFieldSetElement} */ (h("fieldset", { class: "an-city", "data-testid": `an-city-${det}`, "data-detector": det },
      h("legend", { text: t(`an.detector.${det}`) }), ...fields.map((f) => f.el)));
    // everything the API gave, the shown keys replaced
    readers[det] = () => ({ ...(settings[det] || {}), ...Object.fromEntries(fields.map((f) => [f.key, f.read()])) });
  }
  const clearErrors = () => {
    for (const set of Object.values(sets)) {
      for (const m of set.querySelectorAll(".an-field-error")) m.remove();
      for (const i of set.querySelectorAll("[aria-invalid]")) {
        i.removeAttribute("aria-invalid");
        i.removeAttribute("aria-describedby");
      }
    }
  };
  return {
    el: CITY.map((d) => sets[d]),
    show: (det, on) => {
      if (sets[det]) sets[det].hidden = !on;
    },
    read: () => Object.fromEntries(CITY.map((d) => [d, readers[d]()])),
    // the API's 422 detail: [{loc: ["body", "dumping", "hold_seconds"], msg}, …]; each message goes next
    // to its field (or at the end of its detector's form for a rule across fields, e.g. min < max area)
    showError: (e) => {
      clearErrors();
      const detail = e && typeof e === "object" && Array.isArray(/** @type {any} */ (e).detail) ? /** @type {any} */ (e).detail : [];
      for (const d of detail) {
        const loc = (d && Array.isArray(d.loc) ? d.loc : []).filter((p) => p !== "body");
        const set = sets[loc[0]];
        if (!set) continue;
        set.hidden = false; // a refused value in a form that is not shown: show it
        const target = loc[1] === undefined ? null : set.querySelector(`[data-field="${loc[0]}.${loc[1]}"]`);
        // a percentage field: the API's limits are in its 0-1 share, say so
        const note = target && target.hasAttribute("data-pct") ? ` ${t("an.pctNote")}` : "";
        const msg = h("small", { class: "error an-field-error", "data-testid": "an-field-error", text: `${d.msg}${note}` });
        if (target) {
          msg.id = `an-error-${loc[0]}-${loc[1]}`;
          target.setAttribute("aria-invalid", "true");
          target.setAttribute("aria-describedby", msg.id);
          (target.closest("label, fieldset.an-classes") || set).append(msg);
        } else {
          set.append(msg);
        }
      }
    },
  };
}

/**
 * One field of a detector's form.
 * @param {string} det @param {Spec} spec @param {any} value the current value
 * @param {{ id: number, name: string }[]} cameras
 * @returns {{ key: string, el: HTMLElement, read: () => any }}
 */
function input(det, spec, value, cameras) {
  const { key } = spec;
  const label = t(`an.${det}.${key}`);
  const hint = spec.hint ? t(`an.${det}.${key}.hint`) : undefined;
  const common = { "data-testid": `an-${det}-${key}`, "data-field": `${det}.${key}`, name: `${det}.${key}` };
  if (spec.kind === "bool") {
    const box = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", checked: Boolean(value), ...common }));
    return { key, el: h("div", { class: "field" }, h("label", { class: "check" }, box, label), hint ? h("small", { class: "muted", text: hint }) : null),
      read: () => box.checked };
  }
  if (spec.kind === "cameras") {
    const ids = (Array.isArray(value) ? value : []).map(Number);
    const known = new Set(cameras.map((c) => c.id));
    // a stored camera this list lacks (deleted, or not visible) stays chosen, shown by its id
    const options = [...cameras, ...ids.filter((id) => !known.has(id)).map((id) => ({ id, name: `#${id}` }))];
    const select = /** @type {HTMLSelectElement} */ (h("select", { multiple: true, size: Math.min(6, Math.max(3, options.length)), ...common },
      ...options.map((c) => h("option", { value: c.id, selected: ids.includes(c.id) }, c.name))));
    return { key, el: field(label, select, hint), read: () => [...select.selectedOptions].map((o) => Number(o.value)) };
  }
  if (spec.kind === "classes") {
    const chosen = Array.isArray(value) ? value : [];
    // the stored classes first, in their order (a save that changes nothing sends the same list)
    const boxes = [...new Set([...chosen, ...VEHICLES])].map((c) => /** @type {HTMLInputElement} */ (
      h("input", { type: "checkbox", value: c, checked: chosen.includes(c), "data-testid": `an-${det}-class` })));
    const el = h("fieldset", { class: "an-classes", "data-field": `${det}.${key}` }, h("legend", { text: label }),
      ...boxes.map((b) => h("label", { class: "check" }, b, className(b.value))));
    return { key, el, read: () => boxes.filter((b) => b.checked).map((b) => b.value) };
  }
  const shown = typeof value === "number" && spec.pct ? round(value * 100, 4) : value;
  const num = /** @type {HTMLInputElement} */ (h("input", { type: spec.kind === "range" ? "range" : "number", value: shown ?? "",
    min: spec.min, max: spec.max, step: spec.step, required: true, "data-pct": spec.pct, ...common }));
  // an emptied field goes as null: the server refuses it by name rather than the form inventing a 0
  const read = () => (num.value.trim() === "" ? null : spec.pct ? round(Number(num.value) / 100, 6) : Number(num.value));
  if (spec.kind !== "range") return { key, el: field(label, num, hint), read };
  const out = h("output", { text: String(num.value) });
  num.addEventListener("input", () => {
    out.textContent = num.value;
  });
  return { key, el: h("label", { class: "field" }, h("span", {}, label, " ", out), num, hint ? h("small", { class: "muted", text: hint }) : null), read };
}

/** @param {number} v @param {number} digits */
function round(v, digits) {
  return Math.round(v * 10 ** digits) / 10 ** digits;
}
