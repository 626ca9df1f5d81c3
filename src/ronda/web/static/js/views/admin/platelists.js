// @ts-check
// The plate lists tab (manage_rules): hotlists (a read raises plate.hotlist, which rules turn into
// alarms) and allowlists (the read is marked, so rules can skip it), of the user's organisation (a site
// administrator sees every list; a site list applies to every camera). A list's entries: plates or
// patterns with a reason and an optional expiry, added a batch at a time or imported from a CSV file
// (a police hotlist), removed one by one; the list exported as CSV.
import { clear, h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { formatWall, fromLocalInput } from "../../sitetime.js";
import "../plates/strings.js";
import { confirmButton, createOnSubmit, errorBox, field, loadOrShow, table, tabBar, text } from "./common.js";

/**
 * @param {HTMLElement} panel
 * @param {import("../../app.js").AppContext} ctx
 * @param {string[]} sub the list id to open (#/admin/plates/ID)
 */
export async function plateListsTab(panel, ctx, sub = []) {
  const err = errorBox("plist-error");
  const body = h("div");
  panel.append(err, body);

  async function showLists() {
    history.replaceState(null, "", "#/admin/plates");
    clear(body);
    const lists = await loadOrShow(ctx, "/api/v1/plate-lists", err);
    if (lists === null) return;
    const rows = lists.map((l) => h("tr", { "data-testid": "plist-row", "data-list-id": l.id },
      h("td", { text: l.name }), h("td", { text: t(`plist.kind.${l.kind}`) }),
      h("td", { text: l.organisation === null ? t("plist.site") : t("plist.org") }), h("td", { text: String(l.entries) }),
      h("td", {}, h("button", { type: "button", class: "link", "data-testid": "plist-toggle", text: l.enabled ? t("plist.enabled") : t("plist.disabled"),
        title: t("plist.toggle"), onclick: async () => {
          try {
            await ctx.api.call(`/api/v1/plate-lists/${l.id}`, { method: "PATCH", body: { enabled: !l.enabled } });
            await showLists();
          } catch (ex) { err.show(ex); }
        } })),
      h("td", {}, h("button", { type: "button", "data-testid": "plist-open", text: t("plist.open"), onclick: () => showEntries(l) }), " ",
        confirmButton(t("admin.delete"), t("admin.confirmDelete", { name: l.name }), async () => {
          try {
            await ctx.api.call(`/api/v1/plate-lists/${l.id}`, { method: "DELETE" });
            toast(t("admin.deleted", { name: l.name }));
            await showLists();
          } catch (ex) { err.show(ex); }
        }, "plist-delete"))));
    const formErr = errorBox("plist-form-error");
    const form = /** @type {HTMLFormElement} */ (h("form", { class: "admin-form", "data-testid": "plist-form" },
      h("h4", { text: t("plist.new") }),
      field(t("plist.name"), h("input", { name: "name", required: true, maxlength: 100, "data-testid": "plist-name" })),
      field(t("plist.kind"), h("select", { name: "kind", "data-testid": "plist-kind" },
        h("option", { value: "hotlist" }, t("plist.kind.hotlist")), h("option", { value: "allowlist" }, t("plist.kind.allowlist")))),
      field(t("plist.description"), h("input", { name: "description", maxlength: 500 })),
      formErr, h("button", { type: "submit", class: "primary", "data-testid": "plist-create", text: t("plist.create") })));
    createOnSubmit(form, ctx, { path: "/api/v1/plate-lists", box: formErr, reload: showLists,
      body: (f) => ({ name: text(f, "name"), kind: text(f, "kind"), description: text(f, "description") }),
      created: (l) => t("admin.saved", { name: l.name }) });
    body.append(tabBar(t("admin.tab.plates"), showLists),
      lists.length ? table([t("plist.name"), t("plist.kind"), t("plist.scope"), t("plist.entries"), t("admin.enabled"), t("admin.actions")], rows,
        { "data-testid": "plist-table" }) : h("p", { class: "muted", text: t("plist.none") }), form);
  }

  /**
   * The outcome of an import: counts, and the refused lines with their number and reason.
   * @param {{added: number, already: number, rejected: {line: number, text: string, reason: string}[], rejected_total: number}} r
   */
  function importReport(r) {
    const box = h("div", { class: "admin-form", "data-testid": "plist-import-result" },
      h("p", { text: t("plist.imported", { added: r.added, already: r.already, rejected: r.rejected_total }) }));
    if (r.rejected.length) {
      box.append(h("ul", { "data-testid": "plist-import-rejected" }, ...r.rejected.map((x) =>
        h("li", { "data-line": x.line, text: t("plist.rejectedLine", { line: x.line, text: x.text, reason: x.reason }) }))));
    }
    return box;
  }

  async function exportList(l) {
    try {
      const url = await ctx.api.objectUrl(`/api/v1/plate-lists/${l.id}/export.csv`);
      if (url === null) throw new Error(t("plist.exportFailed"));
      const a = h("a", { href: url, download: `${l.name.replace(/[^\w-]+/g, "-")}.csv`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (ex) { err.show(ex); }
  }

  async function showEntries(l, imported = null) {
    history.replaceState(null, "", `#/admin/plates/${l.id}`);
    clear(body);
    const entries = await loadOrShow(ctx, `/api/v1/plate-lists/${l.id}/entries?limit=1000`, err);
    if (entries === null) return;
    const reload = () => showEntries(l);
    const rows = entries.map((e) => h("tr", { "data-testid": "plist-entry", "data-plate": e.plate },
      h("td", { text: e.plate }), h("td", { text: e.reason }),
      h("td", { text: e.valid_until ? formatWall(Date.parse(e.valid_until), undefined, ctx.siteTimeZone) : "—" }),
      h("td", {}, confirmButton(t("admin.delete"), t("admin.confirmDelete", { name: e.plate }), async () => {
        try {
          await ctx.api.call(`/api/v1/plate-lists/${l.id}/entries/${e.id}`, { method: "DELETE" });
          await reload();
        } catch (ex) { err.show(ex); }
      }, "plist-entry-delete"))));
    const formErr = errorBox("plist-entries-error");
    const lines = /** @type {HTMLTextAreaElement} */ (h("textarea", { rows: 5, required: true, spellcheck: "false", "data-testid": "plist-plates" }));
    const until = /** @type {HTMLInputElement} */ (h("input", { type: "datetime-local", step: 1 }));
    const form = h("form", { class: "admin-form" }, h("h4", { text: t("plist.addPlate") }),
      field(t("pl.plate"), lines, t("plist.platesHint")), field(t("plist.validUntil"), until), formErr,
      h("button", { type: "submit", class: "primary", "data-testid": "plist-add", text: t("plist.add") }));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const validUntil = until.value ? new Date(fromLocalInput(until.value, ctx.siteTimeZone)).toISOString() : null;
      const items = lines.value.split("\n").map((x) => x.trim()).filter(Boolean).map((x) => {
        const [plate, ...reason] = x.split(",");
        return { plate: plate.trim(), reason: reason.join(",").trim(), valid_until: validUntil };
      });
      try {
        const saved = await ctx.api.call(`/api/v1/plate-lists/${l.id}/entries`, { method: "POST", body: { entries: items } });
        toast(t("plist.added", { n: saved.length }));
        await reload();
      } catch (ex) { formErr.show(ex); }
    });
    const importErr = errorBox("plist-import-error");
    const file = /** @type {HTMLInputElement} */ (h("input", { type: "file", accept: ".csv,.txt,text/csv,text/plain", required: true,
      "data-testid": "plist-import-file" }));
    const importForm = h("form", { class: "admin-form", "data-testid": "plist-import-form" }, h("h4", { text: t("plist.import") }),
      field(t("plist.importFile"), file, t("plist.importHint")), importErr,
      h("button", { type: "submit", "data-testid": "plist-import", text: t("plist.importButton") }));
    importForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = file.files && file.files[0];
      if (!f) return;
      try {
        const r = await ctx.api.call(`/api/v1/plate-lists/${l.id}/import`, { method: "POST", body: f, headers: { "Content-Type": "text/csv" } });
        toast(t("plist.imported", { added: r.added, already: r.already, rejected: r.rejected_total }));
        await showEntries(l, r);
      } catch (ex) { importErr.show(ex); }
    });
    body.append(h("div", { class: "admin-bar" }, h("h3", { text: `${l.name} · ${t(`plist.kind.${l.kind}`)}` }),
      h("button", { type: "button", "data-testid": "plist-export", text: t("plist.export"), onclick: () => exportList(l) }), " ",
      h("button", { type: "button", "data-testid": "plist-back", text: t("plist.back"), onclick: () => showLists() })),
    ...(imported ? [importReport(imported)] : []),
    table([t("pl.plate"), t("plist.reason"), t("plist.until"), t("admin.actions")], rows, { "data-testid": "plist-entries" }), form, importForm);
  }

  const wanted = Number(sub[0]);
  if (wanted) {
    const l = await loadOrShow(ctx, `/api/v1/plate-lists/${wanted}`, err);
    if (l) return void (await showEntries(l));
  }
  await showLists();
}
