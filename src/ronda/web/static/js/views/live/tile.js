// @ts-check
// One tile of the live grid (its player, state, alarm and motion marks, retries) and the snapshot download.
import { errorText } from "../../api.js";
import { h, toast } from "../../dom.js";
import { showLive } from "../../live.js";
import { attachZoom } from "./zoom.js";

export const RETRY_MS = [2000, 4000, 8000, 15000, 30000]; // a closed live connection is tried again, less and less often

// --- snapshot download --------------------------------------------------------------------------
export async function downloadSnapshot(ctx, cam) {
  try {
    const res = await ctx.api.call(`/api/v1/cameras/${cam.id}/snapshot`, { raw: true });
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    const url = URL.createObjectURL(await res.blob());
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const a = h("a", { href: url, download: `${cam.name.replace(/[^\w-]+/g, "_")}-${stamp}.jpg`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) {
    toast(`${ctx.t("live.snapshot")}: ${errorText(e)}`, "error");
  }
}

// --- one tile: a camera's live picture with its label, status, alarm highlight and tools ---------
export class Tile {
  constructor(ctx, cam, { view, index, onOpen }) {
    this.ctx = ctx;
    this.cam = cam;
    this.view = view;
    this.player = null;
    this.disposed = false;
    this.retry = null;
    this.failures = 0;
    this.gen = 0;
    const t = ctx.t;
    this.video = h("video", { muted: true, playsinline: true, autoplay: true, "data-testid": "video-tile",
      "data-camera-id": cam.id, "aria-label": t("live.video", { name: cam.name }) });
    this.video.muted = true; // the attribute alone does not mute a video created by script
    this.img = h("img", { hidden: true, alt: t("live.snapshotAlt", { name: cam.name }) });
    this.media = h("div", { class: "tile-media" }, this.video, this.img);
    this.zoom = attachZoom(this.media, [this.video, this.img]);
    this.status = h("span", { class: "tile-status" });
    this.flag = h("span", { class: "tile-flag", hidden: true });
    this.msg = h("div", { class: "tile-msg", "aria-live": "polite" });
    const tool = (key, label, fn) => h("button", { type: "button", class: "tool", title: t(label), "aria-label": t(label),
      "data-action": key, onclick: (e) => { e.stopPropagation(); fn(); } }, { in: "+", out: "−", reset: "1:1", snap: "⤓", open: "⤢", back: "←" }[key]);
    const tools = h("div", { class: "tile-tools" },
      view === "single" ? tool("back", "live.back", () => onOpen(null)) : tool("open", "live.single", () => onOpen(cam.id)),
      tool("snap", "live.snapshot", () => downloadSnapshot(ctx, cam)),
      tool("out", "live.zoomOut", () => this.zoom.out()),
      tool("reset", "live.zoomReset", () => this.zoom.reset()),
      tool("in", "live.zoomIn", () => this.zoom.in()));
    this.el = h("div", { class: `tile tile-${view}`, tabindex: "-1", role: "group", "data-index": index,
      "data-camera-id": cam.id },
      this.media,
      h("div", { class: "tile-label" }, h("span", { class: "tile-name", text: cam.name }), this.status, this.flag),
      this.msg, tools);
    this.el.addEventListener("dblclick", (e) => {
      if (e.target.closest("button")) return;
      onOpen(view === "single" ? null : cam.id);
    });
    this.el.addEventListener("keydown", (e) => {
      if (e.target !== this.el) return;
      if (e.key === "+" || e.key === "=") this.zoom.in();
      else if (e.key === "-") this.zoom.out();
      else if (e.key === "0") this.zoom.reset();
      else return;
      e.preventDefault();
    });
    this.update(cam);
  }

  update(cam, alarm = false, motion = false) {
    this.cam = cam;
    const state = cam.status || "unknown";
    const label = this.ctx.t(`status.${state}`);
    this.status.textContent = label;
    this.status.className = `tile-status st-${state}`;
    this.el.classList.toggle("offline", state === "offline");
    this.el.classList.toggle("alarm", alarm);
    this.el.classList.toggle("motion", motion && !alarm);
    this.flag.hidden = !(alarm || motion);
    this.flag.textContent = alarm ? this.ctx.t("live.alarm") : this.ctx.t("live.motion");
    this.el.setAttribute("aria-label", this.ctx.t("live.tile", { name: cam.name, status: alarm ? `${label}, ${this.ctx.t("live.alarm")}` : label }));
  }

  async start() {
    if (this.disposed) return;
    const gen = ++this.gen; // a restart while this one still waits for the API makes it stale
    this.msg.textContent = this.ctx.t("live.connecting");
    try {
      const p = await showLive({ api: this.ctx.apiFn, cameraId: this.cam.id, video: this.video, img: this.img,
        mode: "ll", view: this.view, onStatus: (s) => gen === this.gen && this._status(s) });
      if (this.disposed || gen !== this.gen) p.stop();
      else this.player = p;
    } catch (e) {
      if (gen === this.gen) this._status({ state: "error", reason: e.message });
    }
  }

  /** @param {{ state: string, reason?: string }} status */
  _status({ state, reason }) {
    if (this.disposed) return;
    if (state === "playing") {
      this.msg.textContent = "";
      this.failures = 0;
    }
    else if (state === "connecting") this.msg.textContent = this.ctx.t("live.connecting");
    else if (reason) this.msg.textContent = reason;
    if (state === "closed" || state === "error") this.restartSoon();
  }

  restartSoon(ms = RETRY_MS[Math.min(this.failures++, RETRY_MS.length - 1)]) {
    if (this.disposed) return;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      this.retry = null;
      this.restart();
    }, ms);
  }

  restart() {
    if (this.disposed) return;
    if (this.player) this.player.stop();
    this.player = null;
    this.start();
  }

  stop() {
    this.disposed = true;
    clearTimeout(this.retry);
    if (this.player) this.player.stop();
    this.player = null;
  }
}
