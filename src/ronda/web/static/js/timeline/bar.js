// @ts-check
// The timeline's elements: the bar (pan, zoom, now, the span shown, status, legend) over the canvas.
import { h } from "../dom.js";
import { t } from "../i18n.js";

/** @typedef {import("../timeline.js").Timeline} Timeline */

/**
 * @param {Timeline} tl the buttons' target
 * @returns {{ el: HTMLElement & { rondaTimeline?: Timeline }, canvas: HTMLCanvasElement, status: HTMLElement, spanLabel: HTMLElement }}
 */
export function timelineElements(tl) {
  const canvas = /** @type {HTMLCanvasElement} */ (h("canvas", {
    tabindex: "0", role: "slider", "aria-label": t("tl.label"), "aria-valuemin": "0", "aria-valuemax": "100",
    "data-testid": "timeline-canvas",
  }));
  const status = h("span", { class: "tl-status", role: "status" });
  const spanLabel = h("span", { class: "tl-span" });
  const btn = (key, text, onclick, testid) =>
    h("button", { type: "button", title: t(key), "aria-label": t(key), "data-testid": testid, onclick }, text);
  const el = h("div", { class: "timeline", "data-testid": "timeline", "aria-label": t("tl.label"), role: "group" },
    h("div", { class: "tl-bar" },
      btn("tl.earlier", "◀", () => tl.pan(-0.5), "timeline-earlier"),
      btn("tl.zoomOut", "−", () => tl.zoom(2), "timeline-zoom-out"),
      btn("tl.zoomIn", "+", () => tl.zoom(0.5), "timeline-zoom-in"),
      btn("tl.later", "▶", () => tl.pan(0.5), "timeline-later"),
      h("button", { type: "button", "data-testid": "timeline-now", onclick: () => tl.goNow() }, t("tl.now")),
      spanLabel, status,
      h("span", { class: "tl-legend", "aria-hidden": "true" },
        ...[["run", "tl.recording"], ["motion", "tl.motion"], ["gap", "tl.gap"], ["event", "tl.event"], ["object", "tl.object"], ["bookmark", "tl.bookmark"], ["lock", "tl.lock"]]
          .map(([c, key]) => h("span", {}, h("i", { class: `tl-key tl-${c}` }), t(key))))),
    h("div", { class: "tl-canvas" }, canvas));
  return { el, canvas, status, spanLabel };
}
