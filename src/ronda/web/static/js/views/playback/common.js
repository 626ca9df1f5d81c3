// @ts-check
// Constants and small helpers shared by the playback view's components.

export const MAX_TILES = 4;
export const SPEEDS = [-8, -4, -2, -1, 1, 2, 4, 8];
export const HOUR_MS = 3_600_000;
/** @type {Intl.DateTimeFormatOptions} */
export const SHORT = { hour: "2-digit", minute: "2-digit", second: "2-digit" };
/** @type {Intl.DateTimeFormatOptions} */
export const LONG = { weekday: "short", year: "numeric", month: "short", day: "numeric", ...SHORT, timeZoneName: "short" };
/** @type {Intl.DateTimeFormatOptions} */
export const TILE = { year: "numeric", month: "2-digit", day: "2-digit", ...SHORT };

/** @param {number} ms */
export const iso = (ms) => new Date(ms).toISOString();

/**
 * A camera as GET /api/v1/cameras lists it (the fields the playback view reads).
 * @typedef {{ id: number, name: string, status: string, rights?: string[] }} Camera
 */
