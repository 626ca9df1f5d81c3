// @ts-check
// The site map: the plan uploaded by an administrator (a PNG/JPEG image, or GeoJSON drawn as SVG), or the
// geographic map (Leaflet over the configured tiles, cameras by latitude/longitude with their view as a
// cone; a dome's cone follows its pan), with a marker per camera: its status colour, a red pulse while it
// has an open alarm. Clicking a marker opens a live popup. With the manage_cameras right, an edit mode
// uploads the plan and places cameras (drag from the list, drag a marker, "Place" then click, or arrow
// keys on a focused marker) and sets their view. GET /api/v1/map says which map shows first (map.mode).
// Components in map/: stage.js (the plan on screen), geo.js (the geographic map), cone.js, marker.js,
// placement.js, panel.js and geopanel.js (edit mode), popup.js.
import { errorText } from "../api.js";
import { h, loadCss } from "../dom.js";
import { t } from "../i18n.js";
import "./map/strings.js";
import { PanFollower } from "./map/cone.js";
import { GeoStage } from "./map/geo.js";
import { geoCameraList, saveGeo } from "./map/geopanel.js";
import { alarmCameras, legend, marker } from "./map/marker.js";
import { paintPanel, planControls } from "./map/panel.js";
import { Placement } from "./map/placement.js";
import { projection, statusClass } from "./map/plan.js";
import { LivePopup } from "./map/popup.js";
import { PlanStage } from "./map/stage.js";

/** @typedef {import("./map/stage.js").MapCamera} MapCamera */

export default {
  id: "map",
  right: null,
  /**
   * @param {HTMLElement} root
   * @param {import("../app.js").AppContext} ctx
   */
  async render(root, ctx) {
    loadCss("css/map.css");
    const canEdit = ctx.can("manage_cameras");
    /** @type {{ data: { plan: import("./map/stage.js").Plan | null, cameras: MapCamera[], mode: string,
     *   tile_url: string | null, attribution: string, max_zoom: number } | null, planKey: string | null,
     *   editing: boolean, alarms: Map<number, Set<number>>, stopped: boolean, reloadTimer: any, mode: string | null }} */
    const st = { data: null, planKey: null, editing: false, alarms: new Map(), stopped: false, reloadTimer: null, mode: null };

    const error = h("p", { class: "error", role: "alert" });
    const stage = new PlanStage(ctx, () => st.data && st.data.plan);
    const planBox = stage.box;
    const showError = (/** @type {unknown} */ e) => {
      error.textContent = e ? errorText(e) : "";
    };
    const cameras = () => (st.data ? st.data.cameras : []);
    const placement = new Placement(ctx, stage, { editing: () => st.editing, cameras, showError, load });
    const popup = new LivePopup(ctx, () => st.stopped);
    const geo = new GeoStage((cam, lat, lon) => saveGeo(geoView, cam, { lat, lon }));
    const geoView = { ctx, geo, hint: placement.hint, cameras, showError, load };
    const panelView = { ctx, stage, placement, cameras, showError, load };
    const follower = new PanFollower(ctx, (id, pan) => geo.turn(id, pan));
    const geographic = () => Boolean(st.data) && (st.mode || st.data.mode) === "geographic";
    const busy = () => Boolean(placement.dragging || placement.placing || geo.dragging !== null || geo.placing);
    const modeBtn = h("button", { type: "button", "data-testid": "map-mode", hidden: true });
    modeBtn.addEventListener("click", () => {
      st.mode = geographic() ? "plan" : "geographic";
      popup.close();
      paint();
    });
    const editBtn = canEdit
      ? h("button", { type: "button", class: "map-edit-toggle", "data-testid": "map-edit", "aria-pressed": "false", text: t("map.edit") })
      : null;
    const panel = h("aside", { class: "map-edit-panel", hidden: true, "aria-label": t("map.edit") });
    root.append(h("section", { class: "map-view" },
      h("div", { class: "map-toolbar" }, h("h2", { text: t("map.title") }), legend(), h("span", { class: "spacer" }), modeBtn, editBtn),
      error, placement.hint,
      h("div", { class: "map-body" }, panel, stage.el, geo.el),
      popup.el));

    // --- data --------------------------------------------------------------------------------------
    async function loadAlarms() {
      try {
        const open = await ctx.api.call("/api/v1/alarms?state=open&limit=2000");
        st.alarms = new Map(open.map((a) => [a.id, alarmCameras(a)]));
      } catch {
        st.alarms = new Map(); // alarms are a highlight; the map works without them
      }
    }

    async function load() {
      try {
        const data = await ctx.api.call("/api/v1/map");
        if (st.stopped) return;
        const key = data.plan ? data.plan.url : null;
        if (key !== st.planKey) {
          await stage.load(data.plan);
          st.planKey = key;
        }
        st.data = data;
        showError(null);
        paint();
      } catch (e) {
        if (!st.stopped) showError(e);
      }
    }

    function scheduleReload(delay = 500) {
      clearTimeout(st.reloadTimer);
      st.reloadTimer = setTimeout(load, delay);
    }

    // --- drawing -------------------------------------------------------------------------------------
    function paint() {
      for (const m of planBox.querySelectorAll(".map-marker")) m.remove();
      const geoMode = geographic();
      const p = stage.plan();
      modeBtn.hidden = !p;
      modeBtn.textContent = geoMode ? t("map.showPlan") : t("map.showGeo");
      stage.el.hidden = geoMode;
      geo.el.hidden = !geoMode;
      stage.empty.hidden = Boolean(p);
      stage.empty.textContent = canEdit ? t("map.noPlanAdmin") : t("map.noPlan");
      planBox.hidden = !p;
      planBox.classList.toggle("editing", st.editing);
      const alarmed = new Set();
      for (const cams of st.alarms.values()) for (const c of cams) alarmed.add(c);
      const onOpen = (/** @type {MapCamera} */ c) => popup.show(c);
      if (geoMode) {
        geo.start(st.data);
        geo.fit();
        geo.paint(st.data.cameras, { alarmed, editing: st.editing, onOpen });
        follower.follow(st.data.cameras.filter((c) => c.ptz && c.direction != null && c.lat != null).map((c) => c.id));
      } else {
        follower.follow([]);
        stage.fit();
        for (const cam of p ? st.data.cameras : []) {
          const f = stage.fractionOf(cam);
          if (f) planBox.append(marker(cam, f, { alarmed: alarmed.has(cam.id), editing: st.editing, placement, onOpen }));
        }
      }
      // Not while a view input has the focus: a reload (a camera's status changed) would replace it mid-typing.
      const active = document.activeElement;
      if (!st.editing || (active instanceof HTMLInputElement && active.type === "number" && panel.contains(active))) return;
      if (geoMode) panel.replaceChildren(...planControls(panelView), ...geoCameraList(geoView));
      else paintPanel(panelView, panel);
    }

    if (editBtn) {
      editBtn.addEventListener("click", () => {
        st.editing = !st.editing;
        editBtn.textContent = st.editing ? t("map.done") : t("map.edit");
        editBtn.setAttribute("aria-pressed", String(st.editing));
        panel.hidden = !st.editing;
        if (!st.editing) {
          placement.stop();
          geo.stopPlacing();
        }
        popup.close();
        paint();
      });
    }

    // --- live updates ----------------------------------------------------------------------------------------
    const onAlarm = (e) => {
      const a = e.detail.alarm;
      if (!a) return;
      if (a.state === "closed") st.alarms.delete(a.id);
      else st.alarms.set(a.id, alarmCameras(a));
      if (st.data && !busy()) paint();
    };
    const onEvent = (e) => {
      const ev = e.detail.event;
      if (ev && typeof ev.type === "string" && ev.type.startsWith("camera.")) scheduleReload();
    };
    const onKey = (/** @type {KeyboardEvent} */ e) => {
      if (e.key !== "Escape") return;
      if (placement.placing) placement.stop();
      else if (geo.placing) geo.stopPlacing();
      else if (popup.open) popup.close();
    };
    const onResync = async () => {
      await loadAlarms();
      if (!st.stopped && st.data && !busy()) paint();
    };
    ctx.events.addEventListener("alarm", onAlarm);
    ctx.events.addEventListener("event", onEvent);
    ctx.events.addEventListener("resync", onResync);
    document.addEventListener("keydown", onKey);
    const resize = new ResizeObserver(() => (geographic() ? geo.fit() : stage.fit()));
    resize.observe(stage.el);
    const poll = setInterval(() => {
      if (!busy()) load();
    }, 30000);

    await loadAlarms();
    await load();

    return () => {
      st.stopped = true;
      popup.close();
      clearInterval(poll);
      follower.stop();
      geo.dispose();
      clearTimeout(st.reloadTimer);
      resize.disconnect();
      ctx.events.removeEventListener("alarm", onAlarm);
      ctx.events.removeEventListener("event", onEvent);
      ctx.events.removeEventListener("resync", onResync);
      document.removeEventListener("keydown", onKey);
      stage.dispose();
    };
  },
};

export { projection, statusClass };
