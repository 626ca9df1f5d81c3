// @ts-check
// The printable report: the server's HTML shown in a frame on the page (the API needs the bearer token, so
// the page fetches it) and handed to the browser's print dialog; the PDF downloaded as a file.
import { errorText } from "../../api.js";
import { h, toast } from "../../dom.js";
import { t } from "../../i18n.js";

/**
 * @param {import("../../app.js").AppContext} ctx @param {any} c @param {HTMLElement} where
 * @param {{ print?: boolean }} [options]
 */
export async function showReport(ctx, c, where, { print = true } = {}) {
  try {
    const res = await ctx.api.call(`/api/v1/cases/${c.id}/report.html`, { raw: true });
    if (!res.ok) throw Object.assign(new Error(res.statusText), { detail: (await res.json().catch(() => ({}))).detail });
    const html = await res.text();
    where.querySelector(".case-report")?.remove();
    // No scripts run in it (no allow-scripts); same origin so that the page may print it.
    const frame = /** @type {HTMLIFrameElement} */ (h("iframe", { class: "case-report", "data-testid": "case-report",
      title: t("cases.print"), sandbox: "allow-same-origin allow-modals" }));
    frame.srcdoc = html;
    where.append(frame);
    frame.addEventListener("load", () => {
      frame.dataset.loaded = "1";
      if (print) frame.contentWindow?.print();
    }, { once: true });
  } catch (e) {
    toast(`${t("cases.print")}: ${errorText(e)}`, "error");
  }
}

/** @param {import("../../app.js").AppContext} ctx @param {any} c */
export async function downloadPdf(ctx, c) {
  try {
    const res = await ctx.api.call(`/api/v1/cases/${c.id}/report.pdf`, { raw: true });
    if (!res.ok) throw Object.assign(new Error(res.statusText), { detail: (await res.json().catch(() => ({}))).detail });
    const url = URL.createObjectURL(await res.blob());
    const a = h("a", { href: url, download: `case-${c.number}.pdf` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) {
    toast(`${t("cases.pdf")}: ${errorText(e)}`, "error");
  }
}
