// @ts-check
// The rules tab: event rules as JSON with a template, enable/disable, test, delete.
import { clear, h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { confirmButton, errorBox, loadOrShow, table, tabBar } from "./common.js";
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

/**
 * @param {HTMLElement} panel
 * @param {import("../../app.js").AppContext} ctx
 * @returns {Promise<(() => void) | null | void>} the cleanup
 */
export async function rulesTab(panel, ctx) {
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
    tabBar(t("rules.list"), reload),
    err, body,
    h("div", { class: "admin-form rule-editor" }, title, h("p", { class: "muted small", text: t("rules.help") }), editor, editorErr,
      h("div", { class: "row" }, createBtn, saveBtn, newBtn)));

  async function reload() {
    const rules = await loadOrShow(ctx, "/api/v1/rules", err);
    if (rules === null) return;
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
