// @ts-check
// Time in the site's zone: formatting, <input type="datetime-local"> values both ways, spans, and
// the timeline's axis labels. Every function takes the site's IANA zone explicitly (ctx.siteTimeZone).
import { language, t } from "./i18n.js";

// Axis label steps under a day; above that the axis labels days only.
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200].map((s) => s * 1000);

// --- time in the site's zone ------------------------------------------------------------------------------
// Every helper takes the site's IANA time zone (ctx.siteTimeZone); without one, times are shown in the
// browser's zone and typed in UTC.
/** @type {Map<string, Intl.DateTimeFormat>} */
const formatters = new Map();
/**
 * @param {Intl.DateTimeFormatOptions} options
 * @param {string} [tz]
 */
function formatter(options, tz) {
  const key = `${language()}|${tz}|${JSON.stringify(options)}`;
  if (!formatters.has(key)) {
    formatters.set(key, new Intl.DateTimeFormat(language() === "it" ? "it-IT" : "en-GB", { timeZone: tz, ...options }));
  }
  return formatters.get(key);
}

/**
 * A wall-clock instant as text in the site's zone ("—" for no instant).
 * @param {number} ms epoch milliseconds
 * @param {Intl.DateTimeFormatOptions} [options]
 * @param {string} [timeZone] the site's time zone
 * @returns {string}
 */
export function formatWall(ms, options = { dateStyle: "medium", timeStyle: "medium" }, timeZone = undefined) {
  return Number.isFinite(ms) ? formatter(options, timeZone).format(new Date(ms)) : "—";
}

/**
 * @param {number} ms
 * @param {string} tz
 * @returns {Record<string, string>}
 */
function zoneParts(ms, tz) {
  const f = new Intl.DateTimeFormat("en-US", {
    timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  return Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
}

/**
 * "YYYY-MM-DDTHH:MM:SS" in the site's zone, for <input type="datetime-local">.
 * @param {number} ms
 * @param {string} [tz] the site's time zone (default UTC)
 * @returns {string}
 */
export function toLocalInput(ms, tz) {
  tz ||= "UTC";
  const p = zoneParts(ms, tz);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}`;
}

// The UTC instant of a wall-clock time in the site's zone (the value of a datetime-local input). A
// time the clocks skip is read with the offset before the change (02:30 → 03:30 summer time); a time
// that happens twice gives the first one.
/**
 * @param {string} value
 * @param {string} [tz] the site's time zone (default UTC)
 * @returns {number} epoch milliseconds, NaN for no valid time
 */
export function fromLocalInput(value, tz) {
  tz ||= "UTC";
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value || "");
  if (!m) return NaN;
  const naive = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  const offsetAt = (ms) => {
    const p = zoneParts(ms, tz);
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
  };
  const before = offsetAt(naive - 43_200_000);
  const after = offsetAt(naive + 43_200_000);
  const fits = [naive - before, naive - after].filter((ms) => offsetAt(ms) === naive - ms);
  return fits.length ? Math.min(...fits) : naive - before;
}

export function formatSpan(ms) {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 360) / 10} h`;
  return `${Math.round(s / 8640) / 10} d`;
}

// The axis of [start, end) on `width` pixels: hour/minute ticks counted from each local midnight of the
// API's `days` (so a 23 h or 25 h day has its real hours: 01:00, 02:00, 02:00, 03:00 on the night clocks
// go back), and the day boundaries with their labels (thinned out when days are narrow).
/**
 * Axis labels of a range: hour/minute ticks under a day, else day labels (23 h / 25 h days said so).
 * @param {number} start
 * @param {number} end
 * @param {{ s: number, e: number, hours: number }[]} days the site's days over the range
 * @param {number} width pixels
 * @param {string} [timeZone] the site's time zone
 */
export function axisTicks(start, end, days, width, timeZone = undefined) {
  const msPerPx = (end - start) / width;
  const inView = days.filter((d) => d.e > start && d.s < end);
  const step = STEPS.find((s) => s / msPerPx >= 80);
  const ticks = [];
  if (step) {
    /** @type {Intl.DateTimeFormatOptions} */
    const opts = step < 60000 ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
    for (const d of inView) {
      for (let k = Math.max(1, Math.ceil((start - d.s) / step)); d.s + k * step < Math.min(d.e, end); k++) {
        ticks.push({ ms: d.s + k * step, label: formatWall(d.s + k * step, opts, timeZone) });
      }
    }
  }
  const every = Math.max(1, Math.ceil(90 / (86_400_000 / msPerPx)));
  const out = inView.map((d, i) => ({
    ms: d.s,
    hours: d.hours,
    label: i % every === 0 || d.s < start
      ? formatWall(d.s, { weekday: "short", day: "numeric", month: "short" }, timeZone) + (d.hours !== 24 ? ` · ${t("tl.hours", { h: d.hours })}` : "")
      : "",
  }));
  return { step, ticks, days: out };
}
