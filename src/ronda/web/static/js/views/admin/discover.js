// @ts-check
// "Find cameras": a WS-Discovery search (GET /api/v1/onvif/discover) by multicast on the local network
// and/or by unicast to the addresses, networks or ranges an admin types (routed city networks), then
// "Add" on a device not added yet (its own ONVIF add form, under its row).
import { clear, h } from "../../dom.js";
import { t } from "../../i18n.js";
import { errorBox, field, table, text } from "./common.js";
import { onvifForm } from "./onvifadd.js";

/**
 * @typedef {{ address: string, manufacturer: string | null, model: string | null, name?: string | null,
 *   endpoint?: string | null, added: boolean }} Discovered
 */

/** The name an added device starts with: its own, else manufacturer and model. @param {Discovered} d */
function suggestedName(d) {
  return d.name || [d.manufacturer, d.model].filter(Boolean).join(" ") || "";
}

/**
 * @param {import("../../app.js").AppContext} ctx
 * @param {() => Promise<void>} reload the camera list
 */
export function findPanel(ctx, reload) {
  const box = errorBox("onvif-search-error");
  const status = h("p", { class: "muted small", role: "status", "aria-live": "polite", "data-testid": "onvif-search-status" });
  const results = h("div", { "data-testid": "onvif-results" });
  const search = h("button", { type: "submit", class: "primary", "data-testid": "onvif-search", text: t("onvif.search") });
  const form = h("form", { class: "admin-form", "data-testid": "onvif-find", "aria-label": t("onvif.find") },
    h("h3", { text: t("onvif.find") }),
    h("div", { class: "grid" },
      field(t("onvif.target"), h("input", { name: "target", autocomplete: "off", maxlength: 2000,
        placeholder: "10.1.2.0/24, 10.1.3.10-10.1.3.90", "data-testid": "onvif-target" }), t("onvif.targetHint")),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "multicast", checked: true, "data-testid": "onvif-multicast" }),
        t("onvif.multicast"))),
    h("div", { class: "row" }, search),
    status, box, results);

  /** @param {Discovered[]} found */
  function show(found) {
    clear(results);
    if (!found.length) {
      results.append(h("p", { class: "muted", text: t("onvif.noneFound") }));
      return;
    }
    const rows = found.flatMap((d) => {
      const under = h("tr", { class: "admin-detail", hidden: true }, h("td", { colspan: 5 }));
      const addedCell = h("td", { "data-testid": "onvif-added", text: d.added ? t("admin.yes") : t("admin.no") });
      const actions = h("td", { class: "actions" });
      const row = h("tr", { "data-testid": "onvif-result", "data-address": d.address },
        h("td", { class: "url", text: d.address }), h("td", { class: "opt", text: d.manufacturer || "—" }),
        h("td", { text: d.model || "—" }), addedCell, actions);
      if (!d.added) {
        const add = h("button", { type: "button", "data-testid": "onvif-add-open", text: t("onvif.add") });
        add.addEventListener("click", () => {
          const cell = /** @type {HTMLElement} */ (under.firstChild);
          clear(cell);
          const close = () => {
            under.hidden = true;
            add.focus();
          };
          cell.append(onvifForm(ctx, {
            address: d.address, name: suggestedName(d), testid: "onvif-add", label: t("onvif.addDevice", { address: d.address }),
            cancel: close,
            done: async () => {
              under.hidden = true;
              addedCell.textContent = t("admin.yes");
              actions.replaceChildren();
              await reload();
            },
          }));
          under.hidden = false;
          /** @type {HTMLElement} */ (cell.querySelector("input[name=name]")).focus();
        });
        actions.append(add);
      }
      return [row, under];
    });
    results.append(table([t("onvif.address"), [t("cam.manufacturer"), "opt"], t("cam.model"), t("onvif.added"), t("admin.actions")], rows,
      { "data-testid": "onvif-result-table" }));
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(/** @type {HTMLFormElement} */ (form));
    const q = new URLSearchParams();
    for (const target of text(f, "target").split(/[\s,]+/).filter(Boolean)) q.append("target", target);
    q.set("multicast", f.get("multicast") ? "true" : "false");
    const wait = 3;
    q.set("timeout", String(wait));
    search.disabled = true;
    form.setAttribute("aria-busy", "true");
    status.textContent = t("onvif.searching", { s: wait });
    box.show(null);
    clear(results);
    try {
      /** @type {Discovered[]} */
      const found = await ctx.api.call(`/api/v1/onvif/discover?${q}`);
      status.textContent = t("onvif.found", { n: found.length });
      show(found);
    } catch (ex) {
      status.textContent = "";
      box.show(ex);
    } finally {
      search.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
  return form;
}
