// @ts-check
// Cases and fines (#/cases, #/cases/<id>): the list with its filters; a case's detail with its status
// flow, fine, notes, evidence packages and printable report. Parts in cases/: list.js, detail.js, report.js.
import { errorText } from "../api.js";
import { h, loadCss } from "../dom.js";
import { t } from "../i18n.js";
import "./cases/strings.js";
import { CaseDetail } from "./cases/detail.js";
import { CaseList } from "./cases/list.js";

export default {
  id: "cases",
  right: "cases",
  /**
   * @param {HTMLElement} root
   * @param {import("../app.js").AppContext} ctx
   * @param {{ rest?: string[] }} params
   */
  async render(root, ctx, params) {
    loadCss("css/cases.css");
    const selected = params.rest && params.rest[0] ? Number(params.rest[0]) : null;
    let disposed = false;
    let cameras = new Map();
    const camName = (/** @type {number} */ id) => (cameras.get(id) || {}).name || `#${id}`;
    const list = new CaseList(ctx, { selected, camName });
    const detail = new CaseDetail(ctx, { camName, disposed: () => disposed, changed: () => list.load().catch(() => {}) });
    const listPane = h("section", { class: "case-list-pane" },
      h("div", { class: "case-head" }, h("h1", { text: t("cases.title") }), list.count), list.filters, list.el,
      h("div", { class: "case-pages" }, list.prev, list.next));
    const detailPane = h("section", { class: "case-detail-pane", "aria-label": t("cases.title") },
      selected ? detail.el : h("p", { class: "muted placeholder", text: t("cases.choose") }));
    root.append(h("div", { class: `cases${selected ? " has-detail" : ""}`, "data-testid": "cases-view" }, listPane, detailPane));
    try {
      const cams = await ctx.api.call("/api/v1/cameras");
      cameras = new Map(cams.map((/** @type {any} */ c) => [c.id, c]));
      list.setCameras(cams);
      await Promise.all([list.load().catch(() => {}), selected ? detail.load(selected, { focus: true }) : null]);
    } catch (e) {
      (selected ? detail.el : list.el).append(h("p", { class: "error", role: "alert", text: `${t("common.error")}: ${errorText(e)}` }));
    }
    return () => {
      disposed = true;
      detail.stop();
    };
  },
};
