// @ts-check
// The analytics editor's list of zones: per zone its name, kind, object classes, minimum score and
// loitering time (empty: the camera's defaults), reverse (lines), delete. Edits change the zone in
// place and call `changed`; the selected zone (on the picture too) is highlighted.
import { h } from "../../dom.js";
import { t } from "../../i18n.js";
import { className } from "../../analytics/strings.js";

export const CLASSES = ["person", "bicycle", "car", "motorbike", "bus", "truck"];
const AREA_KINDS = ["include", "mask", "dumping", "graffiti"];

/**
 * @param {import("../../analytics/shapes.js").Zone[]} zones
 * @param {{ selected: number | null, select: (i: number | null) => void, changed: () => void }} how
 * @returns {HTMLElement}
 */
export function zoneList(zones, { selected, select, changed }) {
  if (!zones.length) return h("p", { class: "muted", "data-testid": "an-zones-empty", text: t("an.noZones") });
  return h("ol", { class: "an-zones", "data-testid": "an-zones" }, ...zones.map((z, i) => zoneItem(zones, z, i, i === selected, select, changed)));
}

/** @param {string | number} v */
const numOrNull = (v) => (v === "" || v === null || v === undefined || Number.isNaN(Number(v)) ? null : Number(v));

/**
 * @param {import("../../analytics/shapes.js").Zone[]} zones
 * @param {import("../../analytics/shapes.js").Zone} z
 * @param {number} i @param {boolean} on
 * @param {(i: number | null) => void} select @param {() => void} changed
 */
function zoneItem(zones, z, i, on, select, changed) {
  const id = `an-zone-${i}`;
  const name = /** @type {HTMLInputElement} */ (h("input", { value: z.name, maxlength: 64, required: true, "data-testid": "an-zone-name", id: `${id}-name` }));
  name.addEventListener("change", () => {
    z.name = name.value.trim();
    changed();
  });
  const kind = /** @type {HTMLSelectElement} */ (h("select", { "data-testid": "an-zone-kind", disabled: z.kind === "line" },
    ...(z.kind === "line" ? ["line"] : AREA_KINDS).map((k) => h("option", { value: k, selected: k === z.kind }, t(`an.kind.${k}`)))));
  kind.addEventListener("change", () => {
    z.kind = kind.value;
    changed();
  });
  const chosen = new Set(z.classes || []);
  const classes = h("fieldset", { class: "an-classes" }, h("legend", { text: t("an.zoneClasses") }),
    ...CLASSES.map((c) => {
      const box = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", value: c, checked: chosen.has(c), "data-testid": "an-zone-class" }));
      box.addEventListener("change", () => {
        if (box.checked) chosen.add(c);
        else chosen.delete(c);
        z.classes = chosen.size ? CLASSES.filter((x) => chosen.has(x)) : null;
        changed();
      });
      return h("label", { class: "check" }, box, className(c));
    }));
  const num = (key, attrs, testid) => {
    const input = /** @type {HTMLInputElement} */ (h("input", { type: "number", value: z[key] ?? "", placeholder: t("an.default"), "data-testid": testid, ...attrs }));
    input.addEventListener("change", () => {
      z[key] = numOrNull(input.value);
      changed();
    });
    return input;
  };
  const reverse = z.kind === "line"
    ? h("button", { type: "button", "data-testid": "an-zone-reverse", text: t("an.reverse"), onclick: () => {
      z.points.reverse();
      changed();
    } })
    : null;
  const del = h("button", { type: "button", class: "danger", "data-testid": "an-zone-delete", "aria-label": t("an.deleteZone", { name: z.name }),
    text: t("admin.delete"), onclick: () => {
      zones.splice(i, 1);
      select(null);
      changed();
    } });
  const pick = h("button", { type: "button", class: "link", "aria-pressed": String(on), "data-testid": "an-zone-select",
    text: t("an.selectZone"), onclick: () => select(on ? null : i) });
  return h("li", { class: `an-zone-item an-kind-${z.kind}${on ? " selected" : ""}`, "data-testid": "an-zone", "data-zone-name": z.name },
    h("div", { class: "row" }, h("span", { class: "an-swatch", "aria-hidden": "true" }),
      h("label", { for: `${id}-name`, class: "sr-only", text: t("admin.name") }), name, kind, pick),
    classes,
    h("div", { class: "row" },
      h("label", { class: "field" }, h("span", { text: t("an.minScore") }), num("min_score", { min: 0.05, max: 1, step: 0.05 }, "an-zone-score")),
      h("label", { class: "field" }, h("span", { text: t("an.loiter") }), num("loiter_seconds", { min: 1, max: 86400, step: 1 }, "an-zone-loiter")),
      reverse, del));
}
