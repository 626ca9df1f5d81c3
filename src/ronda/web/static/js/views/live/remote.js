// @ts-check
// Remote sites in the live view (docs/cluster.md, Federation): the cameras other sites grant this one,
// grouped by site, each site with an offline badge while it cannot be reached. A remote camera opens in
// a panel above the grid: with the live right its live video (the site's HLS through the centre, see
// hlsfollow.js), its latest picture (refreshed every 2 s) while the video starts or cannot play; with
// the playback right the last ten minutes' segments, each played from a blob; with the export right the
// export form (remoteexport.js). The centre proxies and audits every request.
import { clear, h } from "../../dom.js";
import { HlsFollower } from "../../hlsfollow.js";
import { addStrings, formatTime, t } from "../../i18n.js";
import { remoteExport } from "./remoteexport.js";

addStrings({
  en: {
    "remote.sites": "Remote sites", "remote.offline": "offline", "remote.none": "No remote cameras.",
    "remote.close": "Close", "remote.recent": "Last 10 minutes", "remote.noRecordings": "No recordings in the last 10 minutes.",
    "remote.unavailable": "The picture is not available.", "remote.picture": "Latest picture of {name} ({site})",
    "remote.live": "Live video of {name} ({site})",
  },
  it: {
    "remote.sites": "Siti remoti", "remote.offline": "non raggiungibile", "remote.none": "Nessuna telecamera remota.",
    "remote.close": "Chiudi", "remote.recent": "Ultimi 10 minuti", "remote.noRecordings": "Nessuna registrazione negli ultimi 10 minuti.",
    "remote.unavailable": "Immagine non disponibile.", "remote.picture": "Ultima immagine di {name} ({site})",
    "remote.live": "Video dal vivo di {name} ({site})",
  },
});

/**
 * @typedef {{ id: number, name: string, groups: string[], rights: string[] }} RemoteCamera
 * @typedef {{ id: number, name: string, online: boolean, cameras: RemoteCamera[] }} RemoteSite
 */

const REFRESH_MS = 2000;
const POLL_MS = 5000;
const LIVE_RETRY_MS = 10_000; // live video that failed (site down, part missing) is tried again after this

/**
 * The side box and the viewer panel; `dispose` stops the refreshes.
 * @param {import("../../app.js").AppContext} ctx
 * @param {HTMLElement} main where the viewer panel opens (above the grid)
 */
export function remoteSites(ctx, main) {
  const list = h("ul", { class: "camera-tree", role: "tree", "aria-label": t("remote.sites"), "data-testid": "remote-sites" });
  const box = h("details", { class: "side-box", open: true, hidden: true }, h("summary", { text: t("remote.sites") }), list);
  let disposed = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let poll;
  /** @type {(() => void) | null} */
  let closeViewer = null;
  /** @type {{ site: number, online: (on: boolean) => void } | null} the open viewer's site */
  let viewing = null;

  /** @param {RemoteSite[]} sites */
  const render = (sites) => {
    clear(list);
    box.hidden = !sites.length;
    const seen = viewing && sites.find((x) => x.id === viewing.site);
    if (seen) viewing.online(seen.online);
    for (const site of sites) {
      const cams = site.cameras.map((cam) => {
        const li = h("li", { role: "treeitem", tabindex: "0", "data-testid": "remote-camera", "data-remote-site": site.name },
          h("span", { class: `dot st-${site.online ? "recording" : "offline"}`, "aria-hidden": "true" }), h("span", { text: cam.name }));
        li.addEventListener("click", () => open(site, cam));
        li.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(site, cam); }
        });
        return li;
      });
      list.append(h("li", { role: "treeitem", "aria-expanded": "true", class: "group", "data-testid": "remote-site" },
        h("span", { class: "group-name", text: site.name }),
        site.online ? null : h("span", { class: "badge offline", "data-testid": "remote-offline", text: ` ${t("remote.offline")}` }),
        h("ul", { role: "group" }, cams.length ? cams : h("li", { class: "muted", role: "none", text: t("remote.none") }))));
    }
  };

  const load = async () => {
    const sites = await ctx.api.call("/api/v1/federation/cameras").catch(() => null);
    if (disposed) return;
    if (sites) render(sites);
    poll = setTimeout(load, POLL_MS);
  };

  /** @param {RemoteSite} site @param {RemoteCamera} cam */
  function open(site, cam) {
    if (closeViewer) closeViewer();
    const base = `/api/v1/federation/sites/${site.id}/cameras/${cam.id}`;
    const img = /** @type {HTMLImageElement} */ (h("img", { alt: t("remote.picture", { name: cam.name, site: site.name }), "data-testid": "remote-picture" }));
    const note = h("p", { class: "muted", hidden: true, "data-testid": "remote-note", text: t("remote.unavailable") });
    const live = /** @type {HTMLVideoElement} */ (h("video", { muted: true, autoplay: true, playsinline: true, hidden: true,
      "data-testid": "remote-live", "aria-label": t("remote.live", { name: cam.name, site: site.name }) }));
    live.muted = true;
    const video = /** @type {HTMLVideoElement} */ (h("video", { controls: true, muted: true, hidden: true, "data-testid": "remote-video" }));
    const recent = h("ul", { class: "remote-segments" });
    const badge = h("span", { class: "badge offline", "data-testid": "remote-viewer-offline", hidden: site.online, text: t("remote.offline") });
    const exporter = cam.rights.includes("export") ? remoteExport(ctx, site, cam) : null;
    const panel = h("section", { class: "remote-viewer", "data-testid": "remote-viewer", "data-mode": "picture" },
      h("div", { class: "single-bar" }, h("h2", { text: `${site.name} · ${cam.name}` }), badge,
        h("button", { type: "button", class: "link", text: t("remote.close"), onclick: () => closeViewer && closeViewer() })),
      live, img, note, video, cam.rights.includes("playback") ? h("div", {}, h("h3", { text: t("remote.recent") }), recent) : null,
      exporter ? exporter.el : null);
    main.prepend(panel);
    /** @type {string[]} */
    const urls = [];
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let retry;
    /** @type {HlsFollower | null} */
    let player = null;
    let playing = false;
    const isOpen = () => closeViewer === close;
    let chain = 0; // the picture's refresh loop: starting one ends any other
    let shots = 0; // pictures shown from the site (a newer one wins over the kept frame)
    // The picture while the live video is not playing (starting, or the site or its video unavailable).
    const refresh = async (mine = ++chain) => {
      clearTimeout(timer);
      if (playing || mine !== chain) return;
      const url = await ctx.api.objectUrl(`${base}/snapshot`).catch(() => null);
      if (!isOpen() || playing || mine !== chain) { if (url) URL.revokeObjectURL(url); return; }
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
      const canvas = h("canvas", { width: live.videoWidth, height: live.videoHeight });
      /** @type {HTMLCanvasElement} */ (canvas).getContext("2d").drawImage(live, 0, 0);
      /** @type {HTMLCanvasElement} */ (canvas).toBlob((blob) => {
        if (!blob || !isOpen() || shots !== at) return;
        const old = img.src;
        img.src = URL.createObjectURL(blob);
        note.hidden = true;
        if (old.startsWith("blob:")) URL.revokeObjectURL(old);
      }, "image/jpeg", 0.85);
    };
    const showMode = (/** @type {"live" | "picture"} */ mode) => {
      panel.dataset.mode = mode;
      live.hidden = mode !== "live";
      img.hidden = mode === "live";
    };
    // Live video through the centre's proxy of the site's HLS; on failure the picture, and again later.
    const startLive = () => {
      if (!isOpen()) return;
      player = new HlsFollower(live, `${base}/live/main/index.m3u8`, (url) => ctx.api.call(url, { raw: true }));
      player.addEventListener("status", (e) => {
        const { state, reason } = /** @type {CustomEvent} */ (e).detail;
        if (!isOpen()) return;
        panel.dataset.live = state;
        if (state === "playing") {
          playing = true;
          clearTimeout(timer);
          showMode("live");
        } else if (state === "error" || state === "unsupported") {
          if (playing) keepFrame(); // the last frame stays as the picture until a newer one comes
          playing = false;
          player = null;
          live.title = reason || "";
          showMode("picture");
          refresh();
          retry = setTimeout(startLive, state === "error" ? LIVE_RETRY_MS : LIVE_RETRY_MS * 6);
        }
      });
      player.start();
    };
    const close = () => {
      clearTimeout(timer);
      clearTimeout(retry);
      if (player) player.stop();
      if (exporter) exporter.dispose();
      for (const u of urls) URL.revokeObjectURL(u);
      if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
      panel.remove();
      closeViewer = null;
      viewing = null;
    };
    closeViewer = close;
    viewing = { site: site.id, online: (on) => { badge.hidden = on; } };
    if (cam.rights.includes("live")) {
      refresh();
      startLive();
    }
    if (cam.rights.includes("playback")) {
      const end = new Date();
      const q = new URLSearchParams({ start: new Date(end.getTime() - 600_000).toISOString(), end: end.toISOString() });
      ctx.api.call(`${base}/recordings?${q}`).then((rec) => {
        if (!isOpen()) return;
        const segs = rec.segments.slice(-10);
        if (!segs.length) recent.append(h("li", { class: "muted", text: t("remote.noRecordings") }));
        for (const seg of segs) {
          recent.append(h("li", {}, h("button", { type: "button", class: "link", "data-testid": "remote-segment",
            text: formatTime(seg.start, { timeStyle: "medium" }, ctx.siteTimeZone || undefined),
            onclick: async () => {
              const url = await ctx.api.objectUrl(`${base}/segments/${seg.id}.mp4`).catch(() => null);
              if (!url || !isOpen()) return;
              urls.push(url);
              video.hidden = false;
              video.src = url;
              video.play().catch(() => {});
            } })));
        }
      }).catch(() => recent.append(h("li", { class: "muted", text: t("remote.noRecordings") })));
    }
  }

  load();
  return {
    el: box,
    dispose() {
      disposed = true;
      clearTimeout(poll);
      if (closeViewer) closeViewer();
    },
  };
}
