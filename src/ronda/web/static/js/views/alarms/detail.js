// @ts-check
// An alarm's detail: instructions, facts, history, and the lifecycle buttons (take, comment, hold,
// resume, close, reopen); the media (cameras live, the recording before the alarm) is media.js.
import { errorText } from "../../api.js";
import { clear, h, toast } from "../../dom.js";
import { formatTime, t } from "../../i18n.js";
import { ask } from "./dialog.js";
import { AlarmMedia } from "./media.js";

/** @typedef {import("./list.js").Alarm} Alarm */

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

export class AlarmDetail {
  /** @type {Alarm | null} the alarm shown */
  alarm = null;
  info = h("div", { class: "alarm-info" });
  /** @type {string[]} object URLs of the pictures shown (revoked when the detail is drawn again) */
  urls = [];

  /**
   * @param {import("../../app.js").AppContext} ctx
   * @param {{ list: import("./list.js").AlarmList, camera: (id: number) => any, camName: (id: number) => string,
   *   camNames: (a: Alarm) => string, disposed: () => boolean }} view
   */
  constructor(ctx, view) {
    this.ctx = ctx;
    this.view = view;
    this.media = new AlarmMedia(ctx, {
      camera: view.camera,
      camName: view.camName,
      current: (id) => !view.disposed() && this.alarm?.id === id,
    });
  }

  /** @param {Alarm} a @returns {HTMLElement} the title, to focus */
  renderInfo(a) {
    const { ctx, info } = this;
    const me = ctx.me || {};
    const when = (/** @type {string} */ iso) => formatTime(iso, {}, ctx.siteTimeZone);
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
      h("dt", { text: t("alarms.cameras") }), h("dd", { text: this.view.camNames(a) }),
      h("dt", { text: t("alarms.first") }), h("dd", { text: when(a.first_event) }),
      h("dt", { text: t("alarms.last") }), h("dd", { text: when(a.last_event) }),
      h("dt", { text: t("alarms.events") }), h("dd", { text: String(a.event_count) }));
    let actions;
    if (a.may_handle) {
      actions = h("div", { class: "actions", role: "group", "aria-label": t("alarms.title") },
        ...Object.entries(ACTIONS).filter(([, allowed]) => allowed(a, me)).map(([action]) =>
          h("button", { type: "button", class: action === "close" ? "danger" : action === "take" ? "primary" : "",
            "data-action": action, "data-testid": `alarm-${action}`, text: t(`act.${action}`), onclick: () => this.act(a, action) })));
    } else {
      actions = h("p", { class: "muted", text: t("alarms.readOnly") });
    }
    // One click: a case from the alarm's events (the server checks the cases right on their cameras).
    const openCase = ctx.can("cases") ? h("button", { type: "button", "data-testid": "alarm-open-case", text: t("alarms.openCase"),
      onclick: () => this.openCase(a) }) : null;
    const history = h("ol", { class: "history", "data-testid": "alarm-history" },
      ...(a.history || []).slice().reverse().map((e) =>
        h("li", {}, h("time", { datetime: e.time, text: when(e.time) }), " ",
          h("strong", { text: t(`hist.${e.action}`) === `hist.${e.action}` ? e.action : t(`hist.${e.action}`) }), " ",
          h("span", { class: "muted", text: e.actor }), e.text ? h("div", { class: "entry-text", text: e.text }) : null)));
    info.append(...[back, title, chips, facts,
      a.instructions ? h("section", { class: "instructions" }, h("h3", { text: t("alarms.instructions") }), h("p", { text: a.instructions })) : null,
      this.pictures(a), actions, openCase,
      a.close_reason ? h("p", { class: "muted", text: `${t("act.close")}: ${a.close_reason}` }) : null,
      h("section", {}, h("h3", { text: t("alarms.history") }), history)].filter(Boolean));
    return title;
  }

  /**
   * What the analytics saw: each event's snapshot (box drawn) and its extra images (graffiti and tamper:
   * before/after), the plate a dumping names (shown only to who may read it: the server leaves it out
   * otherwise) and a button that plays the footage of who brought the object.
   * @param {Alarm} a @returns {HTMLElement | null}
   */
  pictures(a) {
    for (const u of this.urls.splice(0)) URL.revokeObjectURL(u);
    const events = /** @type {any[]} */ ((/** @type {any} */ (a)).events || []).filter((e) => e.snapshot || e.payload?.clip || e.payload?.plate);
    if (!events.length) return null;
    const when = (/** @type {string} */ iso) => formatTime(iso, {}, this.ctx.siteTimeZone);
    const figures = events.flatMap((e) => {
      const base = `/api/v1/events/${e.id}/snapshot.jpg`;
      const names = Array.isArray(e.payload?.images) ? e.payload.images.filter((n) => typeof n === "string") : [];
      const shots = e.snapshot ? [[base, e.type], ...names.map((n) => [`${base}?image=${encodeURIComponent(n)}`, `${e.type} · ${t(`alarms.image.${n}`) === `alarms.image.${n}` ? n : t(`alarms.image.${n}`)}`])] : [];
      const out = shots.map(([url, caption]) => {
        const img = /** @type {HTMLImageElement} */ (h("img", { class: "alarm-picture", alt: caption, "data-testid": "alarm-picture" }));
        this.picture(img, url);
        return h("figure", {}, img, h("figcaption", { class: "muted", text: caption }));
      });
      const plate = e.payload?.plate;
      if (plate && typeof plate === "object" && plate.plate) {
        out.push(h("p", { "data-testid": "alarm-dumping-plate", text: t("alarms.dumpingPlate", { plate: plate.plate }) }));
      }
      const clip = e.payload?.clip;
      if (clip && Number.isFinite(clip.start_ms) && e.camera) {
        const at = new Date(clip.start_ms).toISOString();
        out.push(h("button", { type: "button", "data-testid": "alarm-play-carrier", text: `${t("alarms.playCarrier")} (${when(at)})`,
          onclick: () => this.ctx.navigate(`/playback?cameras=${e.camera}&at=${encodeURIComponent(at)}`) }));
      }
      return out;
    });
    return h("section", { class: "alarm-pictures", "data-testid": "alarm-pictures" }, h("h3", { text: t("alarms.pictures") }), ...figures);
  }

  /** An event picture as an object URL (the API needs the session; an <img> cannot send it). @param {HTMLImageElement} img @param {string} url */
  async picture(img, url) {
    try {
      const u = await this.ctx.api.objectUrl(url);
      if (!u || this.view.disposed()) {
        if (u) URL.revokeObjectURL(u);
        img.dataset.picture = "none";
        return;
      }
      this.urls.push(u);
      img.src = u;
      img.dataset.picture = "ok";
    } catch {
      img.dataset.picture = "none";
    }
  }

  /** @param {number} id @param {{ focus?: boolean, withMedia?: boolean }} [options] */
  async load(id, { focus = false, withMedia = false } = {}) {
    const a = await this.ctx.api.call(`/api/v1/alarms/${id}`);
    if (this.view.disposed()) return;
    const alarms = this.view.list.alarms;
    this.alarm = a;
    alarms.set(a.id, { ...(alarms.get(a.id) || {}), ...a });
    const title = this.renderInfo(a);
    if (withMedia) this.media.render(a);
    this.view.list.render();
    if (focus) title.focus();
  }

  /** @param {Alarm} a */
  async openCase(a) {
    try {
      const c = await this.ctx.api.call("/api/v1/cases", { method: "POST", body: { alarm: a.id } });
      this.ctx.navigate(`/cases/${c.id}`);
    } catch (e) {
      toast(`${t("alarms.openCase")}: ${errorText(e)}`, "error");
    }
  }

  /** @param {Alarm} a @param {string} action */
  async act(a, action) {
    let text = "";
    if (action in NEEDS_TEXT) {
      const answer = await ask(t, t(`ask.${action}`), NEEDS_TEXT[action]);
      if (answer === null) return;
      text = answer;
    }
    const alarms = this.view.list.alarms;
    try {
      const updated = await this.ctx.api.call(`/api/v1/alarms/${a.id}/${action}`, { method: "POST", body: { text } });
      alarms.set(updated.id, { ...(alarms.get(updated.id) || {}), ...updated });
      toast(t("alarms.done", { id: a.id, action: t(`act.${action}`) }));
      await this.load(a.id);
    } catch (e) {
      toast(`${t(`act.${action}`)}: ${errorText(e)}`, "error");
    }
  }
}
