// @ts-check
// The user's export jobs under the playback view: progress from polling, cancel while one runs,
// download when done; the latest ones on the server are listed when the view opens.
import { errorText } from "../../api.js";
import { h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { formatWall } from "../../timeline.js";
import { LONG, SHORT } from "./common.js";

/**
 * An export job as the API answers it (the fields shown).
 * @typedef {{ id: string, status: string, progress?: number, error?: string, owner?: string, created?: string, start?: string, end?: string }} ExportJob
 */

/**
 * @param {{ api: import("../../api.js").Api, me: { username: string } | null }} ctx
 * @param {() => boolean} closed whether the view has been left (polling stops)
 * @param {string | undefined} timeZone the site's time zone
 */
export function exportList(ctx, closed, timeZone) {
  const jobs = h("ul", { class: "pb-jobs", "aria-label": t("pb.exports"), "data-testid": "pb-exports" });
  /** @type {Set<ReturnType<typeof setTimeout>>} */
  const polls = new Set();
  /** @param {number} start @param {number} end */
  const rangeOf = (start, end) => `${formatWall(start, LONG, timeZone)} – ${formatWall(end, SHORT, timeZone)}`;

  // An export job: progress from polling, cancel while it runs, download when done.
  /**
   * @param {ExportJob} job
   * @param {string} rangeText
   */
  function jobRow(job, rangeText) {
    const bar = /** @type {HTMLProgressElement} */ (h("progress", { max: "1", value: "0", "data-testid": "export-progress", "aria-label": t("pb.exportOf", { range: rangeText }) }));
    const status = h("span", { class: "pb-job-status", "data-testid": "export-status" });
    const cancel = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: "danger", "data-testid": "export-cancel" }, t("common.cancel")));
    const download = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: "primary", hidden: true, "data-testid": "export-download" }, t("pb.download")));
    const row = h("li", { class: "pb-job", "data-job-id": job.id }, h("span", { text: t("pb.exportOf", { range: rangeText }) }), bar, status, cancel, download);
    /** @type {ReturnType<typeof setTimeout> | null} */
    let timer = null;
    /** @param {ExportJob} j */
    const show = (j) => {
      row.dataset.status = j.status;
      bar.value = j.status === "done" ? 1 : j.progress || 0;
      status.textContent = [t(`pb.status.${j.status}`), j.status === "running" ? `${Math.round((j.progress || 0) * 100)} %` : "", j.error || ""].filter(Boolean).join(" · ");
      cancel.hidden = j.status !== "running";
      download.hidden = j.status !== "done";
    };
    const poll = async () => {
      polls.delete(timer);
      if (closed()) return;
      try {
        const j = await ctx.api.call(`/api/v1/exports/${encodeURIComponent(job.id)}`);
        show(j);
        if (j.status !== "running") return;
      } catch (e) {
        status.textContent = errorText(e);
        return;
      }
      timer = setTimeout(poll, 500);
      polls.add(timer);
    };
    cancel.addEventListener("click", async () => {
      clearTimeout(timer);
      try {
        await ctx.api.call(`/api/v1/exports/${encodeURIComponent(job.id)}`, { method: "DELETE" });
        show({ ...job, status: "cancelled", progress: 0 });
      } catch (e) {
        status.textContent = errorText(e);
      }
    });
    // The browser's download manager streams the package to disk; it cannot send the Authorization
    // header, so the server hands out a 60-second link bound to this user and export.
    download.addEventListener("click", async () => {
      download.disabled = true;
      try {
        const link = await ctx.api.call(`/api/v1/exports/${encodeURIComponent(job.id)}/link`, { method: "POST" });
        const a = h("a", { href: link.url, download: link.name, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        toast(t("pb.downloaded", { name: link.name }));
      } catch (e) {
        status.textContent = errorText(e);
      } finally {
        download.disabled = false;
      }
    });
    show(job);
    if (job.status === "running") poll();
    return row;
  }

  // The user's latest exports on the server (kept across restarts), so coming back to the view finds them.
  ctx.api.call("/api/v1/exports").then((list) => {
    const mine = list.filter((j) => ctx.me && j.owner === ctx.me.username && !jobs.querySelector(`[data-job-id="${CSS.escape(j.id)}"]`));
    mine.sort((a, b) => Date.parse(b.created) - Date.parse(a.created));
    for (const j of mine.slice(0, 20)) jobs.append(jobRow(j, rangeOf(Date.parse(j.start), Date.parse(j.end))));
  }).catch(() => {});


  return {
    el: jobs,
    /**
     * A job just started, at the top of the list.
     * @param {ExportJob} job
     * @param {number} start
     * @param {number} end
     */
    add(job, start, end) {
      jobs.prepend(jobRow(job, rangeOf(start, end)));
    },
    destroy() {
      for (const id of polls) clearTimeout(id);
      polls.clear();
    },
  };
}
