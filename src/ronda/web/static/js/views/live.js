// @ts-check
// Live view: the camera tree with search, a grid of 1, 2×2, 3×3 or 4×4 tiles (sub-streams), saved
// views, and the single view of one camera (#/live/<id>, main stream, low latency).
// Layout, tile choice and saved views are kept per user in localStorage.
import { errorText } from "../api.js";
import { clear, h, loadCss, toast } from "../dom.js";
import { t } from "../i18n.js";
import "./live/strings.js";
import { Tile } from "./live/tile.js";

const LAYOUTS = [1, 4, 9, 16];
const MOTION_MS = 5000;

// --- per-user settings --------------------------------------------------------------------------
function storeKey(ctx) {
  return `ronda.live:${ctx.me ? ctx.me.username : ""}`;
}

function loadSettings(ctx) {
  try {
    const s = JSON.parse(localStorage.getItem(storeKey(ctx)) || "{}");
    return { layout: LAYOUTS.includes(s.layout) ? s.layout : 4, slots: Array.isArray(s.slots) ? s.slots : null, views: s.views || {} };
  } catch {
    return { layout: 4, slots: null, views: {} };
  }
}

function saveSettings(ctx, s) {
  localStorage.setItem(storeKey(ctx), JSON.stringify(s));
}

// --- the view -----------------------------------------------------------------------------------
export default {
  id: "live",
  right: null,
  async render(root, ctx, params) {
    loadCss("css/live.css");
    const settings = loadSettings(ctx);
    const singleId = params.rest && params.rest[0] ? Number(params.rest[0]) : null;
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
    const tiles = [];
    let disposed = false;
    let focusIndex = 0;

    const camerasInAlarm = () => new Set([...alarmCams.values()].flat());
    const refreshTiles = () => {
      const inAlarm = camerasInAlarm();
      const now = Date.now();
      for (const tile of tiles) {
        const cam = byId.get(tile.cam.id) || tile.cam;
        tile.update(cam, inAlarm.has(cam.id), (motionUntil.get(cam.id) || 0) > now);
      }
      for (const li of tree.querySelectorAll("[data-camera-id]")) {
        const cam = byId.get(Number(li.dataset.cameraId));
        if (!cam) continue;
        li.querySelector(".dot").className = `dot st-${cam.status}`;
        li.classList.toggle("alarm", inAlarm.has(cam.id));
      }
    };

    // slots: the grid's camera ids (null = empty tile), filled with the visible cameras the first time
    const visibleIds = cameras.map((c) => c.id);
    let slots = (settings.slots || visibleIds).filter((id) => id === null || byId.has(id));
    if (!slots.some((id) => id !== null)) slots = visibleIds.slice();
    const persist = () => {
      settings.slots = slots;
      saveSettings(ctx, settings);
    };

    // ---- the camera tree with search
    const search = h("input", { type: "search", placeholder: t("live.search"), "aria-label": t("live.search"),
      "data-testid": "camera-search" });
    const tree = h("ul", { class: "camera-tree", role: "tree", "aria-label": t("live.cameras") });
    // The tree: organisation / camera group -> cameras (a camera in no group sits under the site).
    const groupLabel = (g) => (g.organisation ? `${g.organisation} / ${g.name}` : g.name || String(g));
    const groupsOf = (cam) => (Array.isArray(cam.groups) && cam.groups.length ? cam.groups.map(groupLabel) : [null]);
    const buildTree = () => {
      clear(tree);
      const q = search.value.trim().toLowerCase();
      const shown = cameras.filter((c) => !q || c.name.toLowerCase().includes(q));
      const groups = new Map();
      for (const cam of shown) for (const g of groupsOf(cam)) groups.set(g, [...(groups.get(g) || []), cam]);
      if (!shown.length) tree.append(h("li", { class: "muted", role: "none", text: cameras.length ? t("common.none") : t("live.noCameras") }));
      for (const [group, cams] of groups) {
        const items = cams.map((cam) => {
          const li = h("li", { role: "treeitem", tabindex: "0", "data-camera-id": cam.id, draggable: "true",
            title: t("live.hint"), "data-testid": "camera-item" },
            h("span", { class: `dot st-${cam.status}`, "aria-hidden": "true" }), h("span", { text: cam.name }));
          li.addEventListener("click", () => place(cam.id));
          li.addEventListener("dblclick", () => openSingle(cam.id));
          li.addEventListener("keydown", (e) => {
            if (e.key === "Enter") openSingle(cam.id);
            else if (e.key === " ") place(cam.id);
            else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
              const all = [...tree.querySelectorAll("[role=treeitem][data-camera-id]")];
              const next = all[all.indexOf(li) + (e.key === "ArrowDown" ? 1 : -1)];
              if (next) next.focus();
            } else return;
            e.preventDefault();
          });
          li.addEventListener("dragstart", (e) => e.dataTransfer.setData("text/x-ronda-camera", String(cam.id)));
          return li;
        });
        const label = group || (site && site.name) || t("live.cameras");
        tree.append(h("li", { role: "treeitem", "aria-expanded": "true", class: "group" },
          h("span", { class: "group-name", text: label }), h("ul", { role: "group" }, items)));
      }
      refreshTiles();
    };
    search.addEventListener("input", buildTree);

    // ---- saved views
    const viewSelect = h("select", { "aria-label": t("live.views"), "data-testid": "saved-views" });
    const fillViews = () => {
      clear(viewSelect);
      viewSelect.append(h("option", { value: "", text: t("live.views.choose") }),
        ...Object.keys(settings.views).sort().map((name) => h("option", { value: name, text: name })));
    };
    viewSelect.addEventListener("change", () => {
      const v = settings.views[viewSelect.value];
      if (!v) return;
      settings.layout = LAYOUTS.includes(v.layout) ? v.layout : 4;
      slots = v.cameras.filter((id) => id === null || byId.has(id));
      persist();
      if (singleId) ctx.navigate("/live");
      else renderGrid();
    });
    const nameInput = h("input", { placeholder: t("live.views.name"), "aria-label": t("live.views.name"), maxlength: 60,
      "data-testid": "view-name" });
    const saveForm = h("form", { class: "save-view" }, nameInput,
      h("button", { type: "submit", text: t("live.views.save") }),
      h("button", { type: "button", text: "✕", title: t("live.views.delete"), "aria-label": t("live.views.delete"), onclick: () => {
        if (!viewSelect.value) return;
        delete settings.views[viewSelect.value];
        saveSettings(ctx, settings);
        fillViews();
      } }));
    saveForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const name = nameInput.value.trim();
      if (!name) return;
      settings.views[name] = { layout: settings.layout, cameras: slots.slice(0, settings.layout) };
      saveSettings(ctx, settings);
      fillViews();
      viewSelect.value = name;
      nameInput.value = "";
      toast(t("live.views.saved", { name }));
    });
    fillViews();

    const side = h("aside", { class: "live-side", "aria-label": t("live.cameras") },
      h("details", { class: "side-box", open: !window.matchMedia("(max-width: 700px)").matches },
        h("summary", { text: t("live.cameras") }), search, tree),
      h("div", { class: "side-box" }, h("h2", { text: t("live.views") }), viewSelect, saveForm));

    // ---- layout buttons and the grid
    const layoutBar = h("div", { class: "layouts", role: "group", "aria-label": t("live.layout") },
      ...LAYOUTS.map((n) => h("button", { type: "button", "data-layout": n, "data-testid": `layout-${n}`,
        "aria-label": t("live.layout.n", { n }), title: t("live.layout.n", { n }), onclick: () => {
          settings.layout = n;
          persist();
          renderGrid();
        } }, n === 1 ? "1" : `${Math.sqrt(n)}×${Math.sqrt(n)}`)));
    const grid = h("div", { class: "live-grid", role: "group", "aria-label": t("nav.live") });
    const main = h("section", { class: "live-main" });

    const stopTiles = () => {
      for (const tile of tiles.splice(0)) tile.stop();
    };

    function openSingle(id) {
      if (id === null) ctx.navigate("/live");
      else if (byId.has(id)) ctx.navigate(`/live/${id}`);
    }

    // a camera chosen in the tree goes into the focused tile, then the focus moves on
    function place(id, index = focusIndex) {
      if (singleId) {
        openSingle(id);
        return;
      }
      while (slots.length < settings.layout) slots.push(null);
      slots[index] = id;
      persist();
      focusIndex = (index + 1) % settings.layout;
      renderGrid();
    }

    function columns() {
      return getComputedStyle(grid).gridTemplateColumns.split(" ").filter(Boolean).length || 1;
    }

    function focusTile(i) {
      const cells = [...grid.children];
      if (!cells.length) return;
      focusIndex = Math.max(0, Math.min(cells.length - 1, i));
      cells.forEach((c, k) => c.setAttribute("tabindex", k === focusIndex ? "0" : "-1"));
      cells[focusIndex].focus();
    }

    grid.addEventListener("keydown", (e) => {
      const cell = e.target.closest(".tile, .tile-empty");
      if (!cell || e.target !== cell) return;
      const i = Number(cell.dataset.index);
      const cols = columns();
      const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols, Home: -i, End: grid.children.length };
      if (e.key in moves) focusTile(i + moves[e.key]);
      else if (e.key === "Enter" && cell.dataset.cameraId) openSingle(Number(cell.dataset.cameraId));
      else if (e.key === "Enter") search.focus();
      else if (e.key === "Delete" && cell.dataset.cameraId) place(null, i);
      else return;
      e.preventDefault();
    });
    grid.addEventListener("focusin", (e) => {
      const cell = e.target.closest(".tile, .tile-empty");
      if (cell) focusIndex = Number(cell.dataset.index);
    });

    function renderGrid() {
      stopTiles();
      clear(grid);
      const n = settings.layout;
      grid.style.setProperty("--cols", String(Math.sqrt(n)));
      grid.dataset.layout = String(n);
      for (const b of layoutBar.children) b.setAttribute("aria-pressed", String(Number(b.dataset.layout) === n));
      focusIndex = Math.min(focusIndex, n - 1);
      for (let i = 0; i < n; i++) {
        const cam = byId.get(slots[i]);
        let cell;
        if (cam) {
          const tile = new Tile(ctx, cam, { view: "grid", index: i, onOpen: openSingle });
          tiles.push(tile);
          cell = tile.el;
          tile.start();
        } else {
          cell = h("div", { class: "tile-empty", tabindex: "-1", "data-index": i, role: "group", "aria-label": t("live.empty") },
            h("span", { class: "muted", text: t("live.empty") }));
        }
        cell.setAttribute("tabindex", i === focusIndex ? "0" : "-1");
        cell.addEventListener("dragover", (e) => e.preventDefault());
        cell.addEventListener("drop", (e) => {
          e.preventDefault();
          const id = Number(e.dataTransfer.getData("text/x-ronda-camera"));
          if (byId.has(id)) place(id, i);
        });
        grid.append(cell);
      }
      refreshTiles();
    }

    function renderSingle(cam) {
      const tile = new Tile(ctx, cam, { view: "single", index: 0, onOpen: openSingle });
      tiles.push(tile);
      tile.el.setAttribute("tabindex", "0");
      root.addEventListener("keydown", (e) => {
        if (e.key === "Escape" && !e.target.closest("input, select, textarea")) {
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
        tile.el));
      tile.start();
      refreshTiles();
      tile.el.focus();
    }

    root.append(h("div", { class: "live" }, side, main));
    buildTree();
    if (singleId && byId.has(singleId)) {
      renderSingle(byId.get(singleId));
    } else {
      main.append(h("div", { class: "live-toolbar" }, layoutBar, h("span", { class: "muted hint", text: t("live.hint") })), grid);
      renderGrid();
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
        if (type === "camera.online") for (const tile of tiles) if (tile.cam.id === cam.id) tile.restartSoon(500);
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
      stopTiles();
    };
  },
};
