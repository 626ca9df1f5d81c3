// @ts-check
// The playback view's camera picker: a checkbox list with search, at most MAX_TILES cameras.
import { h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { MAX_TILES, iso } from "./common.js";

/**
 * @param {import("./common.js").Camera[]} all the cameras the user may play back
 * @param {import("./common.js").Camera[]} chosen the cameras shown now
 * @param {{ navigate: (path: string) => void }} ctx
 * @param {() => number} cursor the instant shown now
 * @param {() => number | null} span the timeline's span (ms), kept when other cameras are shown
 * @returns {HTMLFormElement}
 */
export function cameraPicker(all, chosen, ctx, cursor, span) {
  const picked = new Set(chosen.map((c) => c.id));
  const search = /** @type {HTMLInputElement} */ (h("input", { type: "search", placeholder: t("common.search"), "aria-label": t("pb.searchCameras"), "data-testid": "pb-camera-search" }));
  const show = /** @type {HTMLButtonElement} */ (h("button", { type: "submit", class: "primary", "data-testid": "pb-camera-show" }));
  const items = all.map((c) => {
    const box = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", value: c.id, checked: picked.has(c.id), "data-testid": "pb-camera-option" }));
    box.addEventListener("change", () => {
      if (box.checked && picked.size >= MAX_TILES) {
        box.checked = false;
        toast(t("pb.max", { n: MAX_TILES }), "error");
        return;
      }
      if (box.checked) picked.add(c.id);
      else picked.delete(c.id);
      label();
    });
    return h("li", { "data-name": c.name.toLowerCase() },
      h("label", {}, box, h("span", { class: `pb-dot pb-${c.status}`, title: c.status }), c.name));
  });
  const label = () => {
    show.textContent = t("pb.show", { n: picked.size });
    show.disabled = picked.size === 0;
  };
  label();
  search.addEventListener("input", () => {
    const q = search.value.trim().toLowerCase();
    for (const li of items) li.hidden = Boolean(q) && !li.dataset.name.includes(q);
  });
  const form = h("form", { class: "pb-side", "aria-label": t("pb.cameras") },
    h("h2", { text: t("pb.cameras") }), search, h("ul", { class: "pb-camera-list", "data-testid": "pb-camera-list" }, ...items), show);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const ids = all.filter((c) => picked.has(c.id)).map((c) => c.id);
    const q = new URLSearchParams({ cameras: ids.join(","), at: iso(Math.round(cursor())) });
    if (span()) q.set("span", String(span()));
    ctx.navigate(`/playback?${q}`);
  });
  return form;
}

