// @ts-check
// The geographic map: a Leaflet base map from the configured XYZ tiles (map.tile_url), each camera at its
// latitude/longitude with the same marker as on the plan (marker.js) and its view drawn as a cone. In
// edit mode markers are dragged (Leaflet) or moved with the arrow keys, and "Place" + click places one.
import * as L from "../../../vendor/leaflet/leaflet-src.esm.js";
import { h, loadCss } from "../../dom.js";
import { t } from "../../i18n.js";
import { conePoints, domeDirection } from "./cone.js";
import { marker } from "./marker.js";

/** @typedef {import("./stage.js").MapCamera} MapCamera */
/** @typedef {{ tile_url: string | null, attribution: string, max_zoom: number }} Tiles */

const START = /** @type {[number, number]} */ ([42.9326, 12.6086]); // an empty map opens here, zoomed out
const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
// Leaflet writes attributions as HTML: the configured text is shown as text.
const escape = (/** @type {string} */ s) => s.replace(/[&<>"']/g, (c) => ESC[c]);

export class GeoStage {
  /** @type {L.Map | null} */
  map = null;
  /** @type {Map<number, { cam: MapCamera, cone: L.Polygon | null }>} */
  shown = new Map();
  /** @type {Map<number, number>} domes' pan, by camera id */
  pans = new Map();
  fitted = false;
  /** @type {MapCamera | null} the camera waiting for a click on the map */
  placing = null;
  /** @type {number | null} the camera whose marker is being dragged (the map does not repaint then) */
  dragging = null;
  /** @type {HTMLElement | null} */
  hint = null;

  /** @param {(cam: MapCamera, lat: number, lon: number) => Promise<void>} save */
  constructor(save) {
    this.save = save;
    this.el = h("div", { class: "map-geo-stage", "data-testid": "map-geo", hidden: true });
    this.layer = L.layerGroup();
  }

  /** @param {Tiles} tiles */
  start(tiles) {
    if (this.map) return;
    loadCss("vendor/leaflet/leaflet.css");
    const map = L.map(this.el, { maxZoom: tiles.max_zoom, worldCopyJump: true });
    map.attributionControl.setPrefix(false);
    if (tiles.tile_url) {
      L.tileLayer(tiles.tile_url, { maxZoom: tiles.max_zoom, attribution: escape(tiles.attribution), className: "map-tiles",
        referrerPolicy: "strict-origin" }).addTo(map);
    }
    map.setView(START, 3);
    this.layer.addTo(map);
    map.on("click", (e) => {
      if (!this.placing) return;
      const cam = this.placing;
      this.stopPlacing();
      this.save(cam, e.latlng.lat, e.latlng.lng);
    });
    this.map = map;
  }

  fit() {
    if (this.map) this.map.invalidateSize(false);
  }

  /**
   * @param {MapCamera[]} cameras
   * @param {{ alarmed: Set<number>, editing: boolean, onOpen: (cam: MapCamera) => void }} o
   */
  paint(cameras, { alarmed, editing, onOpen }) {
    this.layer.clearLayers();
    this.shown.clear();
    this.el.classList.toggle("editing", editing);
    const placed = cameras.filter((c) => c.lat != null && c.lon != null);
    for (const cam of placed) {
      const el = marker(cam, [0.5, 0.5], { alarmed: alarmed.has(cam.id), editing, placement: this.keys(), onOpen });
      const m = L.marker([cam.lat, cam.lon], { icon: L.divIcon({ html: el, className: "map-geo-icon", iconSize: null }),
        draggable: editing, keyboard: false, autoPanOnFocus: false }).addTo(this.layer);
      m.on("dragstart", () => { this.dragging = cam.id; });
      m.on("dragend", () => {
        const p = m.getLatLng();
        this.save(cam, p.lat, p.lng).finally(() => { this.dragging = null; });
      });
      this.shown.set(cam.id, { cam, cone: this.cone(cam) });
    }
    if (!this.fitted && placed.length && this.map) {
      this.map.fitBounds(placed.map((c) => /** @type {[number, number]} */ ([c.lat, c.lon])), { padding: [60, 60], maxZoom: 18 });
      this.fitted = true;
    }
  }

  /** @param {MapCamera} cam */
  cone(cam) {
    if (cam.direction == null) return null;
    const direction = domeDirection(cam.direction, cam.ptz ? this.pans.get(cam.id) : null);
    const view = { direction, fov: cam.fov ?? 60, range_m: cam.range_m ?? 50 };
    const cone = L.polygon(conePoints(cam.lat, cam.lon, view), { className: "map-cone", interactive: false, smoothFactor: 0, noClip: true }).addTo(this.layer);
    this.mark(cone, cam, direction);
    return cone;
  }

  /** @param {L.Polygon} cone @param {MapCamera} cam @param {number} direction */
  mark(cone, cam, direction) {
    const el = cone.getElement();
    if (!el) return;
    el.setAttribute("data-testid", "map-cone");
    el.setAttribute("data-camera-id", String(cam.id));
    el.setAttribute("data-direction", direction.toFixed(1));
  }

  /** A dome turned: its cone follows. @param {number} id @param {number} pan */
  turn(id, pan) {
    this.pans.set(id, pan);
    const s = this.shown.get(id);
    if (!s || !s.cone || s.cam.direction == null) return;
    const direction = domeDirection(s.cam.direction, pan);
    s.cone.setLatLngs(conePoints(s.cam.lat, s.cam.lon, { direction, fov: s.cam.fov ?? 60, range_m: s.cam.range_m ?? 50 }));
    this.mark(s.cone, s.cam, direction);
  }

  // The marker's edit hooks (marker.js): Leaflet drags it; arrow keys move it 10 px (Shift: 50 px).
  keys() {
    return {
      dragging: null,
      startMove: () => {},
      /** @param {KeyboardEvent} e @param {MapCamera} cam */
      keyMove: (e, cam) => {
        const step = e.shiftKey ? 50 : 10;
        const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
        if (!d || !this.map) return;
        e.preventDefault();
        e.stopPropagation();
        const p = this.map.latLngToContainerPoint([cam.lat, cam.lon]);
        const to = this.map.containerPointToLatLng([p.x + d[0], p.y + d[1]]);
        this.save(cam, to.lat, to.lng).then(() => {
          const again = /** @type {HTMLElement | null} */ (this.el.querySelector(`.map-marker[data-camera-id="${cam.id}"]`));
          if (again) again.focus();
        });
      },
    };
  }

  /** @param {MapCamera} cam @param {HTMLElement} hint */
  startPlacing(cam, hint) {
    this.placing = cam;
    this.el.classList.add("placing");
    this.hint = hint;
    hint.hidden = false;
    hint.textContent = t("map.placeHintGeo", { name: cam.name });
  }

  stopPlacing() {
    this.placing = null;
    this.el.classList.remove("placing");
    if (this.hint) this.hint.hidden = true;
  }

  dispose() {
    if (this.map) this.map.remove();
    this.map = null;
  }
}
