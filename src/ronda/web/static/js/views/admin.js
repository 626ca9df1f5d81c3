// @ts-check
// Administration, one tab per job, each shown only with the right it needs: cameras and storage
// (manage_cameras), users and roles/organisations (manage_users), rules (manage_rules), audit
// (view_audit). The API decides; the tabs only hide what would be refused. Every API error is shown.
import { errorText } from "../api.js";
import { clear, h, loadCss, toast } from "../dom.js";
import { addStrings, formatTime, t } from "../i18n.js";

addStrings({
  en: {
    "admin.title": "Administration", "admin.none": "You have no administration rights.",
    "admin.tab.cameras": "Cameras", "admin.tab.users": "Users", "admin.tab.roles": "Roles & organisations",
    "admin.tab.rules": "Rules", "admin.tab.storage": "Storage", "admin.tab.audit": "Audit",
    "admin.refresh": "Refresh", "admin.yes": "Yes", "admin.no": "No", "admin.actions": "Actions", "admin.name": "Name",
    "admin.status": "Status", "admin.enabled": "Enabled", "admin.delete": "Delete", "admin.edit": "Edit",
    "admin.confirmDelete": "Delete {name}?", "admin.deleted": "{name} deleted", "admin.saved": "{name} saved",
    "cam.add": "Add a camera", "cam.url": "RTSP URL (main stream)", "cam.sub": "Sub-stream URL (optional)",
    "cam.username": "Username", "cam.password": "Password", "cam.passwordKeep": "(unchanged)", "cam.retention": "Retention (days)",
    "cam.retentionDefault": "site default", "cam.main": "Main stream", "cam.subShort": "Sub-stream", "cam.test": "Test connection",
    "cam.testing": "Testing…", "cam.testOk": "Connection OK", "cam.testFail": "Connection failed", "cam.added": "Camera {name} added",
    "cam.none": "No cameras yet.", "cam.addSubmit": "Add camera", "cam.urlHint": "rtsp://host:554/path — credentials go in the fields below, not in the URL.",
    "users.add": "Create a user", "users.username": "Username", "users.display": "Display name", "users.password": "Password (at least 8 characters)",
    "users.org": "Organisation", "users.noOrg": "— none —", "users.roles": "Roles", "users.lastLogin": "Last login",
    "users.totp": "2FA", "users.disable": "Disable", "users.enable": "Enable", "users.created": "User {name} created",
    "users.disabled": "disabled", "users.submit": "Create user",
    "roles.roles": "Roles", "roles.rights": "Rights", "roles.scope": "Cameras", "roles.all": "all cameras", "roles.groups": "by camera group",
    "roles.builtin": "built-in", "roles.orgs": "Organisations", "roles.groupsCol": "Camera groups",
    "rules.list": "Rules", "rules.trigger": "Trigger", "rules.actionsCol": "Actions", "rules.editor": "Rule (JSON)",
    "rules.create": "Create rule", "rules.save": "Save changes", "rules.new": "New rule", "rules.editing": "Editing rule #{id}",
    "rules.badJson": "Not valid JSON: {msg}", "rules.created": "Rule {name} created",
    "rules.maskedSecret": "This rule has a webhook secret the API does not show: edit it in the JSON editor and enter the secret again.",
    "rules.help": "Trigger + conditions → actions, as in docs/alarms.md. The server validates the rule and names the field it refuses.",
    "storage.recording": "Recording storage", "storage.events": "Events and notifications", "storage.health": "Health",
    "audit.search": "Search", "audit.actor": "Actor", "audit.action": "Action", "audit.camera": "Camera", "audit.since": "From",
    "audit.until": "To", "audit.limit": "Max entries", "audit.any": "any", "audit.time": "Time", "audit.result": "Result",
    "audit.source": "Source", "audit.details": "Details", "audit.verify": "Verify chain", "audit.intact": "Audit chain intact ({n} entries)",
    "audit.broken": "Audit chain broken at entry {seq}: {msg}", "audit.count": "{n} entries",
  },
  it: {
    "admin.title": "Amministrazione", "admin.none": "Non hai diritti di amministrazione.",
    "admin.tab.cameras": "Telecamere", "admin.tab.users": "Utenti", "admin.tab.roles": "Ruoli e organizzazioni",
    "admin.tab.rules": "Regole", "admin.tab.storage": "Archiviazione", "admin.tab.audit": "Registro di controllo",
    "admin.refresh": "Aggiorna", "admin.yes": "Sì", "admin.no": "No", "admin.actions": "Azioni", "admin.name": "Nome",
    "admin.status": "Stato", "admin.enabled": "Attiva", "admin.delete": "Elimina", "admin.edit": "Modifica",
    "admin.confirmDelete": "Eliminare {name}?", "admin.deleted": "{name} eliminato", "admin.saved": "{name} salvato",
    "cam.add": "Aggiungi una telecamera", "cam.url": "URL RTSP (flusso principale)", "cam.sub": "URL del flusso secondario (facoltativo)",
    "cam.username": "Nome utente", "cam.password": "Password", "cam.passwordKeep": "(invariata)", "cam.retention": "Conservazione (giorni)",
    "cam.retentionDefault": "predefinita del sito", "cam.main": "Flusso principale", "cam.subShort": "Flusso secondario", "cam.test": "Prova connessione",
    "cam.testing": "Prova in corso…", "cam.testOk": "Connessione riuscita", "cam.testFail": "Connessione non riuscita", "cam.added": "Telecamera {name} aggiunta",
    "cam.none": "Ancora nessuna telecamera.", "cam.addSubmit": "Aggiungi telecamera", "cam.urlHint": "rtsp://host:554/percorso — le credenziali vanno nei campi sotto, non nell'URL.",
    "users.add": "Crea un utente", "users.username": "Nome utente", "users.display": "Nome visualizzato", "users.password": "Password (almeno 8 caratteri)",
    "users.org": "Organizzazione", "users.noOrg": "— nessuna —", "users.roles": "Ruoli", "users.lastLogin": "Ultimo accesso",
    "users.totp": "2FA", "users.disable": "Disattiva", "users.enable": "Attiva", "users.created": "Utente {name} creato",
    "users.disabled": "disattivato", "users.submit": "Crea utente",
    "roles.roles": "Ruoli", "roles.rights": "Diritti", "roles.scope": "Telecamere", "roles.all": "tutte", "roles.groups": "per gruppo",
    "roles.builtin": "predefinito", "roles.orgs": "Organizzazioni", "roles.groupsCol": "Gruppi di telecamere",
    "rules.list": "Regole", "rules.trigger": "Evento", "rules.actionsCol": "Azioni", "rules.editor": "Regola (JSON)",
    "rules.create": "Crea regola", "rules.save": "Salva modifiche", "rules.new": "Nuova regola", "rules.editing": "Modifica della regola #{id}",
    "rules.badJson": "JSON non valido: {msg}", "rules.created": "Regola {name} creata",
    "rules.maskedSecret": "Questa regola ha un segreto webhook che l'API non mostra: modificala nell'editor JSON reinserendo il segreto.",
    "rules.help": "Evento + condizioni → azioni, come in docs/alarms.md. Il server valida la regola e indica il campo rifiutato.",
    "storage.recording": "Archivio delle registrazioni", "storage.events": "Eventi e notifiche", "storage.health": "Stato del sistema",
    "audit.search": "Cerca", "audit.actor": "Utente", "audit.action": "Azione", "audit.camera": "Telecamera", "audit.since": "Da",
    "audit.until": "A", "audit.limit": "Voci al massimo", "audit.any": "qualsiasi", "audit.time": "Ora", "audit.result": "Esito",
    "audit.source": "Origine", "audit.details": "Dettagli", "audit.verify": "Verifica catena", "audit.intact": "Catena integra ({n} voci)",
    "audit.broken": "Catena interrotta alla voce {seq}: {msg}", "audit.count": "{n} voci",
  },
});

const TABS = [
  { id: "cameras", right: "manage_cameras", render: camerasTab },
  { id: "users", right: "manage_users", render: usersTab },
  { id: "roles", right: "manage_users", render: rolesTab },
  { id: "rules", right: "manage_rules", render: rulesTab },
  { id: "storage", right: "manage_cameras", render: storageTab },
  { id: "audit", right: "view_audit", render: auditTab },
];

// --- small helpers ------------------------------------------------------------------------------------
/**
 * A text field of a form, trimmed ("" when absent).
 * @param {FormData} form
 * @param {string} name
 */
function text(form, name) {
  return String(form.get(name) ?? "").trim();
}

function errorBox(testid) {
  const box = h("p", { class: "error", role: "alert", "data-testid": testid || null });
  box.show = (e) => {
    box.textContent = e ? errorText(e) : "";
  };
  return box;
}

function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", { text: label }), input, hint ? h("small", { class: "muted", text: hint }) : null);
}

function table(headers, rows, attrs = {}) {
  return h("table", { class: "admin-table", ...attrs },
    // a header is its text, or [text, class] ("opt": a column phones leave out)
    h("thead", {}, h("tr", {}, ...headers.map((x) => (Array.isArray(x)
      ? h("th", { scope: "col", class: x[1], text: x[0] })
      : h("th", { scope: "col", text: x }))))),
    h("tbody", {}, ...rows));
}

// A button that asks "Delete X? Yes / No" in place instead of a blocking browser dialog.
function confirmButton(label, question, onYes, testid) {
  const btn = h("button", { type: "button", class: "danger", text: label, "data-testid": testid || null });
  btn.addEventListener("click", () => {
    const yes = h("button", { type: "button", class: "danger", text: t("admin.yes"), "data-testid": testid ? `${testid}-yes` : null });
    const no = h("button", { type: "button", text: t("admin.no") });
    const box = h("span", { class: "confirm", role: "group" }, h("span", { text: question }), yes, no);
    no.addEventListener("click", () => {
      box.replaceWith(btn);
      btn.focus();
    });
    yes.addEventListener("click", () => onYes());
    btn.replaceWith(box);
    no.focus();
  });
  return btn;
}

function statusCell(status, reason) {
  const cls = status === "recording" ? "ok" : status === "starting" || status === "paused" ? "warn" : status === "disabled" ? "off" : "bad";
  return h("td", { class: "status" }, h("span", { class: `dot ${cls}` }), ` ${status}`, reason ? h("small", { class: "muted", text: ` (${reason})` }) : null);
}

function formatBytes(n) {
  if (typeof n !== "number") return String(n);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// Key/value list of a JSON object (nested objects as nested lists; *_bytes as sizes).
function facts(obj) {
  if (obj === null || typeof obj !== "object") return h("span", { text: String(obj) });
  return h("dl", { class: "facts" }, ...Object.entries(obj).flatMap(([k, v]) => [
    h("dt", { text: k }),
    h("dd", {}, v !== null && typeof v === "object" ? facts(v) : h("span", { text: v === null ? "—" : /bytes$/.test(k) ? formatBytes(v) : String(v) })),
  ]));
}

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

    async function show(tab, focus = false) {
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
      history.replaceState(null, "", `#/admin/${tab.id}`);
      try {
        cleanup = (await tab.render(panel, ctx)) || null;
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
    const wanted = (params.rest || [])[0];
    await show(tabs.find((tab) => tab.id === wanted) || tabs[0]);
    return () => {
      if (cleanup) cleanup();
    };
  },
};

// --- cameras ------------------------------------------------------------------------------------------
async function camerasTab(panel, ctx) {
  const err = errorBox("camera-error");
  const body = h("div");
  const input = (name, attrs = {}) => h("input", { name, autocomplete: "off", ...attrs });
  const addErr = errorBox("camera-add-error");
  const form = h("form", { class: "admin-form", "data-testid": "camera-add", "aria-label": t("cam.add") },
    h("h3", { text: t("cam.add") }),
    h("div", { class: "grid" },
      field(t("admin.name"), input("name", { required: true, maxlength: 200 })),
      field(t("cam.url"), input("url", { required: true, placeholder: "rtsp://192.0.2.10:554/stream1" }), t("cam.urlHint")),
      field(t("cam.sub"), input("sub_url", { placeholder: "rtsp://192.0.2.10:554/stream2" })),
      field(t("cam.username"), input("username")),
      field(t("cam.password"), input("password", { type: "password", autocomplete: "new-password" })),
      field(t("cam.retention"), input("retention_days", { type: "number", min: "0.01", max: "3650", step: "any", placeholder: t("cam.retentionDefault") }))),
    addErr,
    h("button", { type: "submit", class: "primary", text: t("cam.addSubmit") }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const data = { name: text(f, "name"), url: text(f, "url") };
    for (const k of ["sub_url", "username", "password"]) if (f.get(k)) data[k] = text(f, k);
    if (f.get("retention_days")) data.retention_days = Number(f.get("retention_days"));
    try {
      const cam = await ctx.api.call("/api/v1/cameras", { method: "POST", body: data });
      addErr.show(null);
      form.reset();
      toast(t("cam.added", { name: cam.name }));
      await reload();
    } catch (ex) {
      addErr.show(ex);
    }
  });
  panel.append(h("div", { class: "admin-bar" }, h("h3", { text: t("admin.tab.cameras") }),
    h("button", { type: "button", text: t("admin.refresh"), onclick: () => reload() })), err, body, form);

  async function patch(cam, changes) {
    try {
      await ctx.api.call(`/api/v1/cameras/${cam.id}`, { method: "PATCH", body: changes });
      err.show(null);
      toast(t("admin.saved", { name: cam.name }));
      return true;
    } catch (ex) {
      err.show(ex);
      return false;
    } finally {
      await reload();
    }
  }

  function editForm(cam, detail) {
    const streams = cam.streams || {};
    const fe = errorBox();
    const f = h("form", { class: "admin-form inline", "data-testid": "camera-edit" },
      h("div", { class: "grid" },
        field(t("admin.name"), input("name", { value: cam.name, required: true })),
        field(t("cam.url"), input("url", { value: streams.main ? streams.main.url || "" : "" })),
        field(t("cam.sub"), input("sub_url", { value: streams.sub ? streams.sub.url || "" : "" })),
        field(t("cam.username"), input("username", { value: cam.username || "" })),
        field(t("cam.password"), input("password", { type: "password", autocomplete: "new-password", placeholder: cam.password_set ? t("cam.passwordKeep") : "" })),
        field(t("cam.retention"), input("retention_days", { type: "number", min: "0.01", max: "3650", step: "any",
          value: cam.retention_days == null ? "" : cam.retention_days, placeholder: t("cam.retentionDefault"), "data-testid": "camera-retention" }))),
      fe,
      h("div", { class: "row" }, h("button", { type: "submit", class: "primary", text: t("common.save") }),
        h("button", { type: "button", text: t("common.cancel"), onclick: () => { detail.hidden = true; } })));
    f.addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = new FormData(f);
      const ch = {};
      if (text(v, "name") !== cam.name) ch.name = text(v, "name");
      if (text(v, "url") && (!streams.main || text(v, "url") !== streams.main.url)) ch.url = text(v, "url");
      const sub = text(v, "sub_url");
      if (sub !== (streams.sub ? streams.sub.url || "" : "")) ch.sub_url = sub || null;
      if (text(v, "username") !== (cam.username || "")) ch.username = text(v, "username") || null;
      if (v.get("password")) ch.password = v.get("password");
      const ret = v.get("retention_days");
      const newRet = ret === "" ? null : Number(ret);
      if (newRet !== (cam.retention_days == null ? null : cam.retention_days)) ch.retention_days = newRet;
      if (!Object.keys(ch).length) {
        detail.hidden = true;
        return;
      }
      try {
        await ctx.api.call(`/api/v1/cameras/${cam.id}`, { method: "PATCH", body: ch });
        toast(t("admin.saved", { name: ch.name || cam.name }));
        await reload();
      } catch (ex) {
        fe.show(ex);
      }
    });
    return f;
  }

  async function test(cam, out) {
    clear(out);
    out.append(h("span", { class: "muted", text: t("cam.testing") }));
    try {
      const r = await ctx.api.call(`/api/v1/cameras/${cam.id}/test`, { method: "POST" });
      clear(out);
      out.append(h("strong", { class: r.ok ? "ok-text" : "error", text: r.ok ? t("cam.testOk") : t("cam.testFail") }),
        h("ul", {}, ...Object.entries(r.streams).map(([kind, s]) => h("li", {
          text: `${kind === "main" ? t("cam.main") : t("cam.subShort")}: ${s.ok
            ? `${s.codec || "?"} ${s.width || "?"}×${s.height || "?"}${s.audio ? ` + ${s.audio}` : ""}`
            : `${s.reason}${s.detail ? ` — ${s.detail}` : ""}`}`,
        }))));
    } catch (ex) {
      clear(out);
      out.append(h("span", { class: "error", role: "alert", text: errorText(ex) }));
    }
  }

  async function reload() {
    let cams;
    try {
      cams = await ctx.api.call("/api/v1/cameras");
    } catch (ex) {
      err.show(ex);
      return;
    }
    const rows = cams.flatMap((cam) => {
      const streams = cam.streams || {};
      const detail = h("tr", { class: "admin-detail", hidden: true }, h("td", { colspan: 7 }));
      const detailCell = detail.firstChild;
      const openDetail = (content) => {
        clear(detailCell);
        detailCell.append(content);
        detail.hidden = false;
      };
      const enabled = h("input", { type: "checkbox", checked: cam.enabled, "aria-label": `${t("admin.enabled")}: ${cam.name}`, "data-testid": "camera-enabled" });
      enabled.addEventListener("change", () => patch(cam, { enabled: enabled.checked }));
      const row = h("tr", { "data-testid": "admin-camera-row", "data-camera-id": cam.id },
        h("td", { class: "name", text: cam.name }),
        statusCell(cam.status, cam.status_reason),
        h("td", { class: "url opt", text: streams.main ? streams.main.url || "" : "" }),
        h("td", { class: "url opt", text: streams.sub ? streams.sub.url || "" : "—" }),
        h("td", { class: "opt", text: cam.retention_days == null ? t("cam.retentionDefault") : String(cam.retention_days) }),
        h("td", {}, enabled),
        h("td", { class: "actions" },
          h("button", { type: "button", "data-testid": "camera-test", text: t("cam.test"), onclick: () => {
            const out = h("div", { class: "test-result", "data-testid": "camera-test-result", role: "status" });
            openDetail(out);
            test(cam, out);
          } }),
          h("button", { type: "button", "data-testid": "camera-edit-open", text: t("admin.edit"), onclick: () => openDetail(editForm(cam, detail)) }),
          confirmButton(t("admin.delete"), t("admin.confirmDelete", { name: cam.name }), async () => {
            try {
              await ctx.api.call(`/api/v1/cameras/${cam.id}`, { method: "DELETE" });
              err.show(null);
              toast(t("admin.deleted", { name: cam.name }));
            } catch (ex) {
              err.show(ex);
            }
            await reload();
          }, "camera-delete")));
      return [row, detail];
    });
    clear(body);
    body.append(cams.length
      ? table([t("admin.name"), t("admin.status"), [t("cam.main"), "opt"], [t("cam.subShort"), "opt"], [t("cam.retention"), "opt"], t("admin.enabled"), t("admin.actions")],
        rows, { "data-testid": "admin-cameras" })
      : h("p", { class: "muted", text: t("cam.none") }));
  }

  await reload();
  return null;
}

// --- users ----------------------------------------------------------------------------------------------
async function usersTab(panel, ctx) {
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
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const data = { username: text(f, "username"), password: f.get("password"), roles: f.getAll("roles") };
    if (text(f, "display_name")) data.display_name = text(f, "display_name");
    if (f.get("organisation_id")) data.organisation_id = Number(f.get("organisation_id"));
    try {
      const u = await ctx.api.call("/api/v1/users", { method: "POST", body: data });
      addErr.show(null);
      form.reset();
      toast(t("users.created", { name: u.username }));
      await reload();
    } catch (ex) {
      addErr.show(ex);
    }
  });
  panel.append(h("div", { class: "admin-bar" }, h("h3", { text: t("admin.tab.users") }),
    h("button", { type: "button", text: t("admin.refresh"), onclick: () => reload() })), err, body, form);

  async function reload() {
    let users;
    try {
      users = await ctx.api.call("/api/v1/users");
    } catch (ex) {
      err.show(ex);
      return;
    }
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
async function rolesTab(panel, ctx) {
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

// --- rules ----------------------------------------------------------------------------------------------------
const RULE_TEMPLATE = {
  name: "Line crossing at night",
  enabled: true,
  trigger: { types: ["analytics.line_crossing"], min_severity: "warning" },
  conditions: { cooldown_s: 60 },
  actions: [{ type: "raise_alarm", priority: "medium", title: "{type} on {camera_name}" }],
};

function ruleBody(rule) {
  const { name, enabled, trigger, conditions, actions } = rule;
  return { name, enabled, trigger, conditions, actions };
}

const hasMaskedSecret = (rule) => rule.actions.some((a) => a.secret === "********");

async function rulesTab(panel, ctx) {
  const err = errorBox("rules-error");
  const body = h("div");
  let editing = null; // id of the rule loaded into the editor
  const editorErr = errorBox("rule-error");
  const title = h("h3", { text: t("rules.new") });
  const editor = h("textarea", { class: "json", rows: 16, spellcheck: "false", "data-testid": "rule-json", "aria-label": t("rules.editor") });
  const createBtn = h("button", { type: "button", class: "primary", "data-testid": "rule-create", text: t("rules.create") });
  const saveBtn = h("button", { type: "button", "data-testid": "rule-save", text: t("rules.save"), hidden: true });
  const newBtn = h("button", { type: "button", text: t("rules.new") });
  const setEditor = (rule, id) => {
    editing = id;
    editor.value = JSON.stringify(rule, null, 2);
    title.textContent = id ? t("rules.editing", { id }) : t("rules.new");
    saveBtn.hidden = !id;
    editorErr.show(null);
  };
  setEditor(RULE_TEMPLATE, null);

  const parse = () => {
    try {
      return JSON.parse(editor.value);
    } catch (ex) {
      editorErr.textContent = t("rules.badJson", { msg: ex.message });
      return undefined;
    }
  };
  createBtn.addEventListener("click", async () => {
    const rule = parse();
    if (rule === undefined) return;
    try {
      const r = await ctx.api.call("/api/v1/rules", { method: "POST", body: rule });
      toast(t("rules.created", { name: r.name }));
      setEditor(RULE_TEMPLATE, null);
      await reload();
    } catch (ex) {
      editorErr.show(ex);
    }
  });
  saveBtn.addEventListener("click", async () => {
    const rule = parse();
    if (rule === undefined || !editing) return;
    try {
      const r = await ctx.api.call(`/api/v1/rules/${editing}`, { method: "PUT", body: rule });
      toast(t("admin.saved", { name: r.name }));
      setEditor(ruleBody(r), r.id);
      await reload();
    } catch (ex) {
      editorErr.show(ex);
    }
  });
  newBtn.addEventListener("click", () => setEditor(RULE_TEMPLATE, null));

  panel.append(
    h("div", { class: "admin-bar" }, h("h3", { text: t("rules.list") }), h("button", { type: "button", text: t("admin.refresh"), onclick: () => reload() })),
    err, body,
    h("div", { class: "admin-form rule-editor" }, title, h("p", { class: "muted small", text: t("rules.help") }), editor, editorErr,
      h("div", { class: "row" }, createBtn, saveBtn, newBtn)));

  async function reload() {
    let rules;
    try {
      rules = await ctx.api.call("/api/v1/rules");
    } catch (ex) {
      err.show(ex);
      return;
    }
    clear(body);
    body.append(table([t("admin.name"), t("admin.enabled"), t("rules.trigger"), t("rules.actionsCol"), t("admin.actions")], rules.map((r) => {
      const toggle = h("input", { type: "checkbox", checked: r.enabled, "aria-label": `${t("admin.enabled")}: ${r.name}`, "data-testid": "rule-enabled" });
      toggle.addEventListener("change", async () => {
        if (hasMaskedSecret(r)) {
          // Sending the masked value back would replace the real secret with asterisks.
          toggle.checked = r.enabled;
          err.textContent = t("rules.maskedSecret");
          return;
        }
        try {
          await ctx.api.call(`/api/v1/rules/${r.id}`, { method: "PUT", body: { ...ruleBody(r), enabled: toggle.checked } });
          err.show(null);
        } catch (ex) {
          err.show(ex);
        }
        await reload();
      });
      return h("tr", { "data-testid": "admin-rule-row", "data-rule-id": r.id },
        h("td", { class: "name", text: r.name }),
        h("td", {}, toggle),
        h("td", { text: r.trigger.types.join(", ") }),
        h("td", { text: r.actions.map((a) => (a.type === "raise_alarm" ? `raise_alarm (${a.priority || "medium"})` : a.type)).join(", ") }),
        h("td", { class: "actions" },
          h("button", { type: "button", text: t("admin.edit"), onclick: () => {
            setEditor(ruleBody(r), r.id);
            if (hasMaskedSecret(r)) editorErr.textContent = t("rules.maskedSecret");
            editor.focus();
          } }),
          confirmButton(t("admin.delete"), t("admin.confirmDelete", { name: r.name }), async () => {
            try {
              await ctx.api.call(`/api/v1/rules/${r.id}`, { method: "DELETE" });
              err.show(null);
              toast(t("admin.deleted", { name: r.name }));
              if (editing === r.id) setEditor(RULE_TEMPLATE, null);
            } catch (ex) {
              err.show(ex);
            }
            await reload();
          })));
    }), { "data-testid": "admin-rules" }));
  }

  await reload();
  return null;
}

// --- storage -----------------------------------------------------------------------------------------------------
async function storageTab(panel, ctx) {
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
async function auditTab(panel, ctx) {
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
