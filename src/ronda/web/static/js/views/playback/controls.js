// @ts-check
// The playback toolbar: previous/next event, frame step, play/pause, speed, the clock of the frame on
// screen, selection marks and go-to-time (typed in the site's time zone).
import { errorText } from "../../api.js";
import { h, toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { formatWall, fromLocalInput, toLocalInput } from "../../timeline.js";
import { LONG, SPEEDS, iso } from "./common.js";

/**
 * Moves to the next (direction 1) or previous (-1) event of the shown cameras: from the timeline's
 * events, else from the event store.
 * @param {import("./grid.js").PlaybackGrid} grid
 * @param {import("./common.js").Camera[]} cams
 * @param {number} direction
 */
async function jumpToEvent(grid, cams, direction) {
  const { timeline, ctx } = grid;
  const cur = grid.cursor;
  const events = timeline.allEvents();
  const found = direction > 0 ? events.find((e) => e.s > cur + 500) : [...events].reverse().find((e) => e.s < cur - 500);
  let at = found ? found.s : null;
  if (at === null) {
    // outside the loaded range: ask the event store (newest first)
    const q = direction > 0
      ? `since=${encodeURIComponent(iso(cur + 500))}&until=${encodeURIComponent(iso(Math.min(Date.now(), cur + 7 * 86_400_000)))}&limit=5000`
      : `until=${encodeURIComponent(iso(cur - 500))}&limit=1`;
    const lists = await Promise.all(cams.map((c) => ctx.api.call(`/api/v1/events?camera=${c.id}&${q}`).catch(() => [])));
    const times = lists.flat().map((e) => Date.parse(e.time)).filter(Number.isFinite);
    if (times.length) at = direction > 0 ? Math.min(...times) : Math.max(...times);
  }
  if (at === null) {
    toast(t("pb.noEvent"));
    return;
  }
  if (at < timeline.start || at > timeline.end) timeline.setView(at - (timeline.end - timeline.start) / 2, at + (timeline.end - timeline.start) / 2);
  timeline.setCursor(at, { follow: false });
  await grid.seekAll(at);
}

/**
 * @param {import("./grid.js").PlaybackGrid} grid
 * @param {import("./common.js").Camera[]} cams
 * @param {string | undefined} timeZone the site's time zone
 */
export function playbackControls(grid, cams, timeZone) {
  const timeline = grid.timeline;
  /**
   * @param {string} label @param {string} text @param {() => unknown} onclick @param {string} testid @param {string} [cls]
   * @returns {HTMLButtonElement}
   */
  const button = (label, text, onclick, testid, cls) =>
    /** @type {HTMLButtonElement} */ (h("button", { type: "button", title: label, "aria-label": label, "data-testid": testid, class: cls, onclick }, text));
  const jump = (/** @type {number} */ direction) => jumpToEvent(grid, cams, direction).catch((e) => toast(errorText(e), "error"));
  const playBtn = button(t("pb.play"), "▶", () => (grid.playing ? grid.pause() : grid.play()), "pb-play", "primary pb-play");
  const speedSel = /** @type {HTMLSelectElement} */ (h("select", { "aria-label": t("pb.speed"), title: t("pb.speed"), "data-testid": "pb-speed" },
    ...SPEEDS.map((s) => h("option", { value: s, selected: s === 1 }, `${s > 0 ? "" : "−"}${Math.abs(s)}×`))));
  speedSel.addEventListener("change", () => grid.setSpeed(Number(speedSel.value)));
  const clock = h("output", { class: "pb-clock", "data-testid": "pb-clock", "aria-live": "off" });
  const gotoInput = /** @type {HTMLInputElement} */ (h("input", { type: "datetime-local", step: "1", "aria-label": t("pb.goto"), title: t("pb.goto"), "data-testid": "pb-goto", value: toLocalInput(grid.cursor, timeZone) }));
  const gotoForm = h("form", { class: "pb-goto" }, gotoInput, h("button", { type: "submit", "data-testid": "pb-goto-submit" }, t("pb.go")));
  gotoForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const ms = fromLocalInput(gotoInput.value, timeZone);
    if (!Number.isFinite(ms)) return toast(t("pb.badTime"), "error");
    const w = timeline.end - timeline.start;
    timeline.setView(ms - w / 2, ms + w / 2);
    timeline.setCursor(ms, { follow: false });
    return grid.seekAll(ms);
  });
  const cursor = () => grid.cursor;
  const markIn = button(t("pb.markIn"), "[", () => timeline.setSelection(cursor(), Math.max(cursor(), timeline.selection?.end ?? cursor())), "pb-mark-in");
  const markOut = button(t("pb.markOut"), "]", () => timeline.setSelection(Math.min(cursor(), timeline.selection?.start ?? cursor()), cursor()), "pb-mark-out");
  const el = h("div", { class: "pb-controls", role: "toolbar", "aria-label": t("pb.controls") },
    button(t("pb.prevEvent"), "«", () => jump(-1), "pb-prev-event"),
    button(t("pb.stepBack"), "◀|", () => grid.step(-1), "pb-step-back"),
    playBtn,
    button(t("pb.stepForward"), "|▶", () => grid.step(1), "pb-step-forward"),
    button(t("pb.nextEvent"), "»", () => jump(1), "pb-next-event"),
    speedSel, clock, markIn, markOut, gotoForm);

  return {
    el,
    speedSel,
    /** @param {HTMLElement} page */
    showPlayState(page) {
      playBtn.textContent = grid.playing ? "❚❚" : "▶";
      const label = grid.playing ? t("pb.pause") : t("pb.play");
      playBtn.setAttribute("aria-label", label);
      playBtn.title = label;
      playBtn.setAttribute("aria-pressed", String(grid.playing));
      page.dataset.playing = String(grid.playing);
    },
    // the go-to field follows the picture, unless the user is typing in it
    showGoto() {
      if (document.activeElement !== gotoInput && Number.isFinite(grid.cursor)) gotoInput.value = toLocalInput(grid.cursor, timeZone);
    },
    /** @param {number} ms */
    showClock(ms) {
      clock.textContent = formatWall(ms, LONG, timeZone);
      clock.dataset.wallMs = String(Math.round(ms));
    },
  };
}
