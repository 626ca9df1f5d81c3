// @ts-check
// Playback: a synchronised grid of up to four recorded cameras over one timeline, with speeds (reverse
// included), frame step, event jumps, go-to-time, and bookmark / evidence lock / export from a selection.
// URL: #/playback?cameras=1,2&at=ISO[&span=MS]
// The parts are in views/playback/: tile, grid (transport and clock), reverse, controls, picker,
// selection, exports.
import { h, loadCss, toast } from "../dom.js";
import { t } from "../i18n.js";
import { Timeline } from "../timeline.js";
import { MAX_TILES, iso } from "./playback/common.js";
import { playbackControls } from "./playback/controls.js";
import { PlaybackGrid } from "./playback/grid.js";
import { cameraPicker } from "./playback/picker.js";
import { selectionPanel } from "./playback/selection.js";
import "./playback/strings.js";
import { Tile } from "./playback/tile.js";

const DEFAULT_SPAN_MS = 30 * 60_000;

export default {
  id: "playback",
  right: "playback",
  /**
   * @param {HTMLElement} root
   * @param {import("../app.js").AppContext} ctx
   * @param {Record<string, string>} params
   */
  async render(root, ctx, params) {
    loadCss("css/playback.css");
    const tz = ctx.siteTimeZone;
    /** @type {import("./playback/common.js").Camera[]} */
    const all = (await ctx.api.call("/api/v1/cameras")).filter((/** @type {{ rights?: string[] }} */ c) => (c.rights || []).includes("playback"));
    const byId = new Map(all.map((c) => [c.id, c]));
    const wanted = String(params.cameras || "").split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
    for (const id of wanted.filter((n) => !byId.has(n))) toast(t("pb.unavailable", { id }), "error");
    const cams = [...new Set(wanted.filter((n) => byId.has(n)))].slice(0, MAX_TILES).map((id) => byId.get(id));
    const parsedAt = Date.parse(params.at || "");
    const startAt = Number.isFinite(parsedAt) ? parsedAt : Date.now() - 120_000;
    const span = Math.min(30 * 86_400_000, Math.max(5 * 60_000, Number(params.span) || DEFAULT_SPAN_MS));

    /** @type {Timeline | null} */
    let timeline = null;
    /** @type {PlaybackGrid | null} */
    let grid = null;
    const page = h("div", { class: "pb" });
    root.append(page);
    page.append(cameraPicker(all, cams, ctx, () => (grid ? grid.cursor : startAt), () => timeline && timeline.end - timeline.start));
    const main = h("section", { class: "pb-main", "aria-label": t("nav.playback") });
    page.append(main);
    if (!cams.length) {
      main.append(h("p", { class: "muted pb-empty", text: all.length ? t("pb.pick") : t("pb.noCameras") }));
      return null;
    }

    const tiles = cams.map((c) => new Tile(c, tz));
    timeline = new Timeline({ api: ctx.api, cameras: cams.map((c) => ({ id: c.id, name: c.name })), start: startAt - span / 2, end: startAt + span / 2, timeZone: tz });
    timeline.setCursor(startAt, { follow: false });
    const updateUrl = () => {
      const q = new URLSearchParams({ cameras: cams.map((c) => c.id).join(","), at: iso(Math.round(grid.cursor)), span: String(timeline.end - timeline.start) });
      history.replaceState(null, "", `#/playback?${q}`);
    };
    grid = new PlaybackGrid(ctx, tiles, timeline, startAt, {
      settled: () => {
        updateUrl();
        controls.showGoto();
      },
      paused: () => {
        updateUrl();
        setTimeout(() => controls.showGoto(), 300);
      },
      playState: () => controls.showPlayState(page),
      clock: (ms) => controls.showClock(ms),
    });
    const controls = playbackControls(grid, cams, tz);

    // the selection and what can be done with it
    /** @param {number} ms */
    const playFrom = async (ms) => {
      timeline.setCursor(ms, { follow: false });
      await grid.seekAll(ms);
      if (grid.speed < 0) grid.setSpeed(1);
      grid.play();
    };
    const selection = selectionPanel(ctx, cams, timeline, playFrom, () => grid.closed, tz);

    const gridEl = h("div", { class: `pb-grid pb-n${tiles.length}` }, ...tiles.map((x) => x.el));
    main.append(gridEl, controls.el, timeline.el, selection.el);
    controls.showPlayState(page);

    timeline.addEventListener("seek", (e) => grid.seekAll(/** @type {CustomEvent<{ ms: number }>} */ (e).detail.ms));
    const clockTimer = setInterval(() => grid.tick(), 250);

    // keyboard: Space plays/pauses, "," and "." step frames (not while typing in a field)
    page.addEventListener("keydown", (e) => {
      if (/** @type {HTMLElement} */ (e.target).closest("input, textarea, select, button, [contenteditable]")) return;
      if (e.key === " ") {
        e.preventDefault();
        if (grid.playing) grid.pause();
        else grid.play();
      } else if (e.key === ",") grid.step(-1);
      else if (e.key === ".") grid.step(1);
    });

    // first picture: every camera at the requested instant, paused
    (async () => {
      await grid.seekAll(startAt);
      if (grid.closed) return;
      page.dataset.ready = "true";
      grid.tick();
    })();

    return () => {
      grid.close();
      clearInterval(clockTimer);
      timeline.destroy();
      selection.destroy();
    };
  },
};
