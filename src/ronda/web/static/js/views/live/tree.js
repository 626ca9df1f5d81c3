// @ts-check
// The live view's camera tree with search: organisation / camera group -> cameras (a camera in no
// group sits under the site). Click or Space puts a camera in the focused tile; double-click or Enter
// opens it alone; cameras can be dragged onto a tile.
import { clear, h } from "../../dom.js";
import { t } from "../../i18n.js";

/**
 * A camera as GET /api/v1/cameras lists it (the fields the live view reads).
 * @typedef {{ id: number, name: string, status: string, rights?: string[],
 *   groups?: ({ name: string, organisation?: string } | string)[] }} LiveCamera
 */

/** @param {any} g a group: { name, organisation } (or a plain name) */
const groupLabel = (g) => (g.organisation ? `${g.organisation} / ${g.name}` : g.name || String(g));
/** @param {LiveCamera} cam */
const groupsOf = (cam) => (Array.isArray(cam.groups) && cam.groups.length ? cam.groups.map(groupLabel) : [null]);

/**
 * @param {LiveCamera[]} cameras
 * @param {{ site: { name?: string } | null, place: (id: number) => void, openSingle: (id: number) => void,
 *   built: () => void }} hooks
 */
export function cameraTree(cameras, { site, place, openSingle, built }) {
  const search = /** @type {HTMLInputElement} */ (h("input", { type: "search", placeholder: t("live.search"), "aria-label": t("live.search"),
    "data-testid": "camera-search" }));
  const tree = h("ul", { class: "camera-tree", role: "tree", "aria-label": t("live.cameras") });
  /** @param {LiveCamera} cam */
  const item = (cam) => {
    const li = h("li", { role: "treeitem", tabindex: "0", "data-camera-id": cam.id, draggable: "true",
      title: t("live.hint"), "data-testid": "camera-item" },
      h("span", { class: `dot st-${cam.status}`, "aria-hidden": "true" }), h("span", { text: cam.name }));
    li.addEventListener("click", () => place(cam.id));
    li.addEventListener("dblclick", () => openSingle(cam.id));
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter") openSingle(cam.id);
      else if (e.key === " ") place(cam.id);
      else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        const all = /** @type {HTMLElement[]} */ ([...tree.querySelectorAll("[role=treeitem][data-camera-id]")]);
        const next = all[all.indexOf(li) + (e.key === "ArrowDown" ? 1 : -1)];
        if (next) next.focus();
      } else return;
      e.preventDefault();
    });
    li.addEventListener("dragstart", (e) => e.dataTransfer.setData("text/x-ronda-camera", String(cam.id)));
    return li;
  };
  const build = () => {
    clear(tree);
    const q = search.value.trim().toLowerCase();
    const shown = cameras.filter((c) => !q || c.name.toLowerCase().includes(q));
    const groups = new Map();
    for (const cam of shown) for (const g of groupsOf(cam)) groups.set(g, [...(groups.get(g) || []), cam]);
    if (!shown.length) tree.append(h("li", { class: "muted", role: "none", text: cameras.length ? t("common.none") : t("live.noCameras") }));
    for (const [group, cams] of groups) {
      const label = group || (site && site.name) || t("live.cameras");
      tree.append(h("li", { role: "treeitem", "aria-expanded": "true", class: "group" },
        h("span", { class: "group-name", text: label }), h("ul", { role: "group" }, cams.map(item))));
    }
    built();
  };
  search.addEventListener("input", build);
  return { search, tree, build };
}
