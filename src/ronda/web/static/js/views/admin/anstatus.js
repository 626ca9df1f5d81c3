// @ts-check
// A camera's analytics status on the analytics tab (GET /cameras/{id}/analytics/status): state, frames
// analysed per second, frames dropped because analysis fell behind, CPU, skipped input by reason and
// the last error. Read again every 5 s while the tab shows the camera.
import { clear, h } from "../../dom.js";
import { t } from "../../i18n.js";

const REFRESH_MS = 5000;

/**
 * @typedef {{ state: string, stream: string | null, fps: number, dropped: number, lagging: boolean,
 *   reasons: Record<string, number>, last_error: string | null, cpu_percent: number, restarts: number,
 *   width: number, height: number, codec: string | null }} AnalyticsStatus
 */

/**
 * @param {import("../../app.js").AppContext} ctx
 * @param {number} cameraId
 * @returns {{ el: HTMLElement, close: () => void }}
 */
export function analyticsStatus(ctx, cameraId) {
  const list = h("dl", { class: "an-status-list" });
  const el = h("section", { class: "an-status", "data-testid": "an-status" }, h("h4", { text: t("an.status") }), list);
  let timer = 0;
  let closed = false;

  async function load() {
    /** @type {AnalyticsStatus | null} */
    let st = null;
    try {
      st = await ctx.api.call(`/api/v1/cameras/${cameraId}/analytics/status`);
    } catch {
      st = null; // shown as "not available"; the next read may work
    }
    if (closed) return;
    show(st);
    timer = window.setTimeout(load, REFRESH_MS);
  }

  /** @param {AnalyticsStatus | null} st */
  function show(st) {
    clear(list);
    el.dataset.state = st ? st.state : "unknown";
    if (!st) {
      list.append(h("dd", { text: t("an.st.unknown") }));
      return;
    }
    /** @type {[string, string][]} */
    const rows = [["an.st.state", t(`an.st.${st.state}`)]];
    if (st.state !== "off") {
      const size = st.width ? ` ${st.width}×${st.height}` : "";
      rows.push(
        ["an.st.stream", st.stream ? `${st.stream}${size} ${st.codec || ""}`.trim() : "—"],
        ["an.st.fps", st.fps.toFixed(1)],
        ["an.st.dropped", String(st.dropped)],
        ["an.st.lagging", t(st.lagging ? "an.st.yes" : "an.st.no")],
        ["an.st.cpu", `${st.cpu_percent.toFixed(1)} %`],
        ["an.st.reasons", Object.entries(st.reasons).map(([k, n]) => `${k}: ${n}`).join(", ") || "—"],
        ["an.st.error", st.last_error || "—"]);
    }
    for (const [key, value] of rows) list.append(h("dt", { text: t(key) }), h("dd", { "data-testid": key, text: value }));
  }

  load();
  return { el, close: () => { closed = true; window.clearTimeout(timer); } };
}
