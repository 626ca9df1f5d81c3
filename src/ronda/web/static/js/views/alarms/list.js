// @ts-check
// The alarm list: filtered by state and priority (kept for the session), most urgent first, with
// keyboard navigation (arrows, Home, End; Enter or Space opens the alarm).
import { errorText } from "../../api.js";
import { clear, h, toast } from "../../dom.js";
import { formatTime, t } from "../../i18n.js";

const OPEN = ["new", "in_progress", "on_hold"];
const FILTER_KEY = "ronda.alarms.filter";
const FOCUS_KEY = "ronda.alarms.focus";

/**
 * An alarm as the API sends it (the fields the view reads).
 * @typedef {{ id: number, state: string, priority: string, priority_num: number, created: string, title: string,
 *   owner?: string | null, cameras?: number[], [key: string]: any }} Alarm
 */
/** @typedef {{ state: string, priority: string }} Filter */

/** @returns {Filter} */
function loadFilter() {
  try {
    return { state: "open", priority: "", ...JSON.parse(sessionStorage.getItem(FILTER_KEY) || "{}") };
  } catch {
    return { state: "open", priority: "" };
  }
}

/** @param {Alarm} a @param {Filter} f */
export function matches(a, f) {
  const stateOk = f.state === "all" || (f.state === "open" ? OPEN.includes(a.state) : a.state === f.state);
  return stateOk && (!f.priority || a.priority === f.priority);
}

/** @param {Alarm} a @param {Alarm} b */
function byUrgency(a, b) {
  return a.priority_num - b.priority_num || Date.parse(b.created) - Date.parse(a.created) || b.id - a.id;
}

export class AlarmList {
  filter = loadFilter();
  /** @type {Map<number, Alarm>} every alarm known, by id */
  alarms = new Map();
  request = 0;

  /**
   * @param {import("../../app.js").AppContext} ctx
   * @param {{ selected: number | null, camNames: (a: Alarm) => string, disposed: () => boolean,
   *   detail: () => Alarm | null }} view the alarm open in the detail (its newer copy wins)
   */
  constructor(ctx, view) {
    this.ctx = ctx;
    this.view = view;
    this.focusId = view.selected;
    const f = this.filter;
    this.stateSel = h("select", { "aria-label": t("alarms.state"), "data-testid": "alarm-filter-state" },
      ...["open", "all", "closed"].map((s) => h("option", { value: s, selected: f.state === s, text: t(`alarms.filter.${s}`) })));
    this.prioSel = h("select", { "aria-label": t("alarms.priority"), "data-testid": "alarm-filter-priority" },
      h("option", { value: "", text: t("alarms.any") }),
      ...["high", "medium", "low"].map((p) => h("option", { value: p, selected: f.priority === p, text: t(`prio.${p}`) })));
    this.count = h("span", { class: "muted count" });
    this.el = h("ul", { class: "alarm-list", role: "listbox", "aria-label": t("alarms.title") });
    this.el.addEventListener("keydown", (e) => this.onKey(e));
    for (const [sel, key] of /** @type {[HTMLSelectElement, keyof Filter][]} */ ([[this.stateSel, "state"], [this.prioSel, "priority"]])) {
      sel.addEventListener("change", () => {
        f[key] = sel.value;
        sessionStorage.setItem(FILTER_KEY, JSON.stringify(f));
        this.load().catch((e) => toast(errorText(e), "error"));
      });
    }
  }

  render() {
    const { el: list, view } = this;
    const selected = view.selected;
    const rows = [...this.alarms.values()].filter((a) => matches(a, this.filter)).sort(byUrgency);
    const hadFocus = list.contains(document.activeElement);
    clear(list);
    this.count.textContent = String(rows.length);
    if (!rows.length) list.append(h("li", { class: "muted empty", role: "presentation", text: t("alarms.empty") }));
    if (!rows.some((a) => a.id === this.focusId)) this.focusId = rows.length ? rows[0].id : null;
    for (const a of rows) {
      const li = h("li", {
        role: "option", tabindex: a.id === this.focusId ? "0" : "-1", "data-testid": "alarm-item", "data-alarm-id": a.id,
        "data-state": a.state, "data-priority": a.priority, "aria-selected": String(a.id === selected),
        class: `alarm-item prio-${a.priority} state-${a.state}${a.id === selected ? " selected" : ""}`,
      },
        h("span", { class: `prio-chip prio-${a.priority}`, text: t(`prio.${a.priority}`) }),
        h("div", { class: "alarm-main" },
          h("div", { class: "alarm-title", text: a.title }),
          h("div", { class: "alarm-meta" },
            h("span", { class: `state-chip state-${a.state}`, text: t(`state.${a.state}`) }),
            h("span", { text: view.camNames(a) }),
            h("time", { datetime: a.created, text: formatTime(a.created, {}, this.ctx.siteTimeZone) }),
            a.owner ? h("span", { text: `→ ${a.owner}` }) : null)));
      li.addEventListener("click", () => this.open(a.id));
      list.append(li);
    }
    if (hadFocus) this.focusItem(this.focusId);
  }

  /** @param {number} id */
  focusItem(id) {
    const li = /** @type {HTMLElement | null} */ (this.el.querySelector(`[data-alarm-id="${id}"]`));
    if (!li) return;
    this.focusId = id;
    for (const x of this.el.querySelectorAll("[data-alarm-id]")) x.setAttribute("tabindex", x === li ? "0" : "-1");
    li.focus();
  }

  // Back on the list, the focus returns to the alarm opened last.
  focusLast() {
    const last = Number(sessionStorage.getItem(FOCUS_KEY));
    if (last && this.el.querySelector(`[data-alarm-id="${last}"]`)) this.focusItem(last);
  }

  /** @param {number} id */
  open(id) {
    this.focusId = id;
    sessionStorage.setItem(FOCUS_KEY, String(id));
    this.ctx.navigate(`/alarms/${id}`);
  }

  /** @param {KeyboardEvent} e */
  onKey(e) {
    const li = /** @type {HTMLElement} */ (e.target).closest("[data-alarm-id]");
    if (!li) return;
    const items = /** @type {HTMLElement[]} */ ([...this.el.querySelectorAll("[data-alarm-id]")]);
    const i = items.indexOf(/** @type {HTMLElement} */ (li));
    const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1 }[e.key];
    if (to !== undefined) {
      const next = items[Math.max(0, Math.min(items.length - 1, to))];
      this.focusItem(Number(next.dataset.alarmId));
    } else if (e.key === "Enter" || e.key === " ") this.open(Number(/** @type {HTMLElement} */ (li).dataset.alarmId));
    else return;
    e.preventDefault();
  }

  async load() {
    const { filter, alarms } = this;
    const q = new URLSearchParams({ limit: "500" });
    if (filter.state !== "all") q.set("state", filter.state);
    if (filter.priority) q.set("priority", filter.priority);
    const mine = ++this.request;
    const rows = await this.ctx.api.call(`/api/v1/alarms?${q}`);
    if (this.view.disposed() || mine !== this.request) return; // a newer filter's answer wins, whatever the order
    alarms.clear();
    for (const a of rows) alarms.set(a.id, a);
    const detail = this.view.detail();
    if (detail) alarms.set(detail.id, { ...alarms.get(detail.id), ...detail });
    this.render();
  }
}
