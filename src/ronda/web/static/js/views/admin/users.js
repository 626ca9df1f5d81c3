// @ts-check
// The users and roles tabs: accounts (create, edit, reset, disable), roles and organisations.
import { clear, h } from "../../dom.js";
import { formatTime, t } from "../../i18n.js";
import { createOnSubmit, errorBox, field, loadOrShow, table, tabBar, text } from "./common.js";
// --- users ----------------------------------------------------------------------------------------------
// The body of "create a user" from its form (optional fields only when given).
/** @param {FormData} f */
function newUser(f) {
  const data = { username: text(f, "username"), password: f.get("password"), roles: f.getAll("roles") };
  if (text(f, "display_name")) data.display_name = text(f, "display_name");
  if (f.get("organisation_id")) data.organisation_id = Number(f.get("organisation_id"));
  return data;
}

/**
 * @param {HTMLElement} panel
 * @param {import("../../app.js").AppContext} ctx
 * @returns {Promise<(() => void) | null | void>} the cleanup
 */
export async function usersTab(panel, ctx) {
  const err = errorBox("users-error");
  const body = h("div");
  const [roles, orgs] = await Promise.all([ctx.api.call("/api/v1/roles"), ctx.api.call("/api/v1/organisations")]);
  const orgName = (id) => (orgs.find((o) => o.id === id) || {}).name || "—";
  const addErr = errorBox("user-add-error");
  const form = h("form", { class: "admin-form", "data-testid": "user-add", "aria-label": t("users.add") },
    h("h3", { text: t("users.add") }),
    h("div", { class: "grid" },
      field(t("users.username"), h("input", { name: "username", required: true, maxlength: 150, autocomplete: "off" })),
      field(t("users.display"), h("input", { name: "display_name", maxlength: 200, autocomplete: "off" })),
      field(t("users.password"), h("input", { name: "password", type: "password", required: true, minlength: 8, autocomplete: "new-password" })),
      field(t("users.org"), h("select", { name: "organisation_id" }, h("option", { value: "", text: t("users.noOrg") }),
        ...orgs.map((o) => h("option", { value: o.id, text: o.name }))))),
    h("fieldset", { class: "roles" }, h("legend", { text: t("users.roles") }),
      ...roles.map((r) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "roles", value: r.name }), r.name))),
    addErr,
    h("button", { type: "submit", class: "primary", text: t("users.submit") }));
  createOnSubmit(form, ctx, { path: "/api/v1/users", body: newUser, box: addErr, reload,
    created: (u) => t("users.created", { name: u.username }) });
  panel.append(tabBar(t("admin.tab.users"), reload), err, body, form);

  async function reload() {
    const users = await loadOrShow(ctx, "/api/v1/users", err);
    if (users === null) return;
    const self = ctx.me && ctx.me.username;
    clear(body);
    body.append(table([t("users.username"), t("users.display"), t("users.org"), t("users.roles"), t("admin.enabled"), t("users.totp"),
      t("users.lastLogin"), t("admin.actions")], users.map((u) => h("tr", { "data-testid": "admin-user-row", "data-username": u.username, class: u.enabled ? "" : "disabled" },
      h("td", { class: "name", text: u.username }),
      h("td", { text: u.display_name || "" }),
      h("td", { text: orgName(u.organisation_id) }),
      h("td", { text: u.roles.join(", ") }),
      h("td", { text: u.enabled ? t("admin.yes") : t("users.disabled") }),
      h("td", { text: u.totp ? "✓" : "" }),
      h("td", { text: u.last_login ? formatTime(u.last_login, {}, ctx.siteTimeZone) : "—" }),
      h("td", { class: "actions" }, u.username === self ? null : h("button", {
        type: "button", "data-testid": "user-toggle", text: u.enabled ? t("users.disable") : t("users.enable"),
        onclick: async () => {
          try {
            await ctx.api.call(`/api/v1/users/${u.id}`, { method: "PATCH", body: { enabled: !u.enabled } });
            err.show(null);
          } catch (ex) {
            err.show(ex);
          }
          await reload();
        },
      }))))));
  }

  await reload();
  return null;
}

// --- roles and organisations (read-only) ----------------------------------------------------------------------
/**
 * @param {HTMLElement} panel
 * @param {import("../../app.js").AppContext} ctx
 * @returns {Promise<(() => void) | null | void>} the cleanup
 */
export async function rolesTab(panel, ctx) {
  const [roles, orgs] = await Promise.all([ctx.api.call("/api/v1/roles"), ctx.api.call("/api/v1/organisations")]);
  const orgName = (id) => (orgs.find((o) => o.id === id) || {}).name || "—";
  panel.append(
    h("h3", { text: t("roles.roles") }),
    table([t("admin.name"), t("roles.rights"), t("roles.scope"), t("users.org"), ""], roles.map((r) => h("tr", { "data-testid": "admin-role-row" },
      h("td", { class: "name", text: r.name }),
      h("td", { text: (r.rights || []).join(", ") }),
      h("td", { text: r.all_cameras ? t("roles.all") : t("roles.groups") }),
      h("td", { text: orgName(r.organisation_id) }),
      h("td", { class: "muted", text: r.builtin ? t("roles.builtin") : "" })))),
    h("h3", { text: t("roles.orgs") }),
    table([t("admin.name"), t("roles.groupsCol")], orgs.map((o) => h("tr", { "data-testid": "admin-org-row" },
      h("td", { class: "name", text: o.name }),
      h("td", { text: o.camera_groups.map((g) => g.name).join(", ") || "—" })))));
  return null;
}
