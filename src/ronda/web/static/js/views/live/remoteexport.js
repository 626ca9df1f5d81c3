// @ts-check
// Export of a remote camera (docs/cluster.md, Federation): the package is made and signed at the remote
// site by its own export jobs, asked through the centre (POST /federation/sites/{site}/exports); its
// progress is polled, and when it is ready the package is fetched through the centre with the session's
// credentials (the download route takes no signed link) and saved by the browser.
import { errorText } from "../../api.js";
import { h } from "../../dom.js";
import { addStrings, t } from "../../i18n.js";
import { fromLocalInput, toLocalInput } from "../../sitetime.js";

addStrings({
  en: {
    "rx.title": "Export (made and signed at {site})", "rx.from": "From", "rx.to": "To", "rx.reason": "Reason",
    "rx.start": "Export", "rx.badRange": "The end must be after the start", "rx.download": "Download again",
    "rx.running": "Running {pct} %", "rx.done": "Ready: {name}", "rx.failed": "Failed: {error}", "rx.saved": "Saved {name}",
  },
  it: {
    "rx.title": "Esportazione (prodotta e firmata da {site})", "rx.from": "Da", "rx.to": "A", "rx.reason": "Motivo",
    "rx.start": "Esporta", "rx.badRange": "La fine deve seguire l'inizio", "rx.download": "Scarica di nuovo",
    "rx.running": "In corso {pct} %", "rx.done": "Pronta: {name}", "rx.failed": "Non riuscita: {error}", "rx.saved": "Salvato {name}",
  },
});

const POLL_MS = 1000;

/**
 * The export form of one remote camera and its jobs; `dispose` stops the polling.
 * @param {import("../../app.js").AppContext} ctx
 * @param {{ id: number, name: string }} site
 * @param {{ id: number, name: string }} cam
 */
export function remoteExport(ctx, site, cam) {
  const tz = ctx.siteTimeZone;
  const now = Date.now();
  const input = (/** @type {string} */ testid, /** @type {number} */ ms) => /** @type {HTMLInputElement} */ (
    h("input", { type: "datetime-local", step: 1, required: true, value: toLocalInput(ms, tz), "data-testid": testid }));
  const from = input("remote-export-from", now - 600_000);
  const to = input("remote-export-to", now);
  const reason = /** @type {HTMLInputElement} */ (h("input", { maxlength: 500, "data-testid": "remote-export-reason" }));
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const jobs = h("ul", { class: "remote-jobs", "data-testid": "remote-export-jobs" });
  const form = /** @type {HTMLFormElement} */ (h("form", { class: "remote-export", "data-testid": "remote-export-form" },
    h("h3", { text: t("rx.title", { site: site.name }) }),
    h("label", {}, t("rx.from"), " ", from), " ", h("label", {}, t("rx.to"), " ", to), " ",
    h("label", {}, t("rx.reason"), " ", reason), " ",
    h("button", { type: "submit", class: "primary", "data-testid": "remote-export", text: t("rx.start") }), error, jobs));
  let disposed = false;
  /** @type {Set<ReturnType<typeof setTimeout>>} */
  const timers = new Set();
  /** @type {string[]} */
  const urls = [];
  const base = `/api/v1/federation/sites/${site.id}/exports`;

  /** @param {{ id: string, name: string }} job @param {HTMLElement} status */
  const save = async (job, status) => {
    const url = URL.createObjectURL(await ctx.api.blob(`${base}/${encodeURIComponent(job.id)}/download`));
    urls.push(url);
    const a = h("a", { href: url, download: job.name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    status.textContent = t("rx.saved", { name: job.name });
  };

  /** @param {any} job */
  const follow = (job) => {
    const bar = /** @type {HTMLProgressElement} */ (h("progress", { max: "1", value: "0", "data-testid": "remote-export-progress" }));
    const status = h("span", { "data-testid": "remote-export-status" });
    const again = /** @type {HTMLButtonElement} */ (h("button", { type: "button", class: "link", hidden: true,
      "data-testid": "remote-export-download", text: t("rx.download") }));
    const row = h("li", { "data-job-id": job.id }, bar, " ", status, " ", again);
    jobs.prepend(row);
    again.addEventListener("click", () => save(job, status).catch((e) => { status.textContent = errorText(e); }));
    const show = async (/** @type {any} */ j) => {
      row.dataset.status = j.status;
      bar.value = j.status === "done" ? 1 : j.progress || 0;
      if (j.status === "running") status.textContent = t("rx.running", { pct: Math.round((j.progress || 0) * 100) });
      else if (j.status === "done") {
        status.textContent = t("rx.done", { name: j.name });
        again.hidden = false;
        await save(j, status).catch((e) => { status.textContent = errorText(e); });
      } else status.textContent = t("rx.failed", { error: j.error || j.status });
    };
    const poll = async () => {
      if (disposed) return;
      try {
        const j = await ctx.api.call(`${base}/${encodeURIComponent(job.id)}`);
        if (disposed) return;
        await show(j);
        if (j.status !== "running") return;
      } catch (e) {
        status.textContent = errorText(e); // the site went away meanwhile: try again
      }
      const timer = setTimeout(() => { timers.delete(timer); poll(); }, POLL_MS);
      timers.add(timer);
    };
    status.textContent = t("rx.running", { pct: 0 });
    poll();
  };

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const start = fromLocalInput(from.value, tz);
    const end = fromLocalInput(to.value, tz);
    if (!(end > start)) {
      error.textContent = t("rx.badRange");
      error.hidden = false;
      return;
    }
    try {
      const body = { camera: cam.id, start: new Date(start).toISOString(), end: new Date(end).toISOString(), reason: reason.value };
      follow(await ctx.api.call(base, { method: "POST", body }));
    } catch (ex) {
      error.textContent = errorText(ex);
      error.hidden = false;
    }
  });

  return {
    el: form,
    dispose() {
      disposed = true;
      for (const id of timers) clearTimeout(id);
      for (const u of urls) URL.revokeObjectURL(u);
    },
  };
}
