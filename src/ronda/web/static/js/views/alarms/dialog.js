// @ts-check
// The modal that asks for a text before an alarm action (close and reopen need a reason).
import { h } from "../../dom.js";

/**
 * @param {(key: string) => string} t
 * @param {string} label
 * @param {boolean} required
 * @returns {Promise<string | null>} the text, or null when cancelled
 */
export function ask(t, label, required) {
  return new Promise((resolve) => {
    const area = /** @type {HTMLTextAreaElement} */ (h("textarea", { rows: 3, maxlength: 2000, required, "data-testid": "alarm-text" }));
    const dlg = /** @type {HTMLDialogElement} */ (h("dialog", { class: "alarm-dialog", "aria-label": label },
      h("form", { method: "dialog" },
        h("label", {}, label, area),
        h("div", { class: "buttons" },
          h("button", { type: "button", value: "cancel", text: t("common.cancel"), onclick: () => dlg.close("cancel") }),
          h("button", { type: "submit", value: "ok", class: "primary", "data-testid": "alarm-text-ok", text: t("act.confirm") })))));
    dlg.addEventListener("close", () => {
      const text = area.value.trim();
      dlg.remove();
      resolve(dlg.returnValue === "ok" && (text || !required) ? text : null);
    });
    document.body.append(dlg);
    dlg.showModal();
    area.focus();
  });
}

// The dialogs still open when the view goes away.
export function removeDialogs() {
  for (const d of document.querySelectorAll("dialog.alarm-dialog")) d.remove();
}
