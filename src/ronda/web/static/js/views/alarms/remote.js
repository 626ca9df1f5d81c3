// @ts-check
// Remote sites' alarms under the alarm list (docs/cluster.md, Federation): for each site where the user
// has the alarms right on some camera (the centre's role and the site's grant both give it), the alarms
// of those cameras as the site answers them through the centre, marked with the site's name, in the
// list's state filter, read again as soon as the centre's event stream says one of them changed (the
// site pushes its changes to the centre: {"kind": "remote_alarm"}), and every half minute besides. Each can be taken, commented, closed and reopened from here: the site records the step
// under the user's name at this centre (user@centre) and shows it as the owner.
import { errorText } from "../../api.js";
import { clear, h, toast } from "../../dom.js";
import { addStrings, formatTime, t } from "../../i18n.js";
import { ask } from "./dialog.js";
import { beep } from "./sound.js";

addStrings({
  en: { "ra.title": "Remote sites", "ra.none": "No alarms.", "ra.offline": "offline", "ra.error": "not available: {error}" },
  it: { "ra.title": "Siti remoti", "ra.none": "Nessun allarme.", "ra.offline": "non raggiungibile", "ra.error": "non disponibile: {error}" },
});

const POLL_MS = 30_000; // besides the pushed changes (a site whose pushes cannot reach the centre still shows)
const PUSH_DELAY_MS = 150; // a burst of pushed changes: one read
const MIN_READ_GAP_MS = 1000; // and at most one read a second, however many come
// What a remote alarm's state allows from the centre (the site refuses the rest; assigning is the site's own).
const ACTIONS = {
  // (taken by this user from here: owned by name, "user@centre", with no local owner id at the site)
  take: (/** @type {any} */ a, /** @type {string} */ me) =>
    a.state !== "closed" && !(a.owner_id == null && (a.owner || "").startsWith(`${me}@`)),
  comment: () => true,
  close: (/** @type {any} */ a) => a.state !== "closed",
  reopen: (/** @type {any} */ a) => a.state === "closed",
};
const NEEDS_TEXT = { comment: true, close: true, reopen: true };
const IDLE_MS = 60_000; // no remote site for this user (a single site): look again now and then only

/**
 * @param {import("../../app.js").AppContext} ctx
 * @param {() => string} stateFilter the alarm list's state filter ("open", "all", "closed")
 */
export function remoteAlarms(ctx, stateFilter) {
  const body = h("div", {});
  const box = h("section", { class: "remote-alarms", hidden: true, "data-testid": "remote-alarms", "aria-label": t("ra.title") },
    h("h2", { text: t("ra.title") }), body);
  let disposed = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let generation = 0; // a newer load (the filter changed) wins over one still under way

  /** One step on a remote alarm, at its site; the list is read again after. */
  const act = async (/** @type {any} */ site, /** @type {any} */ a, /** @type {string} */ action) => {
    let text = "";
    if (action in NEEDS_TEXT) {
      const answer = await ask(t, t(`ask.${action}`), true);
      if (answer === null) return;
      text = answer;
    }
    try {
      await ctx.api.call(`/api/v1/federation/sites/${site.id}/alarms/${a.id}/${action}`, { method: "POST", body: { text } });
      toast(t("alarms.done", { id: a.id, action: t(`act.${action}`) }));
    } catch (e) {
      toast(`${t(`act.${action}`)}: ${errorText(e)}`, "error");
    }
    await load();
  };

  let lastRead = 0;
  const load = async () => {
    clearTimeout(timer);
    lastRead = Date.now();
    const mine = ++generation;
    const sites = await ctx.api.call("/api/v1/federation/cameras").catch(() => []);
    /** @type {HTMLElement[]} */
    const blocks = [];
    for (const site of sites) {
      const cams = new Map(site.cameras.filter((c) => c.rights.includes("alarms")).map((c) => [c.id, c.name]));
      if (!cams.size) continue;
      const state = stateFilter();
      const q = new URLSearchParams({ limit: "100" });
      if (state !== "all") q.set("state", state);
      /** @type {any[] | null} */
      let alarms = null;
      let error = "";
      if (site.online) {
        try {
          alarms = await ctx.api.call(`/api/v1/federation/sites/${site.id}/alarms?${q}`);
        } catch (e) {
          error = e.message || String(e);
        }
      }
      const items = (alarms || []).map((a) => h("li", {
        class: `alarm-item prio-${a.priority} state-${a.state}`, "data-testid": "remote-alarm", "data-remote-site": site.name,
        "data-alarm-id": a.id, "data-state": a.state, "data-priority": a.priority,
      },
        h("span", { class: `prio-chip prio-${a.priority}`, text: t(`prio.${a.priority}`) }),
        h("div", { class: "alarm-main" },
          h("div", { class: "alarm-title", text: a.title }),
          h("div", { class: "alarm-meta" },
            h("span", { class: "site-chip", "data-testid": "remote-alarm-site", text: site.name }),
            h("span", { class: `state-chip state-${a.state}`, text: t(`state.${a.state}`) }),
            h("span", { text: cams.get(a.camera) || `#${a.camera}` }),
            a.owner ? h("span", { class: "muted", "data-testid": "remote-alarm-owner", text: a.owner }) : null,
            a.created ? h("time", { datetime: a.created, text: formatTime(a.created, {}, ctx.siteTimeZone) }) : null),
          h("div", { class: "actions", role: "group" },
            ...Object.entries(ACTIONS).filter(([, allowed]) => allowed(a, ctx.me?.username || "")).map(([action]) =>
              h("button", { type: "button", class: action === "close" ? "danger" : action === "take" ? "primary" : "",
                "data-testid": `remote-alarm-${action}`, text: t(`act.${action}`), onclick: () => act(site, a, action) }))))));
      blocks.push(h("div", { class: "remote-alarm-site", "data-remote-site": site.name },
        h("h3", {}, site.name, site.online ? null : h("span", { class: "badge offline", text: ` ${t("ra.offline")}` })),
        error ? h("p", { class: "muted", text: t("ra.error", { error }) }) : null,
        alarms && !alarms.length ? h("p", { class: "muted", text: t("ra.none") }) : null,
        items.length ? h("ul", { class: "alarm-list", "aria-label": site.name }, items) : null));
    }
    if (disposed || mine !== generation) return;
    clear(body).append(...blocks);
    box.hidden = !blocks.length;
    box.dataset.loads = String(Number(box.dataset.loads || 0) + 1);
    timer = setTimeout(load, sites.length ? POLL_MS : IDLE_MS);
  };

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let pushed;
  const onPush = (/** @type {Event} */ e) => {
    const m = /** @type {CustomEvent} */ (e).detail || {};
    // A new (or reopened) remote alarm sounds as a local one does (mute applies alike).
    if ((m.change === "created" || m.change === "reopened") && beep(m.priority)) box.dataset.lastSound = m.priority;
    if (pushed !== undefined) return;
    const wait = Math.max(PUSH_DELAY_MS, lastRead + MIN_READ_GAP_MS - Date.now());
    pushed = setTimeout(() => { pushed = undefined; load(); }, wait);
  };
  ctx.events.addEventListener("remote_alarm", onPush);
  ctx.events.addEventListener("resync", onPush); // the centre's socket reconnected: changes may have been missed
  load();
  return {
    el: box,
    reload: load,
    dispose() {
      disposed = true;
      clearTimeout(timer);
      clearTimeout(pushed);
      ctx.events.removeEventListener("remote_alarm", onPush);
      ctx.events.removeEventListener("resync", onPush);
    },
  };
}
