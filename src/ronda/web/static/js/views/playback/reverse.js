// @ts-check
// Emulated reverse play (browsers only play forwards): on each beat every camera moves back by
// `backMs` of recording, loading the hour before when the lead camera's loaded hour begins.
import { errorText } from "../../api.js";
import { toast } from "../../dom.js";
import { t } from "../../i18n.js";
import { HOUR_MS, iso } from "./common.js";
import { guard, waitSeeked } from "./tile.js";

/**
 * Browsers only play forwards. Reverse is emulated: once per lead frame every player is moved back
 * by the real time elapsed × |speed|, skipping a beat while the previous seek still decodes. Simple
 * and smooth enough for looking back a few seconds; it is not frame-exact at 8×.
 * @param {import("./grid.js").PlaybackGrid} grid
 * @returns {ReturnType<typeof setInterval>} the beat's timer
 */
export function startReverse(grid) {
  for (const x of grid.tiles) x.video.pause();
  let last = performance.now();
  let busy = false;
  return setInterval(async () => {
    if (busy) return;
    busy = true;
    const now = performance.now();
    const backMs = (now - last) * Math.abs(grid.speed);
    last = now;
    try {
      await reverseStep(grid, backMs);
    } catch (e) {
      grid.pause();
      toast(errorText(e), "error");
    } finally {
      busy = false;
    }
  }, 1000 / Math.min(30, grid.leadFps()));
}

/**
 * @param {import("./grid.js").PlaybackGrid} grid
 * @param {number} backMs
 * @returns {Promise<void>}
 */
export async function reverseStep(grid, backMs) {
  const first = grid.lead();
  if (!first) return grid.pause();
  const map = first.player.map;
  if (!map.segments.length) return grid.pause();
  const tNew = first.video.currentTime - backMs / 1000;
  let target;
  if (tNew > 0.001) {
    target = map.wallTime(tNew); // player time has the gaps removed: reverse skips them too
  } else {
    // before the loaded hour: load the hour that ends here, if anything was recorded in it
    const startMs = map.segments[0].start;
    const rec = await grid.ctx.api.call(`/api/v1/cameras/${first.cam.id}/recordings?start=${encodeURIComponent(iso(startMs - HOUR_MS))}&end=${encodeURIComponent(iso(startMs))}`);
    const before = rec.segments.filter((/** @type {{ start: string }} */ s) => Date.parse(s.start) < startMs - 1);
    if (!before.length) {
      grid.pause();
      toast(t("pb.startOfRecording"));
      return;
    }
    target = Math.min(startMs - backMs, Date.parse(before[before.length - 1].end) - 1000 / grid.leadFps());
    // the hour ending just after `target` (a load starts at its beginning: hidden until at `target`)
    first.setHold(true);
    await guard(first.player.seekWall(target - HOUR_MS + 60_000), [first]);
    first.video.pause();
  }
  grid.cursor = target;
  const tiles = grid.tiles;
  await Promise.all(tiles.map(async (x) => {
    if (x.inMap(target)) return x.player.seekWall(target);
    if (performance.now() - x.checkedAt < 5000) return null; // known to have nothing here: retry now and then
    x.setHold(true);
    await grid.seekTile(x, target - HOUR_MS + 60_000);
    if (x.inMap(target)) await x.player.seekWall(target);
    return null;
  }));
  for (const x of tiles) x.video.pause();
  await Promise.all(tiles.map((x) => waitSeeked(x.video)));
  for (const x of tiles) x.setHold(false);
}
