// @ts-check
// Each camera of the playback grid loads its own recordings: the first hour that has some, the next
// hour when playing reaches the end of the loaded one, and followers that drift are put back on the lead.
import { errorText } from "../../api.js";
import { t } from "../../i18n.js";
import { showRecorded } from "../../playback.js";
import { HOUR_MS, iso } from "./common.js";
import { guard } from "./tile.js";

/** @typedef {import("./tile.js").Tile} Tile */
/** @typedef {import("./grid.js").PlaybackGrid} PlaybackGrid */

/** @param {PlaybackGrid} grid @param {Tile} tile @param {number} ms @returns {Promise<boolean>} */
async function recordedFrom(grid, tile, ms) {
  const rec = await grid.ctx.api.call(`/api/v1/cameras/${tile.cam.id}/recordings?start=${encodeURIComponent(iso(ms))}&end=${encodeURIComponent(iso(ms + HOUR_MS))}`);
  return rec.segments.some((/** @type {{ end: string }} */ s) => Date.parse(s.end) > ms);
}

/**
 * One camera to `ms`: a seek in the loaded hour, else the hour from `ms` (a note on the tile when
 * nothing is recorded from there).
 * @param {PlaybackGrid} grid
 * @param {Tile} tile
 * @param {number} ms
 */
export async function loadTile(grid, tile, ms) {
  tile.checkedAt = performance.now();
  tile.busy = true;
  try {
    if (tile.inMap(ms)) {
      await tile.player.seekWall(ms);
    } else if (!(await recordedFrom(grid, tile, ms))) {
      // an empty playlist would be an error: say so on the tile instead of loading nothing
      tile.stale = true;
      tile.video.pause();
      tile.setNote(t("pb.noRecording"));
      return;
    } else if (!tile.player) {
      if (grid.closed) return;
      tile.player = await guard(showRecorded({
        api: grid.ctx.apiFn, cameraId: tile.cam.id, video: tile.video, at: iso(ms),
        onStatus: ({ state: s, reason }) => s === "error" && tile.setNote(reason),
      }), [tile]);
      if (grid.closed) tile.player.stop();
    } else {
      await guard(tile.player.seekWall(ms), [tile]);
    }
    tile.stale = false;
    tile.setNote("");
    grid.applyPlayState(tile);
  } catch (e) {
    tile.setNote(errorText(e));
  } finally {
    tile.busy = false;
  }
}

/**
 * While playing: loads the next hour of a camera at the end of its loaded one, re-aligns followers
 * that drifted from the lead's instant `wall`, and tries stale cameras again now and then.
 * @param {PlaybackGrid} grid
 * @param {Tile | null} first the lead camera
 * @param {number} wall
 */
export function keepLoaded(grid, first, wall) {
  for (const x of grid.tiles) {
    if (!x.player || x.busy) continue;
    const segs = x.player.map.segments;
    // the end of the loaded hour: load the next one (the player keeps playing)
    if (!x.stale && segs.length && x.wallTime() >= segs[segs.length - 1].end - 300) {
      grid.seekTile(x, segs[segs.length - 1].end + 1);
    } else if (x !== first && Number.isFinite(wall) && x.inMap(wall) && (x.stale || Math.abs(x.wallTime() - wall) > 300)) {
      grid.seekTile(x, wall);
    } else if (x.stale && Number.isFinite(wall) && performance.now() - x.checkedAt > 5000) {
      grid.seekTile(x, wall);
    }
  }
}
