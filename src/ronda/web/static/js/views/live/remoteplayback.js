// @ts-check
// Recordings of a remote camera in its viewer panel (docs/cluster.md, Federation): ten minutes of the
// site's segments and gaps from a chosen instant (in this centre's time zone), earlier or later by ten
// minutes. "Go" plays from the instant; a segment clicked plays from its start; either way the segments
// after it follow on their own, into the next ten minutes while there are any. Each segment is fetched
// through the centre with the session's credentials (a <video src> cannot send them) and played from a
// blob; the next one is fetched while one plays, and a blob is let go once it is neither playing nor next.
import { errorText } from "../../api.js";
import { clear, h } from "../../dom.js";
import { addStrings, formatTime, t } from "../../i18n.js";
import { fromLocalInput, toLocalInput } from "../../sitetime.js";
import { waitSeeked } from "../playback/tile.js";

addStrings({
  en: {
    "rp.title": "Recordings", "rp.at": "From", "rp.go": "Go", "rp.earlier": "◀ 10 min", "rp.later": "10 min ▶",
    "rp.earlierLabel": "Ten minutes earlier", "rp.laterLabel": "Ten minutes later", "rp.none": "No recordings in these 10 minutes.",
    "rp.gap": "No video {from} – {to} ({reason})", "rp.badTime": "Enter a valid time", "rp.end": "No later recordings.",
    "rp.failed": "Cannot play: {error}", "rp.playing": "Playing {time}",
  },
  it: {
    "rp.title": "Registrazioni", "rp.at": "Da", "rp.go": "Vai", "rp.earlier": "◀ 10 min", "rp.later": "10 min ▶",
    "rp.earlierLabel": "Dieci minuti prima", "rp.laterLabel": "Dieci minuti dopo", "rp.none": "Nessuna registrazione in questi 10 minuti.",
    "rp.gap": "Nessun video {from} – {to} ({reason})", "rp.badTime": "Inserire un orario valido", "rp.end": "Nessuna registrazione successiva.",
    "rp.failed": "Impossibile riprodurre: {error}", "rp.playing": "In riproduzione {time}",
  },
});

export const WINDOW_MS = 600_000;

/**
 * Resolves true at the video's next `event`, false at an error or after 10 s.
 * @param {HTMLVideoElement} video @param {string} event @returns {Promise<boolean>}
 */
function settled(video, event) {
  return new Promise((resolve) => {
    const done = (/** @type {boolean} */ ok) => {
      clearTimeout(timer);
      video.removeEventListener(event, yes);
      video.removeEventListener("error", no);
      resolve(ok);
    };
    const yes = () => done(true);
    const no = () => done(false);
    const timer = setTimeout(no, 10_000);
    video.addEventListener(event, yes);
    video.addEventListener("error", no);
  });
}

/**
 * @typedef {{ id: number, start: string, end: string }} Segment
 * @typedef {{ start: string, end: string, reason: string }} Gap
 */

/**
 * The recordings part of a remote camera's viewer; `dispose` lets every blob go.
 * @param {import("../../app.js").AppContext} ctx
 * @param {{ id: number, name: string }} site
 * @param {{ id: number, name: string }} cam
 * @param {HTMLVideoElement} video where the segments play
 */
export function remotePlayback(ctx, site, cam, video) {
  const tz = ctx.siteTimeZone || undefined;
  const base = `/api/v1/federation/sites/${site.id}/cameras/${cam.id}`;
  const at = /** @type {HTMLInputElement} */ (h("input", { type: "datetime-local", step: 1, required: true,
    value: toLocalInput(Date.now() - WINDOW_MS, tz), "data-testid": "remote-at" }));
  const list = h("ul", { class: "remote-segments", "data-testid": "remote-recordings" });
  const status = h("p", { class: "muted", role: "status", "data-testid": "remote-playback-status" });
  const step = (/** @type {number} */ sign) => h("button", { type: "button", class: "link",
    "data-testid": sign < 0 ? "remote-earlier" : "remote-later", text: t(sign < 0 ? "rp.earlier" : "rp.later"),
    "aria-label": t(sign < 0 ? "rp.earlierLabel" : "rp.laterLabel"),
    onclick: () => { if (Number.isFinite(from)) show(from + sign * WINDOW_MS).catch(failed); } });
  const form = h("form", { class: "remote-playback", "data-testid": "remote-playback" },
    h("h3", { text: t("rp.title") }),
    h("label", {}, t("rp.at"), " ", at), " ",
    h("button", { type: "submit", class: "primary", "data-testid": "remote-go", text: t("rp.go") }), " ",
    step(-1), " ", step(1), status, list);

  let disposed = false;
  let from = NaN; // the window shown: [from, from + WINDOW_MS)
  let asked = 0; // the newest request for a window: answers to older ones are dropped
  /** @type {Segment[]} */
  let segs = [];
  /** @type {Segment | null} */
  let current = null;
  /** @type {Map<number, Promise<string>>} blob URLs of the segment playing and the next one */
  const blobs = new Map();

  const ms = (/** @type {string} */ iso) => Date.parse(iso);
  const time = (/** @type {string} */ iso) => formatTime(iso, { timeStyle: "medium" }, tz);
  /** @param {unknown} e */
  const failed = (e) => { if (!disposed) status.textContent = t("rp.failed", { error: errorText(e) }); };

  /** @param {Segment} seg @returns {Promise<string>} */
  const blob = (seg) => {
    let p = blobs.get(seg.id);
    if (!p) {
      p = ctx.api.blob(`${base}/segments/${seg.id}.mp4`).then((b) => URL.createObjectURL(b));
      p.catch(() => blobs.delete(seg.id));
      blobs.set(seg.id, p);
    }
    return p;
  };
  /** Let go of every blob but those of `keep`. @param {number[]} keep */
  const drop = (keep) => {
    for (const [id, p] of blobs) {
      if (keep.includes(id)) continue;
      blobs.delete(id);
      p.then((u) => URL.revokeObjectURL(u), () => {});
    }
  };

  /** The window from `start`: its segments and gaps listed in time order. @param {number} start */
  const load = async (start) => {
    const mine = ++asked;
    // The field shows the window asked for at once (an answer arriving later must not undo what the user
    // typed meanwhile).
    if (Number.isFinite(start)) at.value = toLocalInput(start, tz);
    const q = new URLSearchParams({ start: new Date(start).toISOString(), end: new Date(start + WINDOW_MS).toISOString() });
    const rec = await ctx.api.call(`${base}/recordings?${q}`);
    if (disposed || mine !== asked) return false;
    from = start;
    segs = [...rec.segments].sort((/** @type {Segment} */ a, /** @type {Segment} */ b) => ms(a.start) - ms(b.start));
    /** @type {[number, HTMLElement][]} */
    const rows = segs.map((seg) => [ms(seg.start), h("li", {}, h("button", { type: "button", class: "link",
      "data-testid": "remote-segment", "data-segment-id": seg.id, text: time(seg.start),
      onclick: () => play(seg, 0).catch(failed) }))]);
    for (const gap of /** @type {Gap[]} */ (rec.gaps)) {
      rows.push([ms(gap.start), h("li", { class: "remote-gap", "data-testid": "remote-gap", "data-reason": gap.reason,
        text: t("rp.gap", { from: time(gap.start), to: time(gap.end), reason: gap.reason }) })]);
    }
    rows.sort((a, b) => a[0] - b[0]);
    clear(list);
    list.append(...rows.map((r) => r[1]));
    if (!segs.length) list.append(h("li", { class: "muted", text: t("rp.none") }));
    mark();
    return true;
  };
  const mark = () => {
    for (const b of list.querySelectorAll("[data-segment-id]")) {
      if (current && Number(/** @type {HTMLElement} */ (b).dataset.segmentId) === current.id) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    }
  };

  /** Play `seg` from `offset` ms into it, and fetch the one after it meanwhile. @param {Segment} seg @param {number} offset */
  const play = async (seg, offset) => {
    current = seg;
    mark();
    status.textContent = t("rp.playing", { time: time(seg.start) });
    const url = await blob(seg);
    if (disposed || current !== seg) return;
    const next = segs[segs.indexOf(seg) + 1];
    drop(next ? [seg.id, next.id] : [seg.id]);
    video.hidden = false;
    video.dataset.segmentId = String(seg.id);
    video.src = url;
    if (offset > 0) {
      // At the instant before it plays: the position is set once the file's length is known, and playing
      // starts when the seek is done (not from the segment's start, then a jump).
      if (!(await settled(video, "loadedmetadata")) || current !== seg) return;
      video.currentTime = offset / 1000;
      await waitSeeked(video, 10_000);
      if (current !== seg) return;
    }
    video.play().catch(() => {});
    if (next) blob(next).catch(() => {});
  };

  /** The window from `start`, played from `start` (the segment holding it, or the first after it). @param {number} start */
  const show = async (start) => {
    if (!(await load(start))) return;
    const seg = segs.find((s) => ms(s.end) > start);
    if (seg) await play(seg, Math.max(0, start - ms(seg.start)));
  };

  // The segment after the one that ended, in this window or the next ones (up to now).
  video.addEventListener("ended", () => {
    const done = current;
    if (!done || disposed) return;
    const after = (/** @type {Segment} */ s) => s.id !== done.id && ms(s.start) >= ms(done.start);
    const next = segs.slice(segs.indexOf(done) + 1).find(after);
    if (next) {
      play(next, 0).catch(failed);
      return;
    }
    (async () => {
      // At most an hour ahead: beyond that the user goes to a time (a long gap is listed as one).
      for (let start = from + WINDOW_MS, n = 0; start < Date.now() && n < 6; start += WINDOW_MS, n++) {
        if (!(await load(start))) return;
        const found = segs.find(after);
        if (found) return play(found, 0);
      }
      if (current === done) status.textContent = t("rp.end");
    })().catch(failed);
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const start = fromLocalInput(at.value, tz);
    if (!Number.isFinite(start)) {
      status.textContent = t("rp.badTime");
      return;
    }
    show(start).catch(failed);
  });

  load(fromLocalInput(at.value, tz)).catch(failed);
  return {
    el: form,
    dispose() {
      disposed = true;
      current = null;
      drop([]);
      video.removeAttribute("src");
    },
  };
}
