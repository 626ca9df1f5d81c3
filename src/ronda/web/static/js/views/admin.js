// @ts-check
// Administration, one tab per job, each shown only with the right it needs: cameras and storage
// (manage_cameras), users and roles/organisations (manage_users), rules (manage_rules), audit
// (view_audit). The API decides; the tabs only hide what would be refused. Every API error is shown.
import { errorText } from "../api.js";
import { clear, h, loadCss } from "../dom.js";
import { t } from "../i18n.js";
import { analyticsTab } from "./admin/analytics.js";
import { camerasTab } from "./admin/cameras.js";
import { plateListsTab } from "./admin/platelists.js";
import "./admin/strings.js";
import { auditTab, storageTab } from "./admin/system.js";
import { rolesTab, usersTab } from "./admin/users.js";
import { rulesTab } from "./admin/rules.js";

const TABS = [
  { id: "cameras", right: "manage_cameras", render: camerasTab },
  { id: "analytics", right: "manage_cameras", render: analyticsTab },
  { id: "users", right: "manage_users", render: usersTab },
  { id: "roles", right: "manage_users", render: rolesTab },
  { id: "rules", right: "manage_rules", render: rulesTab },
  { id: "plates", right: "manage_rules", render: plateListsTab },
  { id: "storage", right: "manage_cameras", render: storageTab },
  { id: "audit", right: "view_audit", render: auditTab },
];

// --- the view -----------------------------------------------------------------------------------------
export default {
  id: "admin",
  right: "admin",
  async render(root, ctx, params) {
    loadCss("css/admin.css");
    const tabs = TABS.filter((tab) => ctx.can(tab.right));
    const wrap = h("section", { class: "admin-view" }, h("h2", { text: t("admin.title") }));
    root.append(wrap);
    if (!tabs.length) {
      wrap.append(h("p", { class: "muted", text: t("admin.none") }));
      return null;
    }
    const panel = h("div", { class: "admin-panel", role: "tabpanel", tabindex: "-1" });
    const buttons = tabs.map((tab) => h("button", {
      type: "button", role: "tab", id: `admin-tab-${tab.id}`, "data-testid": `admin-tab-${tab.id}`,
      "aria-controls": "admin-panel", text: t(`admin.tab.${tab.id}`),
    }));
    panel.id = "admin-panel";
    const list = h("div", { class: "admin-tabs", role: "tablist", "aria-label": t("admin.title") }, ...buttons);
    wrap.append(list, panel);
    let cleanup = null;
    let current = null;

    // `sub`: the rest of the address after the tab (#/admin/analytics/3: ["3"]), for the tab to use
    async function show(tab, focus = false, sub = []) {
      if (cleanup) cleanup();
      cleanup = null;
      current = tab;
      for (const [i, b] of buttons.entries()) {
        const on = tabs[i] === tab;
        b.setAttribute("aria-selected", String(on));
        b.tabIndex = on ? 0 : -1;
        if (on && focus) b.focus();
      }
      panel.setAttribute("aria-labelledby", `admin-tab-${tab.id}`);
      clear(panel);
      // Keep the tab in the address (reload and links land on it) without re-rendering the view.
      history.replaceState(null, "", `#/admin/${[tab.id, ...sub].join("/")}`);
      try {
        cleanup = (await tab.render(panel, ctx, sub)) || null;
      } catch (e) {
        panel.append(h("p", { class: "error", role: "alert", text: errorText(e) }));
      }
    }

    buttons.forEach((b, i) => b.addEventListener("click", () => show(tabs[i])));
    list.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(current);
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      show(tabs[(next + tabs.length) % tabs.length], true);
    });
    const [wanted, ...sub] = params.rest || [];
    const first = tabs.find((tab) => tab.id === wanted);
    await show(first || tabs[0], false, first ? sub : []);
    return () => {
      if (cleanup) cleanup();
    };
  },
};
