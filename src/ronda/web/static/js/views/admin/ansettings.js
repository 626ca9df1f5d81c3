// @ts-check
// The analytics editor's settings below the picture: detectors, the stream analysed, motion
// (sensitivity, smallest moving area, frames per second) and objects (model, classes, minimum score,
// detector rate, loitering), and the city detectors' own forms (ancity.js), each shown while its
// detector is ticked. The motion schedule is kept as it is (set it in the YAML or the API).
import { h } from "../../dom.js";
import { t } from "../../i18n.js";
import { className } from "../../analytics/strings.js";
import { cityForms } from "./ancity.js";
import { field } from "./common.js";
import { CLASSES } from "./zonelist.js";

const DETECTORS = ["motion", "objects", "dumping", "graffiti", "tamper", "plates"];

/**
 * @param {any} settings the API's settings of the camera
 * @param {{ id: number, name: string }[]} [others] the site's other cameras (plate cameras of dumping)
 * @returns {{ el: HTMLElement, read: () => object, showError: (e: unknown) => void }}
 */
export function settingsForm(settings, others = []) {
  const motion = settings.motion || {};
  const objects = settings.objects || {};
  const on = new Set(settings.detectors || []);
  const boxes = DETECTORS.map((d) => /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", value: d, checked: on.has(d), "data-testid": `an-detector-${d}` })));
  const classSet = new Set(objects.classes || CLASSES);
  const classBoxes = [...new Set([...CLASSES, ...classSet])].map((c) => /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", value: c, checked: classSet.has(c), "data-testid": "an-object-class" })));
  /** @param {string} name @param {any} value @param {Record<string, any>} attrs */
  const num = (name, value, attrs) => /** @type {HTMLInputElement} */ (h("input", { type: "number", name, value: value ?? "", required: true, "data-testid": `an-${name}`, ...attrs }));
  const stream = /** @type {HTMLSelectElement} */ (h("select", { "data-testid": "an-stream" },
    ...["auto", "sub", "main"].map((s) => h("option", { value: s, selected: s === (settings.stream || "auto") }, t(`an.stream.${s}`)))));
  const sens = num("sensitivity", motion.sensitivity ?? 50, { type: "range", min: 1, max: 100, step: 1 });
  const sensOut = h("output", { text: String(sens.value) });
  sens.addEventListener("input", () => { sensOut.textContent = sens.value; });
  // the smallest moving area as a percentage of the frame (the API's share × 100)
  const area = num("min-area", round((motion.min_area ?? 0.002) * 100), { min: 0, max: 50, step: 0.01 });
  const mfps = num("motion-fps", motion.fps ?? 5, { min: 0.5, max: 15, step: 0.5 });
  const model = /** @type {HTMLInputElement} */ (h("input", { value: objects.model || "default", maxlength: 64, "data-testid": "an-model" }));
  const score = num("object-score", objects.min_score ?? 0.4, { min: 0.05, max: 1, step: 0.05 });
  const ofps = num("object-fps", objects.fps ?? 2, { min: 0.2, max: 10, step: 0.1 });
  const loiter = num("object-loiter", objects.loiter_seconds ?? 60, { min: 1, max: 86400, step: 1 });
  const schedule = (motion.schedule || []).length;
  const city = cityForms(settings, others);
  for (const b of boxes) {
    city.show(b.value, b.checked);
    b.addEventListener("change", () => city.show(b.value, b.checked));
  }
  const el = h("div", { class: "an-settings" },
    h("fieldset", {}, h("legend", { text: t("an.detectors") }),
      ...boxes.map((b) => h("label", { class: "check" }, b, t(`an.detector.${b.value}`))),
      h("small", { class: "muted", text: t("an.detectorsHint") })),
    h("fieldset", { class: "grid" }, h("legend", { text: t("an.motion") }),
      field(t("an.stream"), stream),
      h("label", { class: "field" }, h("span", {}, t("an.sensitivity"), " ", sensOut), sens),
      field(t("an.minArea"), area), field(t("an.fps"), mfps),
      schedule ? h("small", { class: "muted", text: t("an.schedule", { n: schedule }) }) : null),
    h("fieldset", { class: "grid" }, h("legend", { text: t("an.objects") }),
      field(t("an.model"), model), field(t("an.minScore"), score), field(t("an.detectorFps"), ofps), field(t("an.loiter"), loiter),
      h("div", { class: "an-classes" }, ...classBoxes.map((b) => h("label", { class: "check" }, b, className(b.value))))),
    ...city.el);
  return {
    el,
    showError: city.showError,
    read: () => ({
      ...city.read(),
      detectors: boxes.filter((b) => b.checked).map((b) => b.value),
      stream: stream.value,
      motion: { ...motion, sensitivity: Number(sens.value), min_area: round(Number(area.value) / 100, 6), fps: Number(mfps.value) },
      objects: { ...objects, model: model.value.trim(), classes: classBoxes.filter((b) => b.checked).map((b) => b.value),
        min_score: Number(score.value), fps: Number(ofps.value), loiter_seconds: Number(loiter.value) },
    }),
  };
}

/** @param {number} v @param {number} [digits] */
function round(v, digits = 4) {
  return Math.round(v * 10 ** digits) / 10 ** digits;
}
