// @ts-check
// The map's live popup: a camera's live picture over the plan, its status, and a link to the live view.
import { errorText } from "../../api.js";
import { clear, h } from "../../dom.js";
import { t } from "../../i18n.js";
import { showLive } from "../../live.js";

/** @typedef {import("./stage.js").MapCamera} MapCamera */

export class LivePopup {
  /**
   * @param {import("../../app.js").AppContext} ctx
   * @param {() => boolean} stopped whether the view is gone
   */
  constructor(ctx, stopped) {
    this.ctx = ctx;
    this.stopped = stopped;
    this.el = h("div", { class: "map-popup", role: "dialog", "aria-modal": "false", hidden: true });
    /** @type {{ stop: () => void } | null} */
    this.live = null;
    /** @type {number | null} the camera shown (or being connected) */
    this.camera = null;
  }

  get open() {
    return !this.el.hidden;
  }

  close() {
    if (this.live) this.live.stop();
    this.live = null;
    this.camera = null;
    clear(this.el);
    this.el.hidden = true;
  }

  /** @param {MapCamera} cam */
  async show(cam) {
    const { ctx, el: popup } = this;
    this.close();
    this.camera = cam.id;
    const status = h("p", { class: "muted map-live-status", role: "status", text: t("map.status", { status: cam.status }) });
    const video = h("video", { muted: true, autoplay: true, playsinline: true, "aria-label": cam.name });
    video.muted = true;
    const img = h("img", { hidden: true, alt: cam.name });
    const close = h("button", { type: "button", class: "link", "aria-label": t("common.close"), text: "✕", onclick: () => this.close() });
    popup.append(
      h("div", { class: "map-popup-head" }, h("strong", { text: cam.name }), close),
      h("div", { class: "map-live", "data-testid": "map-live", "data-camera-id": cam.id }, video, img),
      status,
      h("button", { type: "button", class: "primary", "data-testid": "map-open-live", text: t("map.openLive"),
        onclick: () => ctx.navigate(`/live/${cam.id}`) }));
    popup.hidden = false;
    close.focus();
    try {
      const live = await showLive({
        api: ctx.apiFn, cameraId: cam.id, video, img, view: "single",
        onStatus: (s) => {
          if (s.state !== "playing") status.textContent = s.reason ? `${s.state}: ${s.reason}` : s.state;
          else status.textContent = t("map.status", { status: cam.status });
        },
      });
      if (this.camera !== cam.id || this.stopped()) live.stop();
      else this.live = live;
    } catch (e) {
      status.textContent = errorText(e);
      status.classList.add("error");
    }
  }
}
