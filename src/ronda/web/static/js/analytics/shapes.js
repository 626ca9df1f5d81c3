// @ts-check
// Zones as SVG over a Stage (analytics/stage.js): a polygon per zone, coloured by kind (css/analytics.css);
// a line with an arrow towards its "in" side; the zone's name by its first point.
import { t } from "../i18n.js";
import { svg } from "./stage.js";

/** @typedef {import("./stage.js").Point} Point */
/** @typedef {{ name: string, kind: string, points: Point[], classes?: string[] | null, min_score?: number | null, loiter_seconds?: number | null }} Zone */

export function arrowMarker() {
  const defs = svg("defs");
  const m = svg("marker", { id: "an-arrow", viewBox: "0 0 10 10", refX: 5, refY: 5, markerWidth: 5, markerHeight: 5, orient: "auto-start-reverse" });
  m.append(svg("path", { d: "M0,0L10,5L0,10z", class: "an-arrow-head" }));
  defs.append(m);
  return defs;
}

/**
 * One zone as SVG: a polygon, or a line with an arrow to its "in" side; its name next to it.
 * @param {import("./stage.js").Stage} stage @param {Zone} z @param {number} i @param {boolean} selected
 */
export function zoneShape(stage, z, i, selected) {
  const u = stage.unit();
  const g = svg("g", { class: `an-zone an-kind-${z.kind}${selected ? " selected" : ""}`, "data-zone-index": i, "data-zone": z.name });
  const pts = z.points.map((p) => stage.px(p));
  if (z.kind === "line" && pts.length === 2) {
    const [[x0, y0], [x1, y1]] = pts;
    g.append(svg("line", { x1: x0, y1: y0, x2: x1, y2: y1 }));
    // the "in" side: the left walking from the first point (y grows downwards)
    const len = Math.hypot(x1 - x0, y1 - y0) || 1;
    const [nx, ny] = [(y1 - y0) / len, -(x1 - x0) / len];
    const [mx, my] = [(x0 + x1) / 2, (y0 + y1) / 2];
    const a = 40 * u;
    g.append(svg("line", { class: "an-dir", x1: mx, y1: my, x2: mx + nx * a, y2: my + ny * a, "marker-end": "url(#an-arrow)" }));
    const label = svg("text", { x: mx + nx * a * 1.5, y: my + ny * a * 1.5, class: "an-in", "font-size": 16 * u });
    label.textContent = t("an.in");
    g.append(label);
  } else {
    g.append(svg("polygon", { points: pts.map((p) => p.join(",")).join(" ") }));
  }
  if (pts.length) {
    const name = svg("text", { x: pts[0][0] + 6 * u, y: pts[0][1] - 6 * u, class: "an-name", "font-size": 16 * u });
    name.textContent = z.name;
    g.append(name);
  }
  return g;
}

/**
 * A polygon or line being drawn: its points so far, a dashed edge to the cross-hair, the cross-hair.
 * @param {import("./stage.js").Stage} stage @param {Point[]} draft @param {Point} cursor
 * @returns {SVGElement[]}
 */
export function draftShapes(stage, draft, cursor) {
  const u = stage.unit();
  const out = [svg("polyline", { class: "an-draft", points: [...draft, cursor].map((p) => stage.px(p).join(",")).join(" ") })];
  draft.forEach((p, i) => {
    const [x, y] = stage.px(p);
    out.push(svg("circle", { class: i === 0 ? "an-draft-point first" : "an-draft-point", cx: x, cy: y, r: (i === 0 ? 8 : 5) * u }));
  });
  const [cx, cy] = stage.px(cursor);
  out.push(svg("path", { class: "an-cross", d: `M${cx - 12 * u},${cy}H${cx + 12 * u}M${cx},${cy - 12 * u}V${cy + 12 * u}` }));
  return out;
}

/** A point inside the frame, to 4 decimals. @param {Point} p @returns {Point} */
export function clampPoint(p) {
  const c = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
  return [c(p[0]), c(p[1])];
}
