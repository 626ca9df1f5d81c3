// @ts-check
// Alarm manager (#/alarms, #/alarms/<id>): the live list, most urgent first, with a sound per priority
// for new alarms; the detail with instructions, history, the related cameras live, the recording from
// before the alarm, and the lifecycle buttons (take, comment, hold, resume, close, reopen).
import { errorText } from "../api.js";
import { clear, h, loadCss, toast } from "../dom.js";
import { formatTime, t } from "../i18n.js";
import "./alarms/strings.js";
import { AlarmMedia } from "./alarms/media.js";
import { pushButton } from "../push.js";

const OPEN = ["new", "in_progress", "on_hold"];
const FILTER_KEY = "ronda.alarms.filter";
const MUTE_KEY = "ronda.alarms.muted";
// Which actions a state allows (the server refuses the others with 409).
const ACTIONS = {
  take: (a, me) => a.state !== "closed" && a.owner_id !== me.id,
  comment: () => true,
  hold: (a) => a.state === "new" || a.state === "in_progress",
  resume: (a) => a.state === "on_hold",
  close: (a) => a.state !== "closed",
  reopen: (a) => a.state === "closed",
};
const NEEDS_TEXT = { comment: true, close: true, reopen: true, hold: false };

// --- sound: a short beep pattern per priority, generated (no audio files) -----------------------
let audio = null;
let activated = false; // browsers without navigator.userActivation: our own record of a first gesture
for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, () => (activated = true), { once: true, capture: true });

function userHasInteracted() {
  return navigator.userActivation ? navigator.userActivation.hasBeenActive : activated;
}

function muted() {
  return localStorage.getItem(MUTE_KEY) === "1";
}

// Plays the pattern of `priority`; false when muted or before the user's first gesture (a page may
// not start sound by itself, and an operator must never be startled by a tab opened in the background).
function beep(priority) {
  if (muted() || !userHasInteracted() || typeof AudioContext === "undefined") return false;
  audio ||= new AudioContext();
  if (audio.state === "suspended") audio.resume().catch(() => {});
  const [freq, count, wave] = { high: [880, 3, "square"], medium: [660, 2, "triangle"], low: [440, 1, "sine"] }[priority] || [440, 1, "sine"];
  let t0 = audio.currentTime + 0.02;
  for (let i = 0; i < count; i++) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = wave;
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t0);
    gain.gain.exponentialRampToValueAtTime(0.25, t0 + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.16);
    osc.connect(gain).connect(audio.destination);
    osc.start(t0);
    osc.stop(t0 + 0.18);
    t0 += 0.24;
  }
  return true;
}

// --- helpers ------------------------------------------------------------------------------------
function loadFilter() {
  try {
    return { state: "open", priority: "", ...JSON.parse(sessionStorage.getItem(FILTER_KEY) || "{}") };
  } catch {
    return { state: "open", priority: "" };
  }
}

function matches(a, f) {
  const stateOk = f.state === "all" || (f.state === "open" ? OPEN.includes(a.state) : a.state === f.state);
  return stateOk && (!f.priority || a.priority === f.priority);
}

function byUrgency(a, b) {
  return a.priority_num - b.priority_num || Date.parse(b.created) - Date.parse(a.created) || b.id - a.id;
}

// A modal asking for a text (close and reopen need a reason); resolves to the text or null.
function ask(t, label, required) {
  return new Promise((resolve) => {
    const area = h("textarea", { rows: 3, maxlength: 2000, required, "data-testid": "alarm-text" });
    const dlg = h("dialog", { class: "alarm-dialog", "aria-label": label },
      h("form", { method: "dialog" },
        h("label", {}, label, area),
        h("div", { class: "buttons" },
          h("button", { type: "button", value: "cancel", text: t("common.cancel"), onclick: () => dlg.close("cancel") }),
          h("button", { type: "submit", value: "ok", class: "primary", "data-testid": "alarm-text-ok", text: t("act.confirm") }))));
    dlg.addEventListener("close", () => {
      const text = area.value.trim();
      dlg.remove();
      resolve(dlg.returnValue === "ok" && (text || !required) ? text : null);
    });
    document.body.append(dlg);
    dlg.showModal();
    area.focus();
  });
}

// --- the view -----------------------------------------------------------------------------------
export default {
  id: "alarms",
  right: null,
  async render(root, ctx, params) {
    loadCss("css/alarms.css");
    const me = ctx.me || {};
    const selected = params.rest && params.rest[0] ? Number(params.rest[0]) : null;
    const filter = loadFilter();
    const alarms = new Map();
    let cameras = new Map();
    let disposed = false;
    let detailAlarm = null;

    const camName = (id) => (cameras.get(id) || {}).name || `#${id}`;
    const camNames = (a) => (a.cameras && a.cameras.length ? a.cameras.map(camName).join(", ") : t("alarms.site"));

    // ---- header: filters, mute, push opt-in
    const stateSel = h("select", { "aria-label": t("alarms.state"), "data-testid": "alarm-filter-state" },
      ...["open", "all", "closed"].map((s) => h("option", { value: s, selected: filter.state === s, text: t(`alarms.filter.${s}`) })));
    const prioSel = h("select", { "aria-label": t("alarms.priority"), "data-testid": "alarm-filter-priority" },
      h("option", { value: "", text: t("alarms.any") }),
      ...["high", "medium", "low"].map((p) => h("option", { value: p, selected: filter.priority === p, text: t(`prio.${p}`) })));
    const muteBtn = h("button", { type: "button", class: "mute", "data-testid": "alarm-mute" });
    const showMute = () => {
      muteBtn.textContent = muted() ? t("alarms.sound.off") : t("alarms.sound.on");
      muteBtn.title = muted() ? t("alarms.unmute") : t("alarms.mute");
      muteBtn.setAttribute("aria-label", t("alarms.mute"));
      muteBtn.setAttribute("aria-pressed", String(muted()));
    };
    muteBtn.addEventListener("click", () => {
      localStorage.setItem(MUTE_KEY, muted() ? "0" : "1");
      showMute();
    });
    showMute();
    const count = h("span", { class: "muted count" });
    const list = h("ul", { class: "alarm-list", role: "listbox", "aria-label": t("alarms.title") });
    const listPane = h("section", { class: "alarm-list-pane" },
      h("div", { class: "alarm-head" }, h("h1", { text: t("alarms.title") }), count,
        h("span", { class: "spacer" }), stateSel, prioSel, muteBtn, pushButton(ctx.api)),
      list);
    const detailPane = h("section", { class: "alarm-detail-pane", "aria-label": t("alarms.title") });
    const view = h("div", { class: `alarms${selected ? " has-detail" : ""}` }, listPane, detailPane);
    root.append(view);

    // ---- the list
    let focusId = selected;
    function renderList() {
      const rows = [...alarms.values()].filter((a) => matches(a, filter)).sort(byUrgency);
      const hadFocus = list.contains(document.activeElement);
      clear(list);
      count.textContent = String(rows.length);
      if (!rows.length) list.append(h("li", { class: "muted empty", role: "presentation", text: t("alarms.empty") }));
      if (!rows.some((a) => a.id === focusId)) focusId = rows.length ? rows[0].id : null;
      for (const a of rows) {
        const li = h("li", {
          role: "option", tabindex: a.id === focusId ? "0" : "-1", "data-testid": "alarm-item", "data-alarm-id": a.id,
          "data-state": a.state, "data-priority": a.priority, "aria-selected": String(a.id === selected),
          class: `alarm-item prio-${a.priority} state-${a.state}${a.id === selected ? " selected" : ""}`,
        },
          h("span", { class: `prio-chip prio-${a.priority}`, text: t(`prio.${a.priority}`) }),
          h("div", { class: "alarm-main" },
            h("div", { class: "alarm-title", text: a.title }),
            h("div", { class: "alarm-meta" },
              h("span", { class: `state-chip state-${a.state}`, text: t(`state.${a.state}`) }),
              h("span", { text: camNames(a) }),
              h("time", { datetime: a.created, text: formatTime(a.created, {}, ctx.siteTimeZone) }),
              a.owner ? h("span", { text: `→ ${a.owner}` }) : null)));
        li.addEventListener("click", () => open(a.id));
        list.append(li);
      }
      if (hadFocus) focusItem(focusId);
    }

    function focusItem(id) {
      const li = list.querySelector(`[data-alarm-id="${id}"]`);
      if (!li) return;
      focusId = id;
      for (const x of list.querySelectorAll("[data-alarm-id]")) x.setAttribute("tabindex", x === li ? "0" : "-1");
      li.focus();
    }

    function open(id) {
      focusId = id;
      sessionStorage.setItem("ronda.alarms.focus", String(id));
      ctx.navigate(`/alarms/${id}`);
    }

    list.addEventListener("keydown", (e) => {
      const li = e.target.closest("[data-alarm-id]");
      if (!li) return;
      const items = [...list.querySelectorAll("[data-alarm-id]")];
      const i = items.indexOf(li);
      const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1 }[e.key];
      if (to !== undefined) {
        const next = items[Math.max(0, Math.min(items.length - 1, to))];
        focusItem(Number(next.dataset.alarmId));
      } else if (e.key === "Enter" || e.key === " ") open(Number(li.dataset.alarmId));
      else return;
      e.preventDefault();
    });

    let listRequest = 0;
    async function loadList() {
      const q = new URLSearchParams({ limit: "500" });
      if (filter.state !== "all") q.set("state", filter.state);
      if (filter.priority) q.set("priority", filter.priority);
      const mine = ++listRequest;
      const rows = await ctx.api.call(`/api/v1/alarms?${q}`);
      if (disposed || mine !== listRequest) return; // a newer filter's answer wins, whatever the order
      alarms.clear();
      for (const a of rows) alarms.set(a.id, a);
      if (detailAlarm) alarms.set(detailAlarm.id, { ...alarms.get(detailAlarm.id), ...detailAlarm });
      renderList();
    }
    for (const [sel, key] of [[stateSel, "state"], [prioSel, "priority"]]) {
      sel.addEventListener("change", () => {
        filter[key] = sel.value;
        sessionStorage.setItem(FILTER_KEY, JSON.stringify(filter));
        loadList().catch((e) => toast(errorText(e), "error"));
      });
    }

    // ---- the detail
    const info = h("div", { class: "alarm-info" });
    const mediaView = new AlarmMedia(ctx, {
      camera: (id) => cameras.get(id),
      camName,
      current: (id) => !disposed && detailAlarm?.id === id,
    });
    const media = mediaView.el;

    function renderInfo(a) {
      clear(info);
      const back = h("button", { type: "button", class: "link back", "data-testid": "alarm-back", text: `← ${t("alarms.back")}`,
        onclick: () => ctx.navigate("/alarms") });
      const title = h("h2", { tabindex: "-1", text: a.title });
      const chips = h("div", { class: "chips" },
        h("span", { class: `prio-chip prio-${a.priority}`, text: t(`prio.${a.priority}`) }),
        h("span", { class: `state-chip state-${a.state}`, "data-testid": "alarm-state", text: t(`state.${a.state}`) }),
        h("span", { class: "muted", text: a.category }),
        a.escalation_level ? h("span", { class: "esc", text: t("alarms.escalation", { n: a.escalation_level }) }) : null);
      const facts = h("dl", { class: "facts" },
        h("dt", { text: t("alarms.owner") }), h("dd", { "data-testid": "alarm-owner", text: a.owner || "—" }),
        h("dt", { text: t("alarms.cameras") }), h("dd", { text: camNames(a) }),
        h("dt", { text: t("alarms.first") }), h("dd", { text: formatTime(a.first_event, {}, ctx.siteTimeZone) }),
        h("dt", { text: t("alarms.last") }), h("dd", { text: formatTime(a.last_event, {}, ctx.siteTimeZone) }),
        h("dt", { text: t("alarms.events") }), h("dd", { text: String(a.event_count) }));
      let actions;
      if (a.may_handle) {
        actions = h("div", { class: "actions", role: "group", "aria-label": t("alarms.title") },
          ...Object.entries(ACTIONS).filter(([, allowed]) => allowed(a, me)).map(([action]) =>
            h("button", { type: "button", class: action === "close" ? "danger" : action === "take" ? "primary" : "",
              "data-action": action, "data-testid": `alarm-${action}`, text: t(`act.${action}`), onclick: () => act(a, action) })));
      } else {
        actions = h("p", { class: "muted", text: t("alarms.readOnly") });
      }
      const history = h("ol", { class: "history", "data-testid": "alarm-history" },
        ...(a.history || []).slice().reverse().map((e) =>
          h("li", {}, h("time", { datetime: e.time, text: formatTime(e.time, {}, ctx.siteTimeZone) }), " ",
            h("strong", { text: t(`hist.${e.action}`) === `hist.${e.action}` ? e.action : t(`hist.${e.action}`) }), " ",
            h("span", { class: "muted", text: e.actor }), e.text ? h("div", { class: "entry-text", text: e.text }) : null)));
      info.append(...[back, title, chips, facts,
        a.instructions ? h("section", { class: "instructions" }, h("h3", { text: t("alarms.instructions") }), h("p", { text: a.instructions })) : null,
        actions,
        a.close_reason ? h("p", { class: "muted", text: `${t("act.close")}: ${a.close_reason}` }) : null,
        h("section", {}, h("h3", { text: t("alarms.history") }), history)].filter(Boolean));
      return title;
    }

    async function loadDetail(id, { focus = false, withMedia = false } = {}) {
      const a = await ctx.api.call(`/api/v1/alarms/${id}`);
      if (disposed) return;
      detailAlarm = a;
      alarms.set(a.id, { ...(alarms.get(a.id) || {}), ...a });
      const title = renderInfo(a);
      if (withMedia) mediaView.render(a);
      renderList();
      if (focus) title.focus();
    }

    async function act(a, action) {
      let text = "";
      if (action in NEEDS_TEXT) {
        const answer = await ask(t, t(`ask.${action}`), NEEDS_TEXT[action]);
        if (answer === null) return;
        text = answer;
      }
      try {
        const updated = await ctx.api.call(`/api/v1/alarms/${a.id}/${action}`, { method: "POST", body: { text } });
        alarms.set(updated.id, { ...(alarms.get(updated.id) || {}), ...updated });
        toast(t("alarms.done", { id: a.id, action: t(`act.${action}`) }));
        await loadDetail(a.id);
      } catch (e) {
        toast(`${t(`act.${action}`)}: ${errorText(e)}`, "error");
      }
    }

    if (selected) {
      detailPane.classList.add("has-alarm");
      detailPane.append(info, media);
      detailPane.addEventListener("keydown", (e) => {
        if (e.key === "Escape" && !e.target.closest("dialog, input, select, textarea")) {
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
      const known = alarms.get(a.id);
      if ((change === "created" || change === "reopened") && matches(a, filter) && beep(a.priority)) view.dataset.lastSound = a.priority;
      alarms.set(a.id, { ...(known || {}), ...a });
      renderList();
      if (detailAlarm && detailAlarm.id === a.id) {
        clearTimeout(detailRefresh); // the detail's history changed too: read it again, once per burst
        detailRefresh = setTimeout(() => loadDetail(a.id).catch(() => {}), 300);
      }
    };
    const onResync = () => loadList().catch(() => {});
    ctx.events.addEventListener("alarm", onAlarm);
    ctx.events.addEventListener("resync", onResync);

    try {
      const [cams] = await Promise.all([ctx.api.call("/api/v1/cameras"), loadList()]);
      cameras = new Map(cams.map((c) => [c.id, c]));
      renderList();
      if (selected) await loadDetail(selected, { withMedia: true, focus: true });
      else {
        const last = Number(sessionStorage.getItem("ronda.alarms.focus"));
        if (last && list.querySelector(`[data-alarm-id="${last}"]`)) focusItem(last);
      }
    } catch (e) {
      (selected ? info : list).append(h("p", { class: "error", role: "alert", text: `${t("common.error")}: ${errorText(e)}` }));
    }

    return () => {
      disposed = true;
      clearTimeout(detailRefresh);
      ctx.events.removeEventListener("alarm", onAlarm);
      ctx.events.removeEventListener("resync", onResync);
      mediaView.stop();
      for (const d of document.querySelectorAll("dialog.alarm-dialog")) d.remove();
    };
  },
};
