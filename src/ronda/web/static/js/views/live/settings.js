// @ts-check
// The live view's per-user settings in localStorage: the layout, the grid's cameras, the saved views.

export const LAYOUTS = [1, 4, 9, 16];

/**
 * A saved view: a layout and its cameras (a camera's id, a remote camera's key "r:<site>:<camera>", null =
 * empty tile).
 * @typedef {{ layout: number, cameras: (number | string | null)[] }} SavedView
 */
/** @typedef {{ layout: number, slots: (number | string | null)[] | null, views: Record<string, SavedView> }} LiveSettings */

/** @param {import("../../app.js").AppContext} ctx */
function storeKey(ctx) {
  return `ronda.live:${ctx.me ? ctx.me.username : ""}`;
}

/**
 * @param {import("../../app.js").AppContext} ctx
 * @returns {LiveSettings}
 */
export function loadSettings(ctx) {
  try {
    const s = JSON.parse(localStorage.getItem(storeKey(ctx)) || "{}");
    return { layout: LAYOUTS.includes(s.layout) ? s.layout : 4, slots: Array.isArray(s.slots) ? s.slots : null, views: s.views || {} };
  } catch {
    return { layout: 4, slots: null, views: {} };
  }
}

/** @param {import("../../app.js").AppContext} ctx @param {LiveSettings} s */
export function saveSettings(ctx, s) {
  localStorage.setItem(storeKey(ctx), JSON.stringify(s));
}
