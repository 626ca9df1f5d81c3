// @ts-check
// A case: its facts, the pictures of its events, the status buttons its flow allows, the fine and offender
// fields, notes, the evidence packages with their hashes (attach one: a signed export of the case's footage;
// any worker of the case downloads it), and the report.
import { errorText } from "../../api.js";
import { clear, h, toast } from "../../dom.js";
import { formatTime, t } from "../../i18n.js";
import { TYPES } from "./list.js";
import { showReport, downloadPdf } from "./report.js";

export class CaseDetail {
  /** @type {any} the case shown */
  case = null;
  el = h("div", { class: "case-detail", "data-testid": "case-detail" });
  poll = 0;
  /** The pictures fetched for the case shown (picture URL → object URL), kept across the re-renders while a
   * package is being made, revoked when another case shows or the view closes. @type {Map<string, Promise<string | null>>} */
  pictureUrls = new Map();
  /** @type {number | null} the case the pictures are of */
  picturesOf = null;

  /**
   * @param {import("../../app.js").AppContext} ctx
   * @param {{ camName: (id: number) => string, disposed: () => boolean, changed: () => void }} view
   */
  constructor(ctx, view) {
    this.ctx = ctx;
    this.view = view;
  }

  /** The view closes: no more polling, and the pictures' object URLs go. */
  stop() {
    clearTimeout(this.poll);
    this.revokePictures();
  }

  revokePictures() {
    const urls = [...this.pictureUrls.values()];
    this.pictureUrls.clear();
    this.picturesOf = null;
    for (const u of urls) u.then((url) => { if (url) URL.revokeObjectURL(url); }).catch(() => {});
  }

  /** @param {number} id @param {{ focus?: boolean }} [options] */
  async load(id, { focus = false } = {}) {
    clearTimeout(this.poll);
    const c = await this.ctx.api.call(`/api/v1/cases/${id}`);
    if (this.view.disposed()) return;
    if (this.picturesOf !== c.id) this.revokePictures();
    this.picturesOf = c.id;
    this.case = c;
    const title = this.render(c);
    if (focus) title.focus();
    // a package being made: look again until it is signed (or failed)
    if (c.evidence.some((/** @type {any} */ e) => e.status === "pending")) this.poll = window.setTimeout(() => this.load(id).catch(() => {}), 1000);
  }

  /** @param {string} path @param {any} body @param {string} [method] */
  async send(path, body, method = "POST") {
    try {
      const c = await this.ctx.api.call(`/api/v1/cases/${this.case.id}${path}`, { method, body });
      return c;
    } catch (e) {
      toast(errorText(e), "error");
      return null;
    }
  }

  /** @param {any} c @returns {HTMLElement} the title, to focus */
  render(c) {
    const { ctx } = this;
    const when = (/** @type {string} */ iso) => formatTime(iso, {}, ctx.siteTimeZone);
    clear(this.el);
    const title = h("h2", { tabindex: "-1", "data-testid": "case-number", text: `${c.number} · ${c.title}` });
    const statusChip = h("span", { class: `state-chip cstatus-${c.status}`, "data-testid": "case-status", "data-status": c.status, text: t(`cstatus.${c.status}`) });
    const reason = h("input", { "data-testid": "case-status-text", placeholder: t("cases.reason"), "aria-label": t("cases.reason") });
    const buttons = c.next_statuses.map((/** @type {string} */ s) => h("button", { type: "button", class: s === "fine_issued" ? "primary" : s === "dismissed" ? "danger" : "",
      "data-testid": `case-to-${s}`, text: t(`cases.to.${s}`), onclick: async () => {
        const done = await this.send("/status", { status: s, text: reason.value });
        if (done) { toast(t("cases.status.done", { number: c.number, status: t(`cstatus.${s}`) })); this.show(done); }
      } }));
    const facts = h("dl", { class: "facts" },
      h("dt", { text: t("cases.type") }), h("dd", { text: t(`ctype.${c.type}`) }),
      h("dt", { text: t("cases.camera") }), h("dd", { text: c.cameras.map(this.view.camName).join(", ") }),
      h("dt", { text: t("cases.offence") }), h("dd", { text: when(c.offence_time) }),
      h("dt", { text: t("cases.window") }), h("dd", { text: `${when(c.window.start)} – ${when(c.window.end)}` }),
      h("dt", { text: t("cases.created") }), h("dd", { text: `${when(c.created)} · ${c.created_by}` }));
    this.el.append(
      h("button", { type: "button", class: "link back", "data-testid": "case-back", text: `← ${t("cases.back")}`, onclick: () => ctx.navigate("/cases") }),
      title, h("div", { class: "chips" }, statusChip),
      facts, this.pictures(c),
      c.next_statuses.length ? h("div", { class: "actions", role: "group", "aria-label": t("cases.status") }, reason, ...buttons) : null,
      this.fields(c), this.evidence(c),
      h("div", { class: "actions" },
        h("button", { type: "button", "data-testid": "case-print", text: t("cases.print"), onclick: () => showReport(ctx, c, this.el) }),
        h("button", { type: "button", "data-testid": "case-pdf", text: t("cases.pdf"), onclick: () => downloadPdf(ctx, c) })),
      this.notes(c),
      h("section", {}, h("h3", { text: t("cases.sources") }), h("ul", {}, ...c.links.map((/** @type {any} */ k) =>
        h("li", { text: `${k.kind} ${k.id}: ${k.label}${k.time ? ` (${when(k.time)})` : ""}` })))));
    return title;
  }

  /** @param {any} c */
  show(c) {
    this.case = c;
    this.render(c);
    this.view.changed();
  }

  /** @param {any} c */
  fields(c) {
    const closed = c.status === "closed";
    const fineOpen = c.status === "draft" || c.status === "under_review";
    const input = (/** @type {string} */ name, /** @type {string} */ label, value, extra = {}) =>
      h("label", {}, label, h("input", { name, value: value ?? "", "data-testid": `case-${name.replace("_", "-")}`, disabled: closed, ...extra }));
    const type = h("select", { name: "type", "data-testid": "case-type", disabled: closed },
      ...TYPES.map((v) => h("option", { value: v, text: t(`ctype.${v}`), selected: v === c.type })));
    const form = h("form", { class: "case-fields", "data-testid": "case-fields" },
      input("title", t("cases.titleField"), c.title, { maxlength: 200 }), h("label", {}, t("cases.type"), type),
      input("plate", t("cases.plate"), c.plate, { maxlength: 32 }),
      h("label", { class: "wide" }, t("cases.offender"), h("textarea", { name: "offender", "data-testid": "case-offender", maxlength: 4000, disabled: closed, text: c.offender })),
      input("fine_reference", t("cases.fineRef"), c.fine_reference, { maxlength: 64, disabled: !fineOpen }),
      input("fine_amount", t("cases.fineAmount"), c.fine_amount, { inputmode: "decimal", disabled: !fineOpen }),
      closed ? null : h("button", { type: "submit", class: "primary", "data-testid": "case-save", text: t("cases.save") }));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(/** @type {HTMLFormElement} */ (form));
      /** @type {Record<string, any>} */
      const body = {};
      for (const [k, v] of data.entries()) {
        const value = String(v);
        const before = c[k] ?? "";
        if (value !== String(before)) body[k] = k === "fine_amount" ? (value.trim() ? value.trim().replace(",", ".") : null) : value;
      }
      if (!Object.keys(body).length) return;
      const done = await this.send("", body, "PATCH");
      if (done) { toast(t("cases.saved", { number: c.number })); this.show(done); }
    });
    return form;
  }

  /** @param {any} c */
  evidence(c) {
    const rows = c.evidence.map((/** @type {any} */ e) => h("li", { class: `evidence status-${e.status}`, "data-testid": "case-evidence",
      "data-status": e.status, "data-export-id": e.export_id, "data-sha256": e.sha256 || "" },
      h("strong", { text: e.name }), " ", h("span", { class: "muted", text: t(`cases.evidence.${e.status}`) }),
      e.error ? h("div", { class: "error", text: e.error }) : null,
      e.sha256 ? h("div", {}, `${t("cases.sha256")}: `, h("code", { class: "hash", "data-testid": "case-evidence-sha256", text: e.sha256 })) : null,
      e.key_fingerprint ? h("div", {}, `${t("cases.signedBy")}: `, h("code", { text: e.key_fingerprint })) : null,
      e.status === "done" ? h("button", { type: "button", class: "link", "data-testid": "case-evidence-download", text: t("cases.download"),
        onclick: () => this.download(e) }) : null));
    const add = c.status === "closed" ? null : h("button", { type: "button", "data-testid": "case-evidence-add", text: t("cases.addEvidence"),
      onclick: async (/** @type {Event} */ ev) => {
        /** @type {HTMLButtonElement} */ (ev.currentTarget).disabled = true;
        if (await this.send("/evidence", {})) await this.load(c.id);
      } });
    return h("section", { class: "case-evidence" }, h("h3", { text: t("cases.evidence") }),
      rows.length ? h("ul", { "data-testid": "case-evidence-list" }, ...rows) : h("p", { class: "muted", text: t("cases.noEvidence") }), add);
  }

  /**
   * What the cameras saw: each event's snapshot and its extra images (graffiti and tamper: before/after),
   * fetched with the session (an <img> cannot send it) as object URLs.
   * @param {any} c @returns {HTMLElement | null}
   */
  pictures(c) {
    const shots = /** @type {any[]} */ (c.snapshots || []).filter((p) => p.url);
    if (!shots.length) return null;
    const when = (/** @type {string} */ iso) => formatTime(iso, {}, this.ctx.siteTimeZone);
    const figures = shots.flatMap((p) => {
      const names = Array.isArray(p.images) ? p.images.filter((/** @type {unknown} */ n) => typeof n === "string") : [];
      const caption = `${this.view.camName(p.camera)} · ${when(p.time)}`;
      return [["", p.url], ...names.map((/** @type {string} */ n) => [n, `${p.url}?image=${encodeURIComponent(n)}`])].map(([name, url]) => {
        const label = name ? `${caption} · ${t(`cases.image.${name}`) === `cases.image.${name}` ? name : t(`cases.image.${name}`)}` : caption;
        const img = /** @type {HTMLImageElement} */ (h("img", { class: "case-picture", alt: label, "data-testid": "case-picture", "data-image": name || "snapshot", "data-event": String(p.event) }));
        this.picture(img, url);
        return h("figure", {}, img, h("figcaption", { class: "muted", text: label }));
      });
    });
    return h("section", { class: "case-pictures", "data-testid": "case-pictures" }, h("h3", { text: t("cases.pictures") }), ...figures);
  }

  /** @param {HTMLImageElement} img @param {string} url */
  async picture(img, url) {
    let pending = this.pictureUrls.get(url);
    if (!pending) {
      pending = this.ctx.api.objectUrl(url).catch(() => null);
      this.pictureUrls.set(url, pending);
    }
    const u = await pending;
    // the view closed (or another case shows) meanwhile: revokePictures() has revoked this URL
    if (this.view.disposed() || this.pictureUrls.get(url) !== pending) return;
    if (!u) {
      img.dataset.picture = "none";
      return;
    }
    img.src = u;
    img.dataset.picture = "ok";
  }

  /** The package through the case's 60-second link (a download cannot carry the bearer header); any worker
   * of the case may take it, not only who made the export. @param {any} e */
  async download(e) {
    try {
      const link = await this.ctx.api.call(`/api/v1/cases/${this.case.id}/evidence/${e.id}/link`, { method: "POST" });
      const a = h("a", { href: link.url, download: link.name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (err) {
      toast(`${t("cases.download")}: ${errorText(err)}`, "error");
    }
  }

  /** @param {any} c */
  notes(c) {
    const when = (/** @type {string} */ iso) => formatTime(iso, {}, this.ctx.siteTimeZone);
    const text = h("textarea", { "data-testid": "case-note-text", maxlength: 4000, "aria-label": t("cases.note"), placeholder: t("cases.note") });
    return h("section", { class: "case-notes" }, h("h3", { text: t("cases.notes") }),
      h("ol", { "data-testid": "case-notes" }, ...c.notes.map((/** @type {any} */ n) =>
        h("li", {}, h("time", { datetime: n.time, text: when(n.time) }), " ", h("strong", { text: n.author }), h("div", { class: "entry-text", text: n.text })))),
      text, h("button", { type: "button", "data-testid": "case-note-add", text: t("cases.addNote"), onclick: async () => {
        if (!text.value.trim()) return;
        const done = await this.send("/notes", { text: text.value });
        if (done) this.show(done);
      } }));
  }
}
