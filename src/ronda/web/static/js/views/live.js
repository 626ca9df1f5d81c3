// @ts-check
// Live view: the camera tree with search, a grid of 1, 2×2, 3×3 or 4×4 tiles (sub-streams), saved
// views, and the single view of one camera (#/live/<id>, main stream, low latency).
// Layout, tile choice and saved views are kept per user in localStorage.
// Components in live/: tree.js, grid.js, tile.js (with zoom.js), saved.js, settings.js, remote.js (other
// sites' cameras); a dome's single view adds the PTZ panel (ptz.js, ptzpad.js, ptzlists.js).
import { errorText } from "../api.js";
import { h, loadCss } from "../dom.js";
import { t } from "../i18n.js";
import "./live/strings.js";
import { LiveGrid } from "./live/grid.js";
import { savedViews } from "./live/saved.js";
import { canSteer, PtzPanel } from "./live/ptz.js";
import { loadSettings } from "./live/settings.js";
import { Tile } from "./live/tile.js";
import { cameraTree } from "./live/tree.js";
import { remoteSites } from "./live/remote.js";

const MOTION_MS = 5000;

/** @typedef {import("./live/tree.js").LiveCamera} LiveCamera */

export default {
  id: "live",
  right: null,
  /**
   * @param {HTMLElement} root
   * @param {import("../app.js").AppContext} ctx
   * @param {{ rest?: string[] }} params
   */
  async render(root, ctx, params) {
    loadCss("css/live.css");
    const settings = loadSettings(ctx);
    const singleId = params.rest && params.rest[0] ? Number(params.rest[0]) : null;
    /** @type {LiveCamera[]} */
    let cameras = [];
    let site = null;
    try {
      [cameras, site] = await Promise.all([ctx.api.call("/api/v1/cameras"), ctx.api.call("/api/v1/site").catch(() => null)]);
    } catch (e) {
      root.append(h("p", { class: "error", role: "alert", text: `${t("common.error")}: ${errorText(e)}` }));
      return null;
    }
    cameras = cameras.filter((c) => (c.rights || ["live"]).includes("live"));
    const byId = new Map(cameras.map((c) => [c.id, c]));
    const alarmCams = new Map(); // alarm id -> camera ids, for open alarms
    const motionUntil = new Map(); // camera id -> time the motion highlight ends
    let disposed = false;
    /** @type {PtzPanel | null} */
    let ptz = null;

    const refreshTiles = () => {
      const inAlarm = new Set([...alarmCams.values()].flat());
      const now = Date.now();
      for (const tile of grid.tiles) {
        const cam = byId.get(tile.cam.id) || tile.cam;
        tile.update(cam, inAlarm.has(cam.id), (motionUntil.get(cam.id) || 0) > now);
      }
      for (const li of /** @type {NodeListOf<HTMLElement>} */ (tree.querySelectorAll("[data-camera-id]"))) {
        const cam = byId.get(Number(li.dataset.cameraId));
        if (!cam) continue;
        li.querySelector(".dot").className = `dot st-${cam.status}`;
        li.classList.toggle("alarm", inAlarm.has(cam.id));
      }
    };

    const grid = new LiveGrid(ctx, settings, { byId, singleId, focusSearch: () => search.focus(), refresh: refreshTiles });
    const openSingle = (/** @type {number | null} */ id) => grid.openSingle(id);
    const { search, tree, build: buildTree } = cameraTree(cameras, { site, place: (id) => grid.place(id), openSingle, built: refreshTiles });
    const side = h("aside", { class: "live-side", "aria-label": t("live.cameras") },
      h("details", { class: "side-box", open: !window.matchMedia("(max-width: 700px)").matches },
        h("summary", { text: t("live.cameras") }), search, tree),
      savedViews(ctx, settings, grid));
    const main = h("section", { class: "live-main" });
    // other sites' cameras (federation), with an offline badge; with the live right also in the grid
    const remote = remoteSites(ctx, main, { place: (key) => grid.place(key), changed: () => { if (!singleId) grid.renderRemote(); } });
    grid.remote = remote;
    side.append(remote.el);

    /** @param {LiveCamera} cam */
    function renderSingle(cam) {
      const tile = new Tile(ctx, cam, { view: "single", index: 0, onOpen: openSingle });
      grid.tiles.push(tile);
      tile.el.setAttribute("tabindex", "0");
      if (canSteer(cam)) {
        ptz = new PtzPanel(ctx, cam);
        ptz.keysOn(tile.el); // the arrow keys steer the dome while the video has the focus
      }
      root.addEventListener("keydown", (e) => {
        if (e.key === "Escape" && !/** @type {HTMLElement} */ (e.target).closest("input, select, textarea")) {
          e.preventDefault();
          openSingle(null);
        }
      });
      main.append(h("div", { class: "live-single" },
        h("div", { class: "single-bar" },
          h("button", { type: "button", class: "link", "data-testid": "live-back", text: `← ${t("live.back")}`, onclick: () => openSingle(null) }),
          h("h1", { text: cam.name }),
          (cam.rights || []).includes("playback")
            ? h("a", { href: `#/playback?${new URLSearchParams({ cameras: String(cam.id), at: new Date(Date.now() - 60_000).toISOString() })}`,
              "data-testid": "live-playback", text: t("live.playback") })
            : null),
        h("div", { class: "single-body" }, tile.el, ptz ? ptz.el : null)));
      tile.start();
      refreshTiles();
      tile.el.focus();
    }

    root.append(h("div", { class: "live" }, side, main));
    buildTree();
    if (singleId && byId.has(singleId)) {
      renderSingle(byId.get(singleId));
    } else {
      main.append(h("div", { class: "live-toolbar" }, grid.layoutBar, h("span", { class: "muted hint", text: t("live.hint") })), grid.el);
      grid.render();
    }

    // ---- live updates: camera state, open alarms, motion
    let refetch = null;
    const onEvent = (e) => {
      const ev = e.detail.event || {};
      const type = ev.type || "";
      const cam = byId.get(ev.camera);
      if (!cam) return;
      if (type.startsWith("camera.")) {
        const status = { "camera.online": "recording", "camera.offline": "offline", "camera.paused": "paused" }[type];
        if (status) cam.status = status;
        if (type === "camera.online") for (const tile of grid.tiles) if (tile.cam.id === cam.id) tile.restartSoon(500);
        clearTimeout(refetch); // the camera list has the reason and the other fields: read it again shortly
        refetch = setTimeout(async () => {
          const fresh = await ctx.api.call("/api/v1/cameras").catch(() => null);
          if (disposed || !fresh) return;
          for (const c of fresh) if (byId.has(c.id)) Object.assign(byId.get(c.id), c);
          refreshTiles();
        }, 500);
      } else if (type.startsWith("motion") || ev.source === "analytics") {
        motionUntil.set(cam.id, Date.now() + MOTION_MS);
        setTimeout(() => !disposed && refreshTiles(), MOTION_MS + 50);
      }
      refreshTiles();
    };
    const onAlarm = (e) => {
      const a = e.detail.alarm;
      if (a.state === "closed") alarmCams.delete(a.id);
      else alarmCams.set(a.id, a.cameras || []);
      refreshTiles();
    };
    const loadAlarms = () => ctx.api.call("/api/v1/alarms?state=open&limit=2000").then((open) => {
      if (disposed) return;
      alarmCams.clear();
      for (const a of open) alarmCams.set(a.id, a.cameras || []);
      refreshTiles();
    }).catch(() => {});
    ctx.events.addEventListener("event", onEvent);
    ctx.events.addEventListener("alarm", onAlarm);
    ctx.events.addEventListener("resync", loadAlarms);
    loadAlarms();

    return () => {
      disposed = true;
      clearTimeout(refetch);
      ctx.events.removeEventListener("event", onEvent);
      ctx.events.removeEventListener("alarm", onAlarm);
      ctx.events.removeEventListener("resync", loadAlarms);
      grid.stopTiles();
      remote.dispose();
      if (ptz) ptz.dispose();
    };
  },
};
