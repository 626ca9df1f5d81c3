// @ts-check
// The storage tab (volumes, retention) and the audit tab (filtered log, chain check).
import { errorText } from "../../api.js";
import { clear, h } from "../../dom.js";
import { formatTime, t } from "../../i18n.js";
import { errorBox, facts, field, table } from "./common.js";
// --- storage -----------------------------------------------------------------------------------------------------
/**
 * @param {HTMLElement} panel
 * @param {import("../../app.js").AppContext} ctx
 * @returns {Promise<(() => void) | null | void>} the cleanup
 */
export async function storageTab(panel, ctx) {
  const body = h("div", { class: "storage-grid" });
  const load = async () => {
    const part = async (titleKey, path, testid) => {
      try {
        return h("div", { class: "card", "data-testid": testid }, h("h3", { text: t(titleKey) }), facts(await ctx.api.call(path)));
      } catch (ex) {
        return h("div", { class: "card", "data-testid": testid }, h("h3", { text: t(titleKey) }), h("p", { class: "error", role: "alert", text: errorText(ex) }));
      }
    };
    const cards = await Promise.all([
      part("storage.recording", "/api/v1/storage", "storage-status"),
      part("storage.events", "/api/v1/events/stats", "events-stats"),
      part("storage.health", "/api/v1/health", "health"),
    ]);
    clear(body);
    body.append(...cards);
  };
  panel.append(h("div", { class: "admin-bar" }, h("h3", { text: t("admin.tab.storage") }), h("button", { type: "button", text: t("admin.refresh"), onclick: load })), body);
  await load();
  const timer = setInterval(load, 15000);
  return () => clearInterval(timer);
}

// --- audit --------------------------------------------------------------------------------------------------------
/**
 * @param {HTMLElement} panel
 * @param {import("../../app.js").AppContext} ctx
 * @returns {Promise<(() => void) | null | void>} the cleanup
 */
export async function auditTab(panel, ctx) {
  const err = errorBox("audit-error");
  const results = h("div");
  const verifyOut = h("p", { role: "status", "data-testid": "audit-verify-result" });
  const cams = await ctx.api.call("/api/v1/cameras").catch(() => []);
  const camName = (id) => (cams.find((c) => c.id === id) || {}).name || (id == null ? "" : `#${id}`);
  const form = h("form", { class: "admin-form audit-form", "data-testid": "audit-search", "aria-label": t("audit.search") },
    h("div", { class: "grid" },
      field(t("audit.actor"), h("input", { name: "actor", maxlength: 200, autocomplete: "off" })),
      field(t("audit.action"), h("input", { name: "action", maxlength: 64, placeholder: "camera.create", autocomplete: "off" })),
      field(t("audit.camera"), h("select", { name: "camera" }, h("option", { value: "", text: t("audit.any") }),
        ...cams.map((c) => h("option", { value: c.id, text: c.name })))),
      field(t("audit.since"), h("input", { name: "since", type: "datetime-local" })),
      field(t("audit.until"), h("input", { name: "until", type: "datetime-local" })),
      field(t("audit.limit"), h("input", { name: "limit", type: "number", min: 1, max: 1000, value: 100 }))),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", text: t("audit.search") }),
      h("button", { type: "button", "data-testid": "audit-verify", text: t("audit.verify"), onclick: verify })));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    search();
  });

  async function verify() {
    verifyOut.textContent = "…";
    verifyOut.className = "";
    try {
      const v = await ctx.api.call("/api/v1/audit/verify");
      verifyOut.textContent = v.ok ? t("audit.intact", { n: v.entries }) : t("audit.broken", { seq: v.first_bad_seq, msg: v.message });
      verifyOut.className = v.ok ? "ok-text" : "error";
    } catch (ex) {
      verifyOut.textContent = errorText(ex);
      verifyOut.className = "error";
    }
  }

  async function search() {
    const f = new FormData(form);
    const q = new URLSearchParams();
    for (const k of ["actor", "action", "camera", "limit"]) if (f.get(k)) q.set(k, String(f.get(k)).trim());
    // datetime-local is the browser's local time; the API wants ISO 8601 UTC.
    for (const k of ["since", "until"]) if (f.get(k)) q.set(k, new Date(String(f.get(k))).toISOString());
    let rows;
    try {
      rows = await ctx.api.call(`/api/v1/audit?${q}`);
      err.show(null);
    } catch (ex) {
      err.show(ex);
      return;
    }
    clear(results);
    results.append(h("p", { class: "muted", text: t("audit.count", { n: rows.length }) }),
      table([t("audit.time"), t("audit.actor"), t("audit.action"), t("audit.result"), t("audit.camera"), t("audit.source"), t("audit.details")],
        rows.map((r) => h("tr", { "data-testid": "audit-row", class: r.result === "ok" ? "" : "failed" },
          h("td", { class: "nowrap", text: formatTime(r.time, {}, ctx.siteTimeZone) }),
          h("td", { text: r.actor }),
          h("td", { text: r.action }),
          h("td", { text: r.result }),
          h("td", { text: camName(r.camera_id) }),
          h("td", { text: r.source_ip || "" }),
          h("td", { class: "details" }, r.details ? h("code", { text: JSON.stringify(r.details) }) : null))),
        { "data-testid": "audit-results" }));
  }

  panel.append(h("h3", { text: t("admin.tab.audit") }), form, verifyOut, err, results);
  await search();
  return null;
}
