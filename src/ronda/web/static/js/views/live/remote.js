// @ts-check
// Remote sites in the live view (docs/cluster.md, Federation): the cameras other sites grant this one,
// grouped by site, each site with an offline badge while it cannot be reached. A remote camera opens in
// a panel above the grid: its latest picture (refreshed every 2 s) and, with the playback right, the
// last ten minutes' segments, each played from a blob (the centre proxies and audits every request).
import { clear, h } from "../../dom.js";
import { addStrings, formatTime, t } from "../../i18n.js";

addStrings({
  en: {
    "remote.sites": "Remote sites", "remote.offline": "offline", "remote.none": "No remote cameras.",
    "remote.close": "Close", "remote.recent": "Last 10 minutes", "remote.noRecordings": "No recordings in the last 10 minutes.",
    "remote.unavailable": "The picture is not available.", "remote.picture": "Latest picture of {name} ({site})",
  },
  it: {
    "remote.sites": "Siti remoti", "remote.offline": "non raggiungibile", "remote.none": "Nessuna telecamera remota.",
    "remote.close": "Chiudi", "remote.recent": "Ultimi 10 minuti", "remote.noRecordings": "Nessuna registrazione negli ultimi 10 minuti.",
    "remote.unavailable": "Immagine non disponibile.", "remote.picture": "Ultima immagine di {name} ({site})",
  },
});

/**
 * @typedef {{ id: number, name: string, groups: string[], rights: string[] }} RemoteCamera
 * @typedef {{ id: number, name: string, online: boolean, cameras: RemoteCamera[] }} RemoteSite
 */

const REFRESH_MS = 2000;
const POLL_MS = 5000;

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

  /** @param {RemoteSite[]} sites */
  const render = (sites) => {
    clear(list);
    box.hidden = !sites.length;
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
    const note = h("p", { class: "muted", hidden: true, text: t("remote.unavailable") });
    const video = /** @type {HTMLVideoElement} */ (h("video", { controls: true, muted: true, hidden: true, "data-testid": "remote-video" }));
    const recent = h("ul", { class: "remote-segments" });
    const panel = h("section", { class: "remote-viewer", "data-testid": "remote-viewer" },
      h("div", { class: "single-bar" }, h("h2", { text: `${site.name} · ${cam.name}` }),
        h("button", { type: "button", class: "link", text: t("remote.close"), onclick: () => closeViewer && closeViewer() })),
      img, note, video, cam.rights.includes("playback") ? h("div", {}, h("h3", { text: t("remote.recent") }), recent) : null);
    main.prepend(panel);
    /** @type {string[]} */
    const urls = [];
    let timer;
    const refresh = async () => {
      const url = await ctx.api.objectUrl(`${base}/snapshot`).catch(() => null);
      if (!closeViewer || closeViewer !== close) { if (url) URL.revokeObjectURL(url); return; }
      note.hidden = Boolean(url);
      if (url) {
        const old = img.src;
        img.src = url;
        if (old.startsWith("blob:")) URL.revokeObjectURL(old);
      }
      timer = setTimeout(refresh, REFRESH_MS);
    };
    const close = () => {
      clearTimeout(timer);
      for (const u of urls) URL.revokeObjectURL(u);
      if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
      panel.remove();
      closeViewer = null;
    };
    closeViewer = close;
    if (cam.rights.includes("live")) refresh();
    if (cam.rights.includes("playback")) {
      const end = new Date();
      const q = new URLSearchParams({ start: new Date(end.getTime() - 600_000).toISOString(), end: end.toISOString() });
      ctx.api.call(`${base}/recordings?${q}`).then((rec) => {
        if (closeViewer !== close) return;
        const segs = rec.segments.slice(-10);
        if (!segs.length) recent.append(h("li", { class: "muted", text: t("remote.noRecordings") }));
        for (const seg of segs) {
          recent.append(h("li", {}, h("button", { type: "button", class: "link", "data-testid": "remote-segment",
            text: formatTime(seg.start, { timeStyle: "medium" }, ctx.siteTimeZone || undefined),
            onclick: async () => {
              const url = await ctx.api.objectUrl(`${base}/segments/${seg.id}.mp4`).catch(() => null);
              if (!url || closeViewer !== close) return;
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
