// @ts-check
// The PTZ panel of a dome's single view (docs/ptz.md): the joystick (ptzpad.js), zoom, home, stop,
// presets and patrols (ptzlists.js), who holds the dome and until when, and the takeover message of a
// 409 (another user of equal or higher priority holds or reserved the dome: the controls are off until
// their session ends). Shown for a camera with `ptz: true` where the user has the `ptz` right.
import { ApiError, errorText } from "../../api.js";
import { h, toast } from "../../dom.js";
import { formatTime } from "../../i18n.js";
import { joystick, Mover } from "./ptzpad.js";
import { presetList, patrolList } from "./ptzlists.js";

const POLL_MS = 2000;
const ZOOM_STEP = 0.1;

/** @param {{ ptz?: boolean, rights?: string[] }} cam */
export function canSteer(cam) {
  return Boolean(cam.ptz) && (cam.rights || []).includes("ptz");
}

/**
 * The API, keeping the fields of a 409 beside its detail (`code`, `holder`, `until`).
 * @param {import("../../app.js").AppContext} ctx @param {string} path @param {string} [method] @param {object} [body]
 */
export async function ptzCall(ctx, path, method = "GET", body = undefined) {
  const res = await ctx.api.call(path, { method, body, raw: true });
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new ApiError(res.status, (data && data.detail) || res.statusText, (data && data.code) || null);
    throw Object.assign(err, { holder: data && data.holder, until: data && data.until });
  }
  return data;
}

export class PtzPanel {
  /** @param {import("../../app.js").AppContext} ctx @param {{ id: number, name: string }} cam */
  constructor(ctx, cam) {
    this.ctx = ctx;
    this.base = `/api/v1/cameras/${cam.id}/ptz`;
    this.me = ctx.me && ctx.me.username;
    this.blockedUntil = 0;
    this.disposed = false;
    const t = ctx.t;
    this.status = h("p", { class: "ptz-status", "aria-live": "polite", "data-testid": "ptz-status" });
    this.position = h("p", { class: "ptz-position muted", "data-testid": "ptz-position" });
    this.alert = h("p", { class: "ptz-takeover", role: "alert", hidden: true, "data-testid": "ptz-takeover" });
    this.mover = new Mover((s) => this.command({ action: "continuous", ...s }), () => this.command({ action: "stop" }));
    this.pad = joystick({ label: t("ptz.pad"), onSpeeds: (s) => this.mover.hold({ ...s, zoom: 0 }),
      onZoom: (dir) => this.zoom(dir) });
    const btn = (id, label, text, fn) => h("button", { type: "button", class: "ptz-btn", "data-testid": `ptz-${id}`,
      "aria-label": t(label), title: t(label), text, onclick: fn });
    /** @type {HTMLButtonElement[]} */
    this.commandButtons = [
      btn("zoom-in", "ptz.zoomIn", "+", () => this.zoom(1)),
      btn("zoom-out", "ptz.zoomOut", "−", () => this.zoom(-1)),
      btn("home", "ptz.home", "⌂", () => this.command({ action: "home" })),
      btn("stop", "ptz.stop", "■", () => this.command({ action: "stop" })),
    ];
    this.presets = presetList(this);
    this.patrols = patrolList(this);
    this.el = h("section", { class: "ptz-panel", "aria-label": t("ptz.title", { name: cam.name }), "data-testid": "ptz-panel" },
      this.status, this.alert,
      h("div", { class: "ptz-steer" }, this.pad.el, h("div", { class: "ptz-buttons" }, ...this.commandButtons)),
      this.position, this.presets.el, this.patrols.el);
    this._stopAll = () => this.pad.end();
    this._hidden = () => document.hidden && this.pad.end();
    window.addEventListener("blur", this._stopAll);
    document.addEventListener("visibilitychange", this._hidden);
    this.poll = setInterval(() => this.refresh(), POLL_MS);
    this.refresh();
    this.presets.load();
    this.patrols.load();
  }

  /** Arrow keys on the video steer too. @param {HTMLElement} el */
  keysOn(el) {
    this.pad.keysOn(el);
  }

  /** A PTZ route of this dome (`sub`: after `…/ptz`). @param {string} sub @param {string} [method] @param {object} [body] */
  call(sub, method = "GET", body = undefined) {
    return ptzCall(this.ctx, this.base + sub, method, body);
  }

  /** One command; its answer is the dome's state. @param {Record<string, unknown>} body */
  async command(body) {
    if (this.disposed && body.action !== "stop") return null;
    return this.run(() => this.call("", "POST", body));
  }

  /** @param {number} dir */
  zoom(dir) {
    return this.command({ action: "relative", pan: 0, tilt: 0, zoom: dir * ZOOM_STEP });
  }

  /**
   * Runs a call that may be refused because someone else holds the dome; shows its answer's state.
   * @param {() => Promise<any>} fn
   */
  async run(fn) {
    try {
      const out = await fn();
      if (out && "holder" in out) this.show(out);
      return out;
    } catch (e) {
      if (e instanceof ApiError && e.status === 409 && /** @type {any} */ (e).holder) this.busy(/** @type {any} */ (e));
      else if (!this.disposed) toast(`${this.ctx.t("ptz.error")}: ${errorText(e)}`, "error");
      return null;
    }
  }

  /** @param {string | null} iso */
  time(iso) {
    return iso ? formatTime(iso, { hour: "2-digit", minute: "2-digit", second: "2-digit" }, this.ctx.siteTimeZone) : "";
  }

  /** The takeover message; the controls are off until the holder's session (or reservation) ends. */
  busy(/** @type {{ code: string, holder: string, until: string }} */ e) {
    if (this.disposed) return;
    const t = this.ctx.t;
    const key = e.code === "ptz_reserved" ? "ptz.reserved" : "ptz.busy";
    this.alert.textContent = t(key, { holder: e.holder, until: this.time(e.until) });
    this.alert.hidden = false;
    this.alert.dataset.holder = e.holder;
    this.alert.dataset.code = e.code;
    this.blockedUntil = Math.max(Date.parse(e.until) || 0, Date.now() + 1000);
    this.setBlocked(true);
    clearTimeout(this.unblock);
    this.unblock = setTimeout(() => this.setBlocked(false), Math.min(this.blockedUntil - Date.now(), 86_400_000));
  }

  /** @param {boolean} on */
  setBlocked(on) {
    if (this.disposed) return;
    if (!on) {
      this.alert.hidden = true;
      this.blockedUntil = 0;
    }
    this.mover.drop();
    this.pad.disable(on);
    for (const b of [...this.commandButtons, ...this.presets.commandButtons()]) b.disabled = on;
    this.el.classList.toggle("blocked", on);
  }

  async refresh() {
    const st = await this.call("").catch(() => null);
    if (st && !this.disposed) this.show(st);
  }

  /** The status line from a state (`position` only in GET). */
  show(/** @type {any} */ st) {
    const t = this.ctx.t;
    const parts = [];
    if (!st.holder) parts.push(t("ptz.free"));
    else if (st.holder === this.me) parts.push(t("ptz.mine", { until: this.time(st.until) }));
    else parts.push(t("ptz.held", { holder: st.holder, until: this.time(st.until) }));
    if (st.reservation) parts.push(t("ptz.reservation", { by: st.reservation.by, until: this.time(st.reservation.until) }));
    if (st.patrol) parts.push(t("ptz.patrolState", { name: st.patrol.name, state: t(`ptz.patrol.${st.patrol.state}`) }));
    this.status.textContent = parts.join(" · ");
    this.status.dataset.holder = st.holder || "";
    this.el.classList.toggle("moving", Boolean(st.moving));
    if (st.position) {
      const f = (/** @type {number} */ v) => v.toFixed(2);
      this.position.textContent = t("ptz.position", { pan: f(st.position.pan), tilt: f(st.position.tilt), zoom: f(st.position.zoom) });
      Object.assign(this.position.dataset, { pan: String(st.position.pan), tilt: String(st.position.tilt), zoom: String(st.position.zoom) });
    }
    this.patrols.show(st.patrol);
    // still refused: the user who took the dome over (or reserved it) keeps it longer than first said
    const by = this.alert.hidden ? null : this.alert.dataset.holder;
    const code = this.alert.dataset.code;
    const until = code === "ptz_reserved" ? st.reservation && st.reservation.by === by && st.reservation.until : st.holder === by && st.until;
    if (by && until && Date.parse(until) > this.blockedUntil) this.busy({ code, holder: by, until });
  }

  dispose() {
    this.pad.end(); // a move still held is stopped (the request goes out before the page changes)
    this.disposed = true;
    clearInterval(this.poll);
    clearTimeout(this.unblock);
    window.removeEventListener("blur", this._stopAll);
    document.removeEventListener("visibilitychange", this._hidden);
  }
}
