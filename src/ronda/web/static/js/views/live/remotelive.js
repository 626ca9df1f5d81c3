// @ts-check
// A remote camera's live picture (docs/cluster.md, Federation), for the viewer panel and a grid tile alike:
// its live video, the site's HLS through the centre (hlsfollow.js), and its latest picture (refreshed every
// 2 s) while the video starts or cannot play. A site down or a playlist refused puts the picture in the
// video's place (first the video's last frame), and the video is tried again every 10 s. A grid tile asks
// for the sub-stream when the site records one (as a local tile does), and takes the main stream if the
// sub-stream does not play.
import { h } from "../../dom.js";
import { HlsFollower } from "../../hlsfollow.js";
import { t } from "../../i18n.js";

const REFRESH_MS = 2000;
const LIVE_RETRY_MS = 10_000; // live video that failed (site down, part missing) is tried again after this

/**
 * @param {import("../../app.js").AppContext} ctx
 * @param {{ id: number, name: string }} site
 * @param {{ id: number, name: string }} cam
 * @param {{ holder: HTMLElement, prefix: string, streams?: string[] }} opts holder: the element whose
 *   `data-mode` ("live" or "picture"), `data-live` (the player's state) and `data-stream` say what shows;
 *   prefix: of the test ids; streams: the ones to try, in order, until one has played (default main)
 * @returns {{ nodes: HTMLElement[], start: () => void, stop: () => void }}
 */
export function remoteLive(ctx, site, cam, { holder, prefix, streams = ["main"] }) {
  const base = `/api/v1/federation/sites/${site.id}/cameras/${cam.id}`;
  const img = /** @type {HTMLImageElement} */ (h("img", { alt: t("remote.picture", { name: cam.name, site: site.name }), "data-testid": `${prefix}-picture` }));
  const note = h("p", { class: "muted", hidden: true, "data-testid": `${prefix}-note`, text: t("remote.unavailable") });
  const live = /** @type {HTMLVideoElement} */ (h("video", { muted: true, autoplay: true, playsinline: true, hidden: true,
    "data-testid": `${prefix}-live`, "aria-label": t("remote.live", { name: cam.name, site: site.name }) }));
  live.muted = true; // the attribute alone does not mute a video created by script
  holder.dataset.mode = "picture";
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let retry;
  /** @type {HlsFollower | null} */
  let player = null;
  let playing = false;
  let running = false;
  let chain = 0; // the picture's refresh loop: starting one ends any other
  let shots = 0; // pictures shown from the site (a newer one wins over the kept frame)
  let which = 0; // the stream tried (streams[which])
  let played = false; // one has played: it is the camera's, keep to it

  // The picture while the live video is not playing (starting, or the site or its video unavailable).
  const refresh = async (mine = ++chain) => {
    clearTimeout(timer);
    if (playing || mine !== chain || !running) return;
    const url = await ctx.api.objectUrl(`${base}/snapshot`).catch(() => null);
    if (!running || playing || mine !== chain) { if (url) URL.revokeObjectURL(url); return; }
    note.hidden = Boolean(url) || Boolean(img.src); // the last picture stays, with the offline badge
    if (url) {
      shots += 1;
      const old = img.src;
      img.src = url;
      if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    }
    timer = setTimeout(() => refresh(mine), REFRESH_MS);
  };
  const keepFrame = () => {
    if (live.readyState < 2 || !live.videoWidth) return;
    const at = shots;
    const canvas = /** @type {HTMLCanvasElement} */ (h("canvas", { width: live.videoWidth, height: live.videoHeight }));
    canvas.getContext("2d")?.drawImage(live, 0, 0);
    canvas.toBlob((blob) => {
      if (!blob || !running || shots !== at) return;
      const old = img.src;
      img.src = URL.createObjectURL(blob);
      note.hidden = true;
      if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    }, "image/jpeg", 0.85);
  };
  const showMode = (/** @type {"live" | "picture"} */ mode) => {
    holder.dataset.mode = mode;
    live.hidden = mode !== "live";
    img.hidden = mode === "live";
  };
  // Live video through the centre's proxy of the site's HLS; on failure the picture, and again later.
  const startLive = () => {
    if (!running) return;
    const stream = streams[which];
    holder.dataset.stream = stream;
    const mine = new HlsFollower(live, `${base}/live/${stream}/index.m3u8`, (url) => ctx.api.call(url, { raw: true }));
    player = mine;
    mine.addEventListener("status", (e) => {
      const { state, reason } = /** @type {CustomEvent} */ (e).detail;
      if (!running || player !== mine) return;
      holder.dataset.live = state;
      if (state === "playing") {
        playing = true;
        played = true;
        clearTimeout(timer);
        showMode("live");
      } else if (state === "error" || state === "unsupported") {
        if (playing) keepFrame(); // the last frame stays as the picture until a newer one comes
        playing = false;
        player = null;
        live.title = reason || "";
        showMode("picture");
        refresh();
        if (!played && which < streams.length - 1) {
          which += 1; // no such stream there (or not playable here): the next one at once
          retry = setTimeout(startLive, 0);
          return;
        }
        retry = setTimeout(startLive, state === "error" ? LIVE_RETRY_MS : LIVE_RETRY_MS * 6);
      }
    });
    mine.start();
  };

  return {
    nodes: [live, img, note],
    start() {
      if (running) return;
      running = true;
      refresh();
      startLive();
    },
    stop() {
      running = false;
      clearTimeout(timer);
      clearTimeout(retry);
      if (player) player.stop();
      player = null;
      if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    },
  };
}
