// @ts-check
// The case list: filters (status, type, camera, time, text, plate), a page of cases, newest offence first.
import { errorText } from "../../api.js";
import { clear, h } from "../../dom.js";
import { formatTime, t } from "../../i18n.js";
import { fromLocalInput } from "../../sitetime.js";

export const STATUSES = ["draft", "under_review", "fine_issued", "dismissed", "closed"];
export const TYPES = ["dumping", "graffiti", "vandalism", "incident", "other"];
const PAGE = 50;

/**
 * @param {string} testid @param {string} label @param {string[]} values @param {(v: string) => string} text
 * @returns {HTMLSelectElement}
 */
function select(testid, label, values, text) {
  return /** @type {HTMLSelectElement} */ (h("select", { "data-testid": testid, "aria-label": label },
    h("option", { value: "", text: t("cases.filter.any") }), ...values.map((v) => h("option", { value: v, text: text(v) }))));
}

export class CaseList {
  offset = 0;
  seq = 0;
  el = h("ul", { class: "case-list", "data-testid": "case-list" });
  count = h("span", { class: "muted count", "data-testid": "case-count" });

  /**
   * @param {import("../../app.js").AppContext} ctx
   * @param {{ selected: number | null, camName: (id: number) => string }} view
   */
  constructor(ctx, view) {
    this.ctx = ctx;
    this.view = view;
    this.status = select("case-filter-status", t("cases.filter.status"), STATUSES, (s) => t(`cstatus.${s}`));
    this.type = select("case-filter-type", t("cases.filter.type"), TYPES, (s) => t(`ctype.${s}`));
    this.camera = select("case-filter-camera", t("cases.filter.camera"), [], String);
    this.text = h("input", { type: "search", "data-testid": "case-filter-text", placeholder: t("cases.filter.text"), "aria-label": t("cases.filter.text") });
    this.plate = h("input", { type: "search", "data-testid": "case-filter-plate", placeholder: t("cases.filter.plate"), "aria-label": t("cases.filter.plate"), size: 9 });
    this.from = h("input", { type: "datetime-local", "data-testid": "case-filter-from", "aria-label": t("cases.filter.from") });
    this.to = h("input", { type: "datetime-local", "data-testid": "case-filter-to", "aria-label": t("cases.filter.to") });
    this.prev = h("button", { type: "button", text: t("cases.prev"), onclick: () => this.page(-1) });
    this.next = h("button", { type: "button", text: t("cases.next"), onclick: () => this.page(1) });
    for (const el of [this.status, this.type, this.camera, this.from, this.to]) el.addEventListener("change", () => this.reload());
    for (const el of [this.text, this.plate]) el.addEventListener("keydown", (e) => { if (e.key === "Enter") this.reload(); });
    this.filters = h("div", { class: "case-filters" }, this.status, this.type, this.camera, this.text, this.plate, this.from, this.to);
  }

  /** @param {{ id: number, name: string }[]} cameras */
  setCameras(cameras) {
    for (const c of cameras) this.camera.append(h("option", { value: String(c.id), text: c.name }));
  }

  reload() {
    this.offset = 0;
    return this.load().catch(() => {});
  }

  /** @param {number} dir */
  page(dir) {
    this.offset = Math.max(0, this.offset + dir * PAGE);
    this.load().catch(() => {});
  }

  query() {
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(this.offset) });
    const tz = this.ctx.siteTimeZone;
    const iso = (/** @type {string} */ v) => {
      const ms = v ? fromLocalInput(v, tz) : NaN;
      return Number.isNaN(ms) ? "" : new Date(ms).toISOString();
    };
    for (const [k, v] of [["status", this.status.value], ["type", this.type.value], ["camera", this.camera.value],
      ["text", this.text.value.trim()], ["plate", this.plate.value.trim()],
      ["start", iso(this.from.value)], ["end", iso(this.to.value)]]) {
      if (v) q.set(k, String(v));
    }
    return q;
  }

  async load() {
    // Filters change while a page is on its way: only the newest answer is shown.
    const seq = ++this.seq;
    let res;
    let cases;
    try {
      res = await this.ctx.api.call(`/api/v1/cases?${this.query()}`, { raw: true });
      if (!res.ok) throw Object.assign(new Error(res.statusText), { detail: (await res.json().catch(() => ({}))).detail });
      cases = await res.json();
    } catch (e) {
      if (seq !== this.seq) return;
      clear(this.el).append(h("li", { class: "error", role: "alert", text: `${t("common.error")}: ${errorText(e)}` }));
      throw e;
    }
    if (seq !== this.seq) return;
    clear(this.el);
    const total = Number(res.headers.get("x-total-count") || cases.length);
    this.count.textContent = t("cases.count", { n: total });
    this.prev.disabled = this.offset === 0;
    this.next.disabled = this.offset + cases.length >= total;
    if (!cases.length) this.el.append(h("li", { class: "muted empty", text: t("cases.empty") }));
    for (const c of cases) {
      const item = h("li", { class: `case-item status-${c.status}${c.id === this.view.selected ? " selected" : ""}`, tabindex: "0",
        "data-testid": "case-row", "data-case-id": c.id, "data-status": c.status,
        onclick: () => this.ctx.navigate(`/cases/${c.id}`),
        onkeydown: (/** @type {KeyboardEvent} */ e) => { if (e.key === "Enter") this.ctx.navigate(`/cases/${c.id}`); } },
      h("div", { class: "case-line" }, h("strong", { text: c.number }), " ", h("span", { class: `state-chip cstatus-${c.status}`, text: t(`cstatus.${c.status}`) })),
      h("div", { class: "case-title", text: c.title }),
      h("div", { class: "muted case-meta", text: [t(`ctype.${c.type}`), this.view.camName(c.camera),
        formatTime(c.offence_time, {}, this.ctx.siteTimeZone), c.plate].filter(Boolean).join(" · ") }));
      this.el.append(item);
    }
  }
}
