// @ts-check
// Alarm manager (#/alarms, #/alarms/<id>): the live list, most urgent first, with a sound per priority
// for new alarms; the detail with instructions, history, the related cameras live, the recording from
// before the alarm, and the lifecycle buttons (take, comment, hold, resume, close, reopen).
// Components in alarms/: list.js, detail.js (with dialog.js and media.js), sound.js, remote.js (other
// sites' alarms, federation).
import { errorText } from "../api.js";
import { h, loadCss } from "../dom.js";
import { t } from "../i18n.js";
import "./alarms/strings.js";
import { AlarmDetail } from "./alarms/detail.js";
import { removeDialogs } from "./alarms/dialog.js";
import { AlarmList, matches } from "./alarms/list.js";
import { remoteAlarms } from "./alarms/remote.js";
import { beep, muteButton } from "./alarms/sound.js";
import { pushButton } from "../push.js";

/** @typedef {import("./alarms/list.js").Alarm} Alarm */

export default {
  id: "alarms",
  right: null,
  /**
   * @param {HTMLElement} root
   * @param {import("../app.js").AppContext} ctx
   * @param {{ rest?: string[] }} params
   */
  async render(root, ctx, params) {
    loadCss("css/alarms.css");
    const selected = params.rest && params.rest[0] ? Number(params.rest[0]) : null;
    let cameras = new Map();
    let disposed = false;

    const camName = (/** @type {number} */ id) => (cameras.get(id) || {}).name || `#${id}`;
    const camNames = (/** @type {Alarm} */ a) => (a.cameras && a.cameras.length ? a.cameras.map(camName).join(", ") : t("alarms.site"));
    const list = new AlarmList(ctx, { selected, camNames, disposed: () => disposed, detail: () => detail.alarm });
    const detail = new AlarmDetail(ctx, { list, camera: (id) => cameras.get(id), camName, camNames, disposed: () => disposed });

    const remote = remoteAlarms(ctx, () => list.filter.state); // other sites' alarms (federation)
    list.stateSel.addEventListener("change", () => remote.reload());

    // ---- header: filters, mute, push opt-in; the list; the remote sites' alarms; the detail
    const listPane = h("section", { class: "alarm-list-pane" },
      h("div", { class: "alarm-head" }, h("h1", { text: t("alarms.title") }), list.count,
        h("span", { class: "spacer" }), list.stateSel, list.prioSel, muteButton(), pushButton(ctx.api)),
      list.el, remote.el);
    const detailPane = h("section", { class: "alarm-detail-pane", "aria-label": t("alarms.title") });
    const view = h("div", { class: `alarms${selected ? " has-detail" : ""}` }, listPane, detailPane);
    root.append(view);

    if (selected) {
      detailPane.classList.add("has-alarm");
      detailPane.append(detail.info, detail.media.el);
      detailPane.addEventListener("keydown", (e) => {
        if (e.key === "Escape" && !/** @type {HTMLElement} */ (e.target).closest("dialog, input, select, textarea")) {
          e.preventDefault();
          ctx.navigate("/alarms");
        }
      });
    } else {
      detailPane.append(h("p", { class: "muted placeholder", text: t("alarms.choose") }));
    }

    // ---- live updates
    let detailRefresh = null;
    const onAlarm = (e) => {
      const { alarm: a, change } = e.detail;
      const known = list.alarms.get(a.id);
      if ((change === "created" || change === "reopened") && matches(a, list.filter) && beep(a.priority)) view.dataset.lastSound = a.priority;
      list.alarms.set(a.id, { ...(known || {}), ...a });
      list.render();
      if (detail.alarm && detail.alarm.id === a.id) {
        clearTimeout(detailRefresh); // the detail's history changed too: read it again, once per burst
        detailRefresh = setTimeout(() => detail.load(a.id).catch(() => {}), 300);
      }
    };
    const onResync = () => list.load().catch(() => {});
    ctx.events.addEventListener("alarm", onAlarm);
    ctx.events.addEventListener("resync", onResync);

    try {
      const [cams] = await Promise.all([ctx.api.call("/api/v1/cameras"), list.load()]);
      cameras = new Map(cams.map((c) => [c.id, c]));
      list.render();
      if (selected) await detail.load(selected, { withMedia: true, focus: true });
      else list.focusLast();
    } catch (e) {
      (selected ? detail.info : list.el).append(h("p", { class: "error", role: "alert", text: `${t("common.error")}: ${errorText(e)}` }));
    }

    return () => {
      disposed = true;
      clearTimeout(detailRefresh);
      ctx.events.removeEventListener("alarm", onAlarm);
      ctx.events.removeEventListener("resync", onResync);
      detail.media.stop();
      remote.dispose();
      removeDialogs();
    };
  },
};
