// @ts-check
// Remote sites in the live view (docs/cluster.md, Federation): the cameras other sites grant this one,
// grouped by site, each site with an offline badge while it cannot be reached. A remote camera opens in
// a panel above the grid: with the live right its live picture (remotelive.js: the site's HLS through the
// centre, its latest picture while the video cannot play); with the playback right its recordings, ten
// minutes at a time from a chosen instant, played one segment after another (remoteplayback.js); with the
// export right the export form (remoteexport.js). With the
// live right it also goes into the grid (its button, or dragged onto a tile), as a remote tile (grid.js).
// The centre proxies and audits every request.
import { clear, h } from "../../dom.js";
import { addStrings, t } from "../../i18n.js";
import { remoteExport } from "./remoteexport.js";
import { remoteLive } from "./remotelive.js";
import { remotePlayback } from "./remoteplayback.js";

addStrings({
  en: {
    "remote.sites": "Remote sites", "remote.offline": "offline", "remote.none": "No remote cameras.",
    "remote.close": "Close", "remote.unavailable": "The picture is not available.", "remote.picture": "Latest picture of {name} ({site})",
    "remote.live": "Live video of {name} ({site})", "remote.toGrid": "Put {name} ({site}) in the grid",
  },
  it: {
    "remote.sites": "Siti remoti", "remote.offline": "non raggiungibile", "remote.none": "Nessuna telecamera remota.",
    "remote.close": "Chiudi", "remote.unavailable": "Immagine non disponibile.", "remote.picture": "Ultima immagine di {name} ({site})",
    "remote.live": "Video dal vivo di {name} ({site})", "remote.toGrid": "Metti {name} ({site}) nella griglia",
  },
});

/**
 * @typedef {{ id: number, name: string, groups: string[], rights: string[], streams?: string[] }} RemoteCamera
 * @typedef {{ id: number, name: string, online: boolean, cameras: RemoteCamera[] }} RemoteSite
 */

const POLL_MS = 5000;

/** A remote camera's key in the grid's slots (local cameras are numbers). @param {number} site @param {number} cam */
export const remoteKey = (site, cam) => `r:${site}:${cam}`;
/** @param {unknown} slot @returns {slot is string} */
export const isRemoteKey = (slot) => typeof slot === "string" && /^r:[0-9]+:[0-9]+$/.test(slot);

/**
 * The side box and the viewer panel; `dispose` stops the refreshes. `cameras()`: the remote cameras with
 * the live right by their grid key; `place(key)` puts one in the grid; `changed()` is called when that set
 * changes (the grid then draws its remote tiles again); `open(site, cam)` opens the viewer panel.
 * @param {import("../../app.js").AppContext} ctx
 * @param {HTMLElement} main where the viewer panel opens (above the grid)
 * @param {{ place: (key: string) => void, changed: () => void }} grid
 */
export function remoteSites(ctx, main, grid) {
  const list = h("ul", { class: "camera-tree", role: "tree", "aria-label": t("remote.sites"), "data-testid": "remote-sites" });
  const box = h("details", { class: "side-box", open: true, hidden: true }, h("summary", { text: t("remote.sites") }), list);
  let disposed = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let poll;
  /** @type {(() => void) | null} */
  let closeViewer = null;
  /** @type {{ site: number, online: (on: boolean) => void } | null} the open viewer's site */
  let viewing = null;
  /** @type {Map<string, { site: RemoteSite, cam: RemoteCamera }>} */
  let known = new Map();

  /** @param {RemoteSite[]} sites */
  const render = (sites) => {
    clear(list);
    box.hidden = !sites.length;
    const seen = viewing && sites.find((x) => x.id === viewing.site);
    if (seen) viewing.online(seen.online);
    for (const site of sites) {
      const cams = site.cameras.map((cam) => {
        const key = remoteKey(site.id, cam.id);
        const live = cam.rights.includes("live");
        const li = h("li", { role: "treeitem", tabindex: "0", "data-testid": "remote-camera", "data-remote-site": site.name,
          "data-remote-key": key, draggable: live ? "true" : "false" },
          h("span", { class: `dot st-${site.online ? "recording" : "offline"}`, "aria-hidden": "true" }), h("span", { "data-testid": "remote-camera-name", text: cam.name }),
          live ? h("button", { type: "button", class: "link to-grid", "data-testid": "remote-to-grid", text: "⊞",
            title: t("remote.toGrid", { name: cam.name, site: site.name }), "aria-label": t("remote.toGrid", { name: cam.name, site: site.name }),
            onclick: (/** @type {Event} */ e) => { e.stopPropagation(); grid.place(key); } }) : null);
        if (live) li.addEventListener("dragstart", (e) => e.dataTransfer?.setData("text/x-ronda-remote", key));
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
    if (sites) {
      render(sites);
      /** @type {Map<string, { site: RemoteSite, cam: RemoteCamera }>} */
      const fresh = new Map();
      for (const site of sites) {
        for (const cam of site.cameras) if (cam.rights.includes("live")) fresh.set(remoteKey(site.id, cam.id), { site, cam });
      }
      const before = known;
      known = fresh;
      const same = before.size === fresh.size && [...fresh.keys()].every((k) => before.has(k));
      if (!same) grid.changed();
      for (const [k, v] of fresh) {
        const old = before.get(k);
        if (old && old.site.online !== v.site.online) tilesOnline(k, v.site.online);
      }
    }
    poll = setTimeout(load, POLL_MS);
  };
  /** @type {Set<{ key: string, online: (on: boolean) => void }>} the grid's remote tiles, for their offline badge */
  const tiles = new Set();
  const tilesOnline = (/** @type {string} */ key, /** @type {boolean} */ on) => {
    for (const tile of tiles) if (tile.key === key) tile.online(on);
  };

  /** @param {RemoteSite} site @param {RemoteCamera} cam */
  function open(site, cam) {
    if (closeViewer) closeViewer();
    const video = /** @type {HTMLVideoElement} */ (h("video", { controls: true, muted: true, hidden: true, "data-testid": "remote-video" }));
    const badge = h("span", { class: "badge offline", "data-testid": "remote-viewer-offline", hidden: site.online, text: t("remote.offline") });
    const exporter = cam.rights.includes("export") ? remoteExport(ctx, site, cam) : null;
    const recordings = cam.rights.includes("playback") ? remotePlayback(ctx, site, cam, video) : null;
    const panel = h("section", { class: "remote-viewer", "data-testid": "remote-viewer" },
      h("div", { class: "single-bar" }, h("h2", { text: `${site.name} · ${cam.name}` }), badge,
        h("button", { type: "button", class: "link", text: t("remote.close"), onclick: () => closeViewer && closeViewer() })));
    // The main stream, and the sub-stream when the main one does not play here (H.265 in a browser without it).
    const streams = (cam.streams || []).includes("sub") ? ["main", "sub"] : ["main"];
    const picture = cam.rights.includes("live") ? remoteLive(ctx, site, cam, { holder: panel, prefix: "remote", streams }) : null;
    panel.append(...(picture ? picture.nodes : []), video,
      ...(recordings ? [recordings.el] : []),
      ...(exporter ? [exporter.el] : []));
    main.prepend(panel);
    const close = () => {
      if (picture) picture.stop();
      if (exporter) exporter.dispose();
      if (recordings) recordings.dispose();
      panel.remove();
      closeViewer = null;
      viewing = null;
    };
    closeViewer = close;
    viewing = { site: site.id, online: (on) => { badge.hidden = on; } };
    if (picture) picture.start();
  }

  load();
  return {
    el: box,
    cameras: () => known,
    open,
    /** A grid tile's badge follows its site. @param {{ key: string, online: (on: boolean) => void }} tile */
    follow(tile) {
      tiles.add(tile);
      return () => tiles.delete(tile);
    },
    dispose() {
      disposed = true;
      clearTimeout(poll);
      if (closeViewer) closeViewer();
    },
  };
}
