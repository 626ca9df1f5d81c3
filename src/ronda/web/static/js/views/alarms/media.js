// @ts-check
// The media of an alarm's detail: the related cameras live (at most MAX_LIVE) and the main camera's
// recording from the rule's pre-alarm time.
import { errorText } from "../../api.js";
import { clear, h } from "../../dom.js";
import { formatTime, t } from "../../i18n.js";
import { showLive } from "../../live.js";
import { showRecorded } from "../../playback.js";

const MAX_LIVE = 4; // related cameras shown live in the detail

/** @typedef {{ id: number, camera?: number, cameras: number[], playback_from?: string }} Alarm */

/**
 * What the media needs of the alarm view: its cameras, and whether an alarm is still the one shown.
 * @typedef {{ camera: (id: number) => { rights?: string[] } | undefined, camName: (id: number) => string,
 *   current: (alarmId: number) => boolean }} AlarmView
 */

export class AlarmMedia {
  /**
   * @param {import("../../app.js").AppContext} ctx
   * @param {AlarmView} view
   */
  constructor(ctx, view) {
    this.ctx = ctx;
    this.view = view;
    this.el = h("div", { class: "alarm-media" });
    /** @type {{ stop: () => void }[]} */
    this.players = [];
  }

  /** @param {Alarm} a */
  render(a) {
    const { ctx, view, el: media, players } = this;
    this.stop();
    clear(media);
    const camIds = (a.cameras || []).filter((id) => (view.camera(id)?.rights || []).includes("live")).slice(0, MAX_LIVE);
    if (camIds.length) {
      const tiles = camIds.map((id) => {
        const video = h("video", { muted: true, playsinline: true, autoplay: true, "data-testid": "alarm-camera",
          "data-camera-id": id, "aria-label": view.camName(id) });
        video.muted = true;
        const img = h("img", { hidden: true, alt: view.camName(id) });
        const msg = h("div", { class: "tile-msg" });
        showLive({ api: ctx.apiFn, cameraId: id, video, img, mode: "ll", view: "grid",
          onStatus: (s) => { msg.textContent = s.state === "playing" ? "" : s.reason || ""; } })
          .then((p) => (!view.current(a.id) ? p.stop() : players.push(p)))
          .catch((e) => { msg.textContent = errorText(e); });
        const cell = h("figure", { class: "alarm-cam", tabindex: "0", title: view.camName(id) }, video, img, msg,
          h("figcaption", { text: view.camName(id) }));
        cell.addEventListener("dblclick", () => ctx.navigate(`/live/${id}`));
        cell.addEventListener("keydown", (e) => e.key === "Enter" && ctx.navigate(`/live/${id}`));
        return cell;
      });
      media.append(h("section", {}, h("h3", { text: t("alarms.live") }), h("div", { class: "alarm-cams" }, tiles)));
    }
    if (a.camera) media.append(this.preAlarm(a));
  }

  // The main camera's recording from `playback_from` (the rule's pre-alarm time before the first event).
  /** @param {Alarm} a */
  preAlarm(a) {
    const { ctx, view, players } = this;
    const box = h("section", { class: "pre-alarm" }, h("h3", { text: t("alarms.before") }));
    const cam = view.camera(a.camera);
    if (!cam || !(cam.rights || []).includes("playback")) {
      box.append(h("p", { class: "muted", text: t("alarms.noPlayback") }));
      return box;
    }
    const video = h("video", { controls: true, muted: true, playsinline: true, "data-testid": "alarm-playback",
      "data-camera-id": a.camera, "aria-label": `${t("alarms.before")}: ${view.camName(a.camera)}` });
    video.muted = true;
    const note = h("p", { class: "muted" });
    let recorded = null;
    const start = async () => {
      note.textContent = "";
      // Only ask the player for an instant that is recorded: a playlist of nothing is an error.
      const from = Date.parse(a.playback_from);
      const end = new Date(from + 3600_000).toISOString();
      const rec = await ctx.api.call(`/api/v1/cameras/${a.camera}/recordings?start=${encodeURIComponent(a.playback_from)}&end=${encodeURIComponent(end)}`);
      if (!view.current(a.id)) return;
      if (!rec.segments.some((s) => Date.parse(s.end) > from)) {
        note.textContent = t("alarms.noRecording");
        return;
      }
      const p = await showRecorded({ api: ctx.apiFn, cameraId: a.camera, video, at: a.playback_from,
        onStatus: (s) => { if (s.state === "error") note.textContent = s.reason; } });
      if (!view.current(a.id)) p.stop();
      else players.push((recorded = p));
    };
    const fail = (e) => {
      note.textContent = errorText(e);
    };
    const replay = h("button", { type: "button", "data-testid": "alarm-replay",
      text: t("alarms.replay", { time: formatTime(a.playback_from, { timeStyle: "medium" }, ctx.siteTimeZone) }), onclick: () => {
        if (!recorded) return start().catch(fail);
        recorded.seekWall(Date.parse(a.playback_from)).then(() => video.play()).catch(fail);
      } });
    const more = h("a", { href: `#/playback?${new URLSearchParams({ cameras: a.cameras.join(","), at: a.playback_from })}`,
      "data-testid": "alarm-open-playback", text: t("alarms.openPlayback") });
    box.append(video, h("div", { class: "pre-alarm-bar" }, replay, more, note));
    start().catch(fail);
    return box;
  }

  stop() {
    for (const p of this.players.splice(0)) p.stop();
  }
}
