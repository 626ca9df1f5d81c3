// @ts-check
// The live view's saved views: a named layout with its cameras, chosen from a list, saved or deleted.
import { clear, h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { saveSettings } from "./settings.js";

/** @typedef {import("./settings.js").SavedView} SavedView */

/**
 * @param {import("../../app.js").AppContext} ctx
 * @param {import("./settings.js").LiveSettings} settings
 * @param {{ current: () => SavedView, apply: (view: SavedView) => void }} grid the grid shown, and how to show a saved view
 * @returns {HTMLElement} the box with the list and the form
 */
export function savedViews(ctx, settings, grid) {
  const viewSelect = /** @type {HTMLSelectElement} */ (h("select", { "aria-label": t("live.views"), "data-testid": "saved-views" }));
  const fillViews = () => {
    clear(viewSelect);
    viewSelect.append(h("option", { value: "", text: t("live.views.choose") }),
      ...Object.keys(settings.views).sort().map((name) => h("option", { value: name, text: name })));
  };
  viewSelect.addEventListener("change", () => {
    const v = settings.views[viewSelect.value];
    if (v) grid.apply(v);
  });
  const nameInput = /** @type {HTMLInputElement} */ (h("input", { placeholder: t("live.views.name"), "aria-label": t("live.views.name"),
    maxlength: 60, "data-testid": "view-name" }));
  const saveForm = h("form", { class: "save-view" }, nameInput,
    h("button", { type: "submit", text: t("live.views.save") }),
    h("button", { type: "button", text: "✕", title: t("live.views.delete"), "aria-label": t("live.views.delete"), onclick: () => {
      if (!viewSelect.value) return;
      delete settings.views[viewSelect.value];
      saveSettings(ctx, settings);
      fillViews();
    } }));
  saveForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = nameInput.value.trim();
    if (!name) return;
    settings.views[name] = grid.current();
    saveSettings(ctx, settings);
    fillViews();
    viewSelect.value = name;
    nameInput.value = "";
    toast(t("live.views.saved", { name }));
  });
  fillViews();
  return h("div", { class: "side-box" }, h("h2", { text: t("live.views") }), viewSelect, saveForm);
}
