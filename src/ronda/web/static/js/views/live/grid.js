// @ts-check
// The live grid: 1, 2×2, 3×3 or 4×4 tiles, the layout buttons, keyboard moves between tiles (arrows,
// Home, End; Enter opens, Delete empties), and cameras dropped or placed into the focused tile. A slot
// holds a camera's id, a remote camera's key ("r:<site>:<camera>", remote.js) or null (empty).
import { clear, h } from "../../dom.js";
import { t } from "../../i18n.js";
import { isRemoteKey } from "./remote.js";
import { RemoteTile } from "./remotetile.js";
import { LAYOUTS, saveSettings } from "./settings.js";
import { Tile } from "./tile.js";

/** @typedef {import("./tree.js").LiveCamera} LiveCamera */

export class LiveGrid {
  focusIndex = 0;
  /** @type {Tile[]} the tiles playing (the grid's, or the single view's one) */
  tiles = [];
  /** @type {RemoteTile[]} the remote cameras' tiles playing */
  remoteTiles = [];
  /**
   * The remote sites' cameras (set by the live view once remote.js runs).
   * @type {{ cameras: () => Map<string, { site: any, cam: any }>, open: (site: any, cam: any) => void,
   *   follow: (tile: { key: string, online: (on: boolean) => void }) => () => void } | null}
   */
  remote = null;

  /**
   * @param {import("../../app.js").AppContext} ctx
   * @param {import("./settings.js").LiveSettings} settings
   * @param {{ byId: Map<number, LiveCamera>, singleId: number | null, focusSearch: () => void, refresh: () => void }} view
   */
  constructor(ctx, settings, view) {
    this.ctx = ctx;
    this.settings = settings;
    this.view = view;
    const byId = view.byId;
    // slots: the grid's camera ids (null = empty tile), filled with the visible cameras the first time
    const visibleIds = [...byId.keys()];
    /** @type {(number | string | null)[]} */
    this.slots = (settings.slots || visibleIds).filter((id) => id === null || isRemoteKey(id) || byId.has(id));
    if (!this.slots.some((id) => id !== null)) this.slots = visibleIds.slice();
    this.layoutBar = h("div", { class: "layouts", role: "group", "aria-label": t("live.layout") },
      ...LAYOUTS.map((n) => h("button", { type: "button", "data-layout": n, "data-testid": `layout-${n}`,
        "aria-label": t("live.layout.n", { n }), title: t("live.layout.n", { n }), onclick: () => {
          settings.layout = n;
          this.persist();
          this.render();
        } }, n === 1 ? "1" : `${Math.sqrt(n)}×${Math.sqrt(n)}`)));
    this.el = h("div", { class: "live-grid", role: "group", "aria-label": t("nav.live") });
    this.el.addEventListener("keydown", (e) => this.onKey(e));
    this.el.addEventListener("focusin", (e) => {
      const cell = /** @type {HTMLElement} */ (e.target).closest(".tile, .tile-empty");
      if (cell) this.focusIndex = Number(/** @type {HTMLElement} */ (cell).dataset.index);
    });
  }

  persist() {
    this.settings.slots = this.slots;
    saveSettings(this.ctx, this.settings);
  }

  stopTiles() {
    for (const tile of this.tiles.splice(0)) tile.stop();
    for (const tile of this.remoteTiles.splice(0)) tile.stop();
  }

  /** @param {number | null} id a camera, or null for the grid */
  openSingle(id) {
    if (id === null) this.ctx.navigate("/live");
    else if (this.view.byId.has(id)) this.ctx.navigate(`/live/${id}`);
  }

  /** @param {import("./settings.js").SavedView} v a saved view */
  apply(v) {
    this.settings.layout = LAYOUTS.includes(v.layout) ? v.layout : 4;
    this.slots = v.cameras.filter((id) => id === null || isRemoteKey(id) || this.view.byId.has(id));
    this.persist();
    if (this.view.singleId) this.ctx.navigate("/live");
    else this.render();
  }

  /** @returns {import("./settings.js").SavedView} */
  current() {
    return { layout: this.settings.layout, cameras: this.slots.slice(0, this.settings.layout) };
  }

  /**
   * A camera chosen in the tree goes into the focused tile, then the focus moves on. A remote camera chosen
   * in the single view goes into the grid's focused tile, and the grid is shown.
   * @param {number | string | null} id
   * @param {number} [index]
   */
  place(id, index = this.focusIndex) {
    if (this.view.singleId && !isRemoteKey(id)) {
      this.openSingle(id);
      return;
    }
    const { slots, settings } = this;
    while (slots.length < settings.layout) slots.push(null);
    slots[index] = id;
    this.persist();
    this.focusIndex = (index + 1) % settings.layout;
    if (this.view.singleId) this.ctx.navigate("/live");
    else this.render();
  }

  /** A remote tile's viewer panel (recordings, export). @param {string} key */
  openRemote(key) {
    const entry = this.remote && this.remote.cameras().get(key);
    if (entry && this.remote) this.remote.open(entry.site, entry.cam);
  }

  columns() {
    return getComputedStyle(this.el).gridTemplateColumns.split(" ").filter(Boolean).length || 1;
  }

  /** @param {number} i */
  focusTile(i) {
    const cells = /** @type {HTMLElement[]} */ ([...this.el.children]);
    if (!cells.length) return;
    this.focusIndex = Math.max(0, Math.min(cells.length - 1, i));
    cells.forEach((c, k) => c.setAttribute("tabindex", k === this.focusIndex ? "0" : "-1"));
    cells[this.focusIndex].focus();
  }

  /** @param {KeyboardEvent} e */
  onKey(e) {
    const cell = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (e.target).closest(".tile, .tile-empty"));
    if (!cell || e.target !== cell) return;
    const i = Number(cell.dataset.index);
    const cols = this.columns();
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols, Home: -i, End: this.el.children.length };
    if (e.key in moves) this.focusTile(i + moves[e.key]);
    else if (e.key === "Enter" && cell.dataset.cameraId) this.openSingle(Number(cell.dataset.cameraId));
    else if (e.key === "Enter" && cell.dataset.remoteKey) this.openRemote(cell.dataset.remoteKey);
    else if (e.key === "Enter") this.view.focusSearch();
    else if (e.key === "Delete" && (cell.dataset.cameraId || cell.dataset.remoteKey)) this.place(null, i);
    else return;
    e.preventDefault();
  }

  render() {
    const { el: grid, view } = this;
    this.stopTiles();
    clear(grid);
    const n = this.settings.layout;
    grid.style.setProperty("--cols", String(Math.sqrt(n)));
    grid.dataset.layout = String(n);
    for (const b of /** @type {HTMLCollectionOf<HTMLElement>} */ (this.layoutBar.children)) {
      b.setAttribute("aria-pressed", String(Number(b.dataset.layout) === n));
    }
    this.focusIndex = Math.min(this.focusIndex, n - 1);
    for (let i = 0; i < n; i++) grid.append(this.cell(i));
    view.refresh();
  }

  /** The remote tiles drawn again (the remote cameras' list changed): the local tiles keep playing. */
  renderRemote() {
    [...this.el.children].forEach((old, i) => {
      if (!isRemoteKey(this.slots[i])) return;
      const tile = this.remoteTiles.find((x) => x.el === old);
      if (tile) {
        tile.stop();
        this.remoteTiles.splice(this.remoteTiles.indexOf(tile), 1);
      }
      old.replaceWith(this.cell(i));
    });
  }

  /** Tile i: a camera's, a remote camera's or an empty one (started). @param {number} i @returns {HTMLElement} */
  cell(i) {
    const { ctx, view } = this;
    const slot = this.slots[i];
    const cam = typeof slot === "number" ? view.byId.get(slot) : undefined;
    const remote = isRemoteKey(slot) && this.remote ? this.remote.cameras().get(slot) : undefined;
    let cell;
    if (remote && this.remote && isRemoteKey(slot)) {
      const tile = new RemoteTile(ctx, slot, remote.site, remote.cam, { index: i, onOpen: () => this.openRemote(slot),
        follow: this.remote.follow });
      this.remoteTiles.push(tile);
      cell = tile.el;
      tile.start();
    } else if (cam) {
      const tile = new Tile(ctx, cam, { view: "grid", index: i, onOpen: (id) => this.openSingle(id) });
      this.tiles.push(tile);
      cell = tile.el;
      tile.start();
    } else {
      // (a remote camera not known yet, or no longer granted: its slot is kept, shown empty)
      cell = h("div", { class: "tile-empty", tabindex: "-1", "data-index": i, role: "group", "aria-label": t("live.empty") },
        h("span", { class: "muted", text: t("live.empty") }));
      if (isRemoteKey(slot)) cell.dataset.remoteKey = slot;
    }
    cell.setAttribute("tabindex", i === this.focusIndex ? "0" : "-1");
    cell.addEventListener("dragover", (e) => e.preventDefault());
    cell.addEventListener("drop", (e) => {
      e.preventDefault();
      const key = e.dataTransfer.getData("text/x-ronda-remote");
      if (isRemoteKey(key)) {
        this.place(key, i);
        return;
      }
      const id = Number(e.dataTransfer.getData("text/x-ronda-camera"));
      if (view.byId.has(id)) this.place(id, i);
    });
    return cell;
  }
}
