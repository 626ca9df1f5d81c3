// @ts-check
// The site map: the plan uploaded by an administrator (a PNG/JPEG image, or GeoJSON drawn as SVG) with
// a marker per camera: its status colour, a red pulse while it has an open alarm. Clicking a marker opens
// a live popup. With the manage_cameras right, an edit mode uploads the plan and places cameras (drag from
// the list, drag a marker, "Place" then click, or arrow keys on a focused marker).
// No internet tiles: GET /api/v1/map always answers tile_url null today.
import { errorText } from "../api.js";
import { clear, h, loadCss, toast } from "../dom.js";
import { t } from "../i18n.js";
import "./map/strings.js";
import { drawGeoJson, projection, statusClass, svg } from "./map/plan.js";
import { showLive } from "../live.js";

export default {
  id: "map",
  right: null,
  async render(root, ctx) {
    loadCss("css/map.css");
    const canEdit = ctx.can("manage_cameras");
    const st = {
      data: null, planKey: null, objectUrl: null, proj: null, editing: false, placing: null,
      alarms: new Map(), live: null, popupCamera: null, stopped: false, reloadTimer: null, dragging: null,
    };

    const error = h("p", { class: "error", role: "alert" });
    const planBox = h("div", { class: "map-plan", "data-testid": "map-plan" });
    const empty = h("p", { class: "muted map-empty", hidden: true });
    const stage = h("div", { class: "map-stage", "data-testid": "map-stage" }, planBox, empty);
    const hint = h("p", { class: "map-hint", role: "status", hidden: true });
    const editBtn = canEdit
      ? h("button", { type: "button", class: "map-edit-toggle", "data-testid": "map-edit", "aria-pressed": "false", text: t("map.edit") })
      : null;
    const legend = h("ul", { class: "map-legend", "aria-label": "legend" },
      ...[["ok", "map.legend.ok"], ["warn", "map.legend.warn"], ["bad", "map.legend.bad"], ["alarm", "map.legend.alarm"]].map(([c, k]) =>
        h("li", {}, h("span", { class: `dot ${c}` }), t(k))));
    const panel = h("aside", { class: "map-edit-panel", hidden: true, "aria-label": t("map.edit") });
    const popup = h("div", { class: "map-popup", role: "dialog", "aria-modal": "false", hidden: true });
    root.append(h("section", { class: "map-view" },
      h("div", { class: "map-toolbar" }, h("h2", { text: t("map.title") }), legend, h("span", { class: "spacer" }), editBtn),
      error, hint,
      h("div", { class: "map-body" }, panel, stage),
      popup));

    // --- data --------------------------------------------------------------------------------------
    const showError = (e) => {
      error.textContent = e ? errorText(e) : "";
    };

    async function loadPlan(plan) {
      if (st.objectUrl) URL.revokeObjectURL(st.objectUrl);
      st.objectUrl = null;
      st.proj = null;
      clear(planBox);
      if (!plan) return;
      if (plan.type === "geojson") {
        const doc = await ctx.api.call(plan.url);
        st.proj = projection(plan.bounds);
        planBox.append(drawGeoJson(doc, st.proj));
      } else {
        // The plan needs the Authorization header: fetched as a blob, shown through an object URL.
        const res = await ctx.api.call(plan.url, { raw: true });
        if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
        st.objectUrl = URL.createObjectURL(await res.blob());
        planBox.append(h("img", { src: st.objectUrl, alt: t("map.title"), draggable: "false", class: "map-image" }));
      }
    }

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
          await loadPlan(data.plan);
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
    const plan = () => st.data && st.data.plan;
    const aspect = () => {
      const p = plan();
      if (!p) return 1;
      return p.type === "geojson" ? st.proj.aspect : p.width / p.height;
    };

    function fit() {
      if (!plan()) {
        planBox.style.width = planBox.style.height = "";
        return;
      }
      const r = stage.getBoundingClientRect();
      const a = aspect();
      const w = Math.max(50, Math.min(r.width - 16, (r.height - 16) * a));
      planBox.style.width = `${Math.round(w)}px`;
      planBox.style.height = `${Math.round(w / a)}px`;
    }

    function fractionOf(cam) {
      const p = plan();
      if (!p) return null;
      if (p.type === "geojson") return cam.lat == null || cam.lon == null ? null : st.proj.toFrac(cam.lon, cam.lat);
      return cam.x == null || cam.y == null ? null : [cam.x, cam.y];
    }

    function alarmedCameras() {
      const out = new Set();
      for (const cams of st.alarms.values()) for (const c of cams) out.add(c);
      return out;
    }

    function paint() {
      for (const m of planBox.querySelectorAll(".map-marker")) m.remove();
      const p = plan();
      empty.hidden = Boolean(p);
      empty.textContent = canEdit ? t("map.noPlanAdmin") : t("map.noPlan");
      planBox.hidden = !p;
      planBox.classList.toggle("editing", st.editing);
      fit();
      const alarmed = alarmedCameras();
      if (p) {
        for (const cam of st.data.cameras) {
          const f = fractionOf(cam);
          if (!f) continue;
          planBox.append(marker(cam, f, alarmed.has(cam.id)));
        }
      }
      if (st.editing) paintPanel();
    }

    function marker(cam, [fx, fy], alarmed) {
      const label = `${cam.name} — ${cam.status}${alarmed ? `, ${t("map.alarm")}` : ""}`;
      const m = h("button", {
        type: "button",
        class: `map-marker ${statusClass(cam.status)}${alarmed ? " alarm" : ""}`,
        title: label,
        "aria-label": label,
        "data-testid": "map-marker",
        "data-camera-id": cam.id,
        "data-status": cam.status,
        "data-alarm": alarmed ? "true" : "false",
      }, h("span", { class: "map-marker-label", text: cam.name }));
      // Through the CSSOM, not a style attribute: the Content-Security-Policy forbids inline styles.
      m.style.left = `${(fx * 100).toFixed(3)}%`;
      m.style.top = `${(fy * 100).toFixed(3)}%`;
      m.addEventListener("click", (e) => {
        if (st.editing || st.dragging) return;
        e.stopPropagation();
        openPopup(cam);
      });
      if (st.editing) {
        m.addEventListener("pointerdown", (e) => startMove(e, m, cam));
        m.addEventListener("keydown", (e) => keyMove(e, m, cam));
      }
      return m;
    }

    // --- live popup --------------------------------------------------------------------------------------
    function closePopup() {
      if (st.live) st.live.stop();
      st.live = null;
      st.popupCamera = null;
      clear(popup);
      popup.hidden = true;
    }

    async function openPopup(cam) {
      closePopup();
      st.popupCamera = cam.id;
      const status = h("p", { class: "muted map-live-status", role: "status", text: t("map.status", { status: cam.status }) });
      const video = h("video", { muted: true, autoplay: true, playsinline: true, "aria-label": cam.name });
      video.muted = true;
      const img = h("img", { hidden: true, alt: cam.name });
      const close = h("button", { type: "button", class: "link", "aria-label": t("common.close"), text: "✕", onclick: closePopup });
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
        if (st.popupCamera !== cam.id || st.stopped) live.stop();
        else st.live = live;
      } catch (e) {
        status.textContent = errorText(e);
        status.classList.add("error");
      }
    }

    // --- edit mode ------------------------------------------------------------------------------------------
    async function savePosition(cam, fx, fy) {
      fx = Math.min(1, Math.max(0, fx));
      fy = Math.min(1, Math.max(0, fy));
      let body;
      if (plan().type === "geojson") {
        const [lon, lat] = st.proj.fromFrac(fx, fy);
        body = { lat: +Math.min(90, Math.max(-90, lat)).toFixed(7), lon: +Math.min(180, Math.max(-180, lon)).toFixed(7) };
      } else {
        body = { x: +fx.toFixed(5), y: +fy.toFixed(5) };
      }
      try {
        await ctx.api.call(`/api/v1/map/cameras/${cam.id}`, { method: "PUT", body });
        toast(t("map.saved", { name: cam.name }));
        showError(null);
      } catch (e) {
        showError(e);
      }
      await load();
    }

    function fracAt(clientX, clientY) {
      const r = planBox.getBoundingClientRect();
      return [(clientX - r.left) / r.width, (clientY - r.top) / r.height];
    }

    function startMove(e, m, cam) {
      if (e.button !== 0) return;
      e.preventDefault();
      m.setPointerCapture(e.pointerId);
      const start = [e.clientX, e.clientY];
      let moved = false;
      const move = (ev) => {
        if (Math.abs(ev.clientX - start[0]) + Math.abs(ev.clientY - start[1]) > 3) moved = true;
        if (!moved) return;
        st.dragging = cam.id;
        const [fx, fy] = fracAt(ev.clientX, ev.clientY);
        m.style.left = `${Math.min(1, Math.max(0, fx)) * 100}%`;
        m.style.top = `${Math.min(1, Math.max(0, fy)) * 100}%`;
      };
      const up = (ev) => {
        m.removeEventListener("pointermove", move);
        m.removeEventListener("pointerup", up);
        m.removeEventListener("pointercancel", up);
        if (moved) savePosition(cam, ...fracAt(ev.clientX, ev.clientY)).finally(() => { st.dragging = null; });
      };
      m.addEventListener("pointermove", move);
      m.addEventListener("pointerup", up);
      m.addEventListener("pointercancel", up);
    }

    function keyMove(e, m, cam) {
      const step = e.shiftKey ? 0.05 : 0.01;
      const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
      if (!d) return;
      e.preventDefault();
      const [fx, fy] = fractionOf(cam);
      savePosition(cam, fx + d[0], fy + d[1]).then(() => {
        const again = planBox.querySelector(`.map-marker[data-camera-id="${cam.id}"]`);
        if (again) again.focus();
      });
    }

    function startPlacing(cam) {
      st.placing = cam;
      planBox.classList.add("placing");
      hint.hidden = false;
      hint.textContent = t("map.placeHint", { name: cam.name });
    }

    function stopPlacing() {
      st.placing = null;
      planBox.classList.remove("placing");
      hint.hidden = true;
    }

    planBox.addEventListener("click", (e) => {
      if (!st.editing || !st.placing) return;
      const cam = st.placing;
      stopPlacing();
      savePosition(cam, ...fracAt(e.clientX, e.clientY));
    });
    planBox.addEventListener("dragover", (e) => {
      if (!st.editing || !e.dataTransfer.types.includes("application/x-ronda-camera")) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "move";
      planBox.classList.add("drop-target");
    });
    planBox.addEventListener("dragleave", () => planBox.classList.remove("drop-target"));
    planBox.addEventListener("drop", (e) => {
      planBox.classList.remove("drop-target");
      if (!st.editing) return;
      const id = Number(e.dataTransfer.getData("application/x-ronda-camera"));
      const cam = st.data.cameras.find((c) => c.id === id);
      if (!cam) return;
      e.preventDefault();
      savePosition(cam, ...fracAt(e.clientX, e.clientY));
    });

    async function upload(file) {
      const ext = (file.name.split(".").pop() || "").toLowerCase();
      const type = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", geojson: "application/geo+json", json: "application/geo+json",
        svg: "image/svg+xml" }[ext] || file.type || "application/octet-stream";
      try {
        await ctx.api.call("/api/v1/map/plan", { method: "PUT", body: file, headers: { "Content-Type": type } });
        toast(t("map.uploaded"));
        showError(null);
      } catch (e) {
        showError(e);
      }
      await load();
    }

    function paintPanel() {
      clear(panel);
      const file = h("input", { type: "file", "data-testid": "map-upload", "aria-label": t("map.upload"),
        accept: ".png,.jpg,.jpeg,.geojson,.json,image/png,image/jpeg,application/geo+json" });
      file.addEventListener("change", () => {
        if (file.files[0]) upload(file.files[0]);
      });
      const remove = h("button", { type: "button", class: "danger", text: t("map.removePlan"), hidden: !plan() });
      remove.addEventListener("click", () => {
        const yes = h("button", { type: "button", class: "danger", text: t("map.yes") });
        const no = h("button", { type: "button", text: t("map.no"), onclick: () => confirm.replaceWith(remove) });
        const confirm = h("span", { class: "confirm", role: "group" }, t("map.removePlanConfirm"), " ", yes, no);
        yes.addEventListener("click", async () => {
          try {
            await ctx.api.call("/api/v1/map/plan", { method: "DELETE" });
          } catch (e) {
            showError(e);
          }
          await load();
        });
        remove.replaceWith(confirm);
        no.focus();
      });
      const cams = st.data ? st.data.cameras : [];
      const list = h("ul", { class: "map-cam-list", "aria-label": t("map.cameras") },
        ...cams.map((cam) => {
          const placed = Boolean(fractionOf(cam));
          const li = h("li", { class: "map-cam", draggable: plan() ? "true" : "false", "data-testid": "map-camera-item", "data-camera-id": cam.id },
            h("span", { class: `dot ${statusClass(cam.status)}` }),
            h("span", { class: "name", text: cam.name }),
            h("span", { class: "muted state", text: placed ? t("map.placed") : t("map.notPlaced") }),
            plan() ? h("button", { type: "button", text: t("map.place"), onclick: () => startPlacing(cam) }) : null,
            placed ? h("button", { type: "button", class: "link", text: t("map.unplace"), onclick: async () => {
              try {
                await ctx.api.call(`/api/v1/map/cameras/${cam.id}`, { method: "DELETE" });
              } catch (e) {
                showError(e);
              }
              await load();
            } }) : null);
          li.addEventListener("dragstart", (e) => {
            e.dataTransfer.setData("application/x-ronda-camera", String(cam.id));
            e.dataTransfer.effectAllowed = "move";
          });
          return li;
        }));
      panel.append(
        h("label", { class: "map-upload" }, h("strong", { text: t("map.upload") }), file),
        h("p", { class: "muted small", text: t("map.uploadHint") }),
        remove,
        h("h3", { text: t("map.cameras") }),
        h("p", { class: "muted small", text: t("map.dragHint") }),
        cams.length ? list : h("p", { class: "muted", text: t("map.noCameras") }));
    }

    if (editBtn) {
      editBtn.addEventListener("click", () => {
        st.editing = !st.editing;
        editBtn.textContent = st.editing ? t("map.done") : t("map.edit");
        editBtn.setAttribute("aria-pressed", String(st.editing));
        panel.hidden = !st.editing;
        if (!st.editing) stopPlacing();
        closePopup();
        paint();
      });
    }

    // --- live updates ----------------------------------------------------------------------------------------
    const onAlarm = (e) => {
      const a = e.detail.alarm;
      if (!a) return;
      if (a.state === "closed") st.alarms.delete(a.id);
      else st.alarms.set(a.id, alarmCameras(a));
      if (st.data && !st.dragging) paint();
    };
    const onEvent = (e) => {
      const ev = e.detail.event;
      if (ev && typeof ev.type === "string" && ev.type.startsWith("camera.")) scheduleReload();
    };
    const onKey = (e) => {
      if (e.key !== "Escape") return;
      if (st.placing) stopPlacing();
      else if (!popup.hidden) closePopup();
    };
    const onResync = async () => {
      await loadAlarms();
      if (!st.stopped && st.data && !st.dragging) paint();
    };
    ctx.events.addEventListener("alarm", onAlarm);
    ctx.events.addEventListener("event", onEvent);
    ctx.events.addEventListener("resync", onResync);
    document.addEventListener("keydown", onKey);
    const resize = new ResizeObserver(() => fit());
    resize.observe(stage);
    const poll = setInterval(() => {
      if (!st.dragging && !st.placing) load();
    }, 30000);

    await loadAlarms();
    await load();

    return () => {
      st.stopped = true;
      closePopup();
      clearInterval(poll);
      clearTimeout(st.reloadTimer);
      resize.disconnect();
      ctx.events.removeEventListener("alarm", onAlarm);
      ctx.events.removeEventListener("event", onEvent);
      ctx.events.removeEventListener("resync", onResync);
      document.removeEventListener("keydown", onKey);
      if (st.objectUrl) URL.revokeObjectURL(st.objectUrl);
    };
  },
};

function alarmCameras(a) {
  return new Set([a.camera, ...(a.cameras || [])].filter((c) => c !== null && c !== undefined));
}

export { projection, statusClass };
