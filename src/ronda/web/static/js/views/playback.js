// Playback: a synchronised grid of up to four recorded cameras over one timeline, with speeds (reverse
// included), frame step, event jumps, go-to-time, and bookmark / evidence lock / export from a selection.
// URL: #/playback?cameras=1,2&at=ISO[&span=MS]
import { h, loadCss, toast } from "../dom.js";
import { addStrings, t } from "../i18n.js";
import { DEFAULT_FPS, SyncGroup, showRecorded } from "../playback.js";
import { Timeline, formatSpan, formatWall, fromLocalInput, toLocalInput } from "../timeline.js";

addStrings({
  en: {
    "pb.cameras": "Cameras", "pb.searchCameras": "Search cameras", "pb.show": "Show ({n})", "pb.max": "At most {n} cameras at a time",
    "pb.pick": "Choose up to four cameras and press Show.", "pb.noCameras": "No camera with recordings you may watch.",
    "pb.unavailable": "Camera {id} is not available to you", "pb.controls": "Playback controls",
    "pb.play": "Play", "pb.pause": "Pause", "pb.speed": "Speed", "pb.stepBack": "One frame back", "pb.stepForward": "One frame forward",
    "pb.prevEvent": "Previous event", "pb.nextEvent": "Next event", "pb.noEvent": "No event in that direction",
    "pb.goto": "Go to date and time (site time)", "pb.go": "Go", "pb.badTime": "Enter a date and time",
    "pb.markIn": "Selection starts here", "pb.markOut": "Selection ends here",
    "pb.noRecording": "No recording at this time", "pb.cannotPlay": "The recording cannot be played", "pb.startOfRecording": "Start of the recordings",
    "pb.selection": "Selection", "pb.bookmark": "Bookmark", "pb.lock": "Evidence lock", "pb.export": "Export",
    "pb.playSelection": "Play from its start", "pb.clear": "Clear",
    "pb.title": "Title", "pb.note": "Note", "pb.reason": "Reason", "pb.until": "Keep until (empty: until unlocked)",
    "pb.case": "Case number", "pb.startExport": "Start export", "pb.saved": "Saved on {n} camera(s)",
    "pb.leftOut": "Left out (no right): {names}", "pb.exports": "Exports", "pb.download": "Download",
    "pb.exportOf": "Export {range}", "pb.status.running": "Running", "pb.status.done": "Ready",
    "pb.status.failed": "Failed", "pb.status.cancelled": "Cancelled", "pb.status.expired": "Expired (deleted)", "pb.downloaded": "Downloaded {name}",
  },
  it: {
    "pb.cameras": "Telecamere", "pb.searchCameras": "Cerca telecamere", "pb.show": "Mostra ({n})", "pb.max": "Al massimo {n} telecamere insieme",
    "pb.pick": "Scegli fino a quattro telecamere e premi Mostra.", "pb.noCameras": "Nessuna telecamera con registrazioni visibili.",
    "pb.unavailable": "La telecamera {id} non è disponibile", "pb.controls": "Comandi di riproduzione",
    "pb.play": "Riproduci", "pb.pause": "Pausa", "pb.speed": "Velocità", "pb.stepBack": "Un fotogramma indietro", "pb.stepForward": "Un fotogramma avanti",
    "pb.prevEvent": "Evento precedente", "pb.nextEvent": "Evento successivo", "pb.noEvent": "Nessun evento in quella direzione",
    "pb.goto": "Vai a data e ora (ora del sito)", "pb.go": "Vai", "pb.badTime": "Inserisci data e ora",
    "pb.markIn": "La selezione inizia qui", "pb.markOut": "La selezione finisce qui",
    "pb.noRecording": "Nessuna registrazione in questo momento", "pb.cannotPlay": "La registrazione non può essere riprodotta", "pb.startOfRecording": "Inizio delle registrazioni",
    "pb.selection": "Selezione", "pb.bookmark": "Segnalibro", "pb.lock": "Blocco probatorio", "pb.export": "Esporta",
    "pb.playSelection": "Riproduci dall'inizio", "pb.clear": "Annulla selezione",
    "pb.title": "Titolo", "pb.note": "Nota", "pb.reason": "Motivo", "pb.until": "Conserva fino al (vuoto: fino allo sblocco)",
    "pb.case": "Numero di pratica", "pb.startExport": "Avvia esportazione", "pb.saved": "Salvato su {n} telecamera/e",
    "pb.leftOut": "Escluse (senza diritto): {names}", "pb.exports": "Esportazioni", "pb.download": "Scarica",
    "pb.exportOf": "Esportazione {range}", "pb.status.running": "In corso", "pb.status.done": "Pronta",
    "pb.status.failed": "Non riuscita", "pb.status.cancelled": "Annullata", "pb.status.expired": "Scaduta (eliminata)", "pb.downloaded": "Scaricato {name}",
  },
});

const MAX_TILES = 4;
const SPEEDS = [-8, -4, -2, -1, 1, 2, 4, 8];
const HOUR_MS = 3_600_000;
const DEFAULT_SPAN_MS = 30 * 60_000;
const SHORT = { hour: "2-digit", minute: "2-digit", second: "2-digit" };
const LONG = { weekday: "short", year: "numeric", month: "short", day: "numeric", ...SHORT, timeZoneName: "short" };
const TILE = { year: "numeric", month: "2-digit", day: "2-digit", ...SHORT };

const iso = (ms) => new Date(ms).toISOString();

// The API's `detail`: a sentence, or FastAPI's list of {loc, msg} for a 422.
export function errorText(e) {
  const d = e && e.detail;
  if (Array.isArray(d)) {
    return d.map((x) => (x && typeof x === "object" ? [(x.loc || []).filter((p) => p !== "body").join("."), x.msg].filter(Boolean).join(": ") : String(x))).join("; ");
  }
  return (e && e.message) || String(e);
}

// Loading a playlist waits for the video's metadata, which never comes if the video fails: give up
// on an error of one of the tiles' videos or after 20 s instead of waiting for ever.
function guard(promise, tiles) {
  const cleanups = [];
  const failed = new Promise((_, reject) => {
    const timer = setTimeout(() => reject(new Error("the recording did not load in 20 s")), 20_000);
    cleanups.push(() => clearTimeout(timer));
    for (const x of tiles) {
      const onError = () => reject(new Error(t("pb.cannotPlay")));
      x.video.addEventListener("error", onError, { once: true });
      cleanups.push(() => x.video.removeEventListener("error", onError));
    }
  });
  return Promise.race([promise, failed]).finally(() => cleanups.forEach((f) => f()));
}

function waitSeeked(video, timeoutMs = 1000) {
  if (!video.seeking) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      video.removeEventListener("seeked", done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    video.addEventListener("seeked", done);
  });
}

// One camera of the grid: its <video>, the wall-clock time of the frame on screen, and its player
// (created on the first instant that has recordings).
class Tile {
  constructor(cam) {
    this.cam = cam;
    this.player = null;
    this.stale = false; // nothing recorded at the group's instant
    this.hold = false; // reloading for reverse play: the picture and time in between are not shown
    this.busy = false; // a seek or load of this tile is under way
    this.checkedAt = 0;
    this.video = h("video", { playsinline: true, muted: true, "data-testid": "video-tile", "data-camera-id": cam.id, "aria-label": cam.name });
    this.video.muted = true;
    this.time = h("span", { class: "pb-time", "data-testid": "tile-time" });
    this.note = h("span", { class: "pb-note", role: "status" });
    this.el = h("figure", { class: "pb-tile", "data-camera-id": cam.id },
      this.video, h("figcaption", {}, h("span", { class: "pb-name", text: cam.name }), this.time), this.note);
  }

  inMap(ms) {
    const s = this.player && this.player.map.segments;
    return Boolean(s && s.length && ms >= s[0].start && ms < s[s.length - 1].end);
  }

  wallTime() {
    return this.player && !this.stale && !this.hold ? this.player.wallTime() : NaN;
  }

  setHold(on) {
    this.hold = on;
    this.el.classList.toggle("pb-hold", on);
  }

  setNote(text) {
    this.note.textContent = text || "";
    this.note.hidden = !text;
    this.el.classList.toggle("pb-stale", Boolean(text));
  }

  showTime() {
    if (this.hold) return;
    const ms = this.wallTime();
    this.time.textContent = formatWall(ms, TILE);
    this.time.dataset.wallMs = Number.isFinite(ms) ? String(Math.round(ms)) : "";
  }
}

export default {
  id: "playback",
  right: "playback",
  async render(root, ctx, params) {
    loadCss("css/playback.css");
    const all = (await ctx.api.call("/api/v1/cameras")).filter((c) => (c.rights || []).includes("playback"));
    const byId = new Map(all.map((c) => [c.id, c]));
    const wanted = String(params.cameras || "").split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
    for (const id of wanted.filter((n) => !byId.has(n))) toast(t("pb.unavailable", { id }), "error");
    const cams = [...new Set(wanted.filter((n) => byId.has(n)))].slice(0, MAX_TILES).map((id) => byId.get(id));
    const parsedAt = Date.parse(params.at || "");
    const startAt = Number.isFinite(parsedAt) ? parsedAt : Date.now() - 120_000;
    const span = Math.min(30 * 86_400_000, Math.max(5 * 60_000, Number(params.span) || DEFAULT_SPAN_MS));

    const state = { playing: false, speed: 1, cursor: startAt, closed: false, reverseTimer: null };
    const timers = [];
    let timeline = null;
    const page = h("div", { class: "pb" });
    root.append(page);
    page.append(cameraPicker(all, cams, ctx, () => state.cursor, () => timeline && timeline.end - timeline.start));
    const main = h("section", { class: "pb-main", "aria-label": t("nav.playback") });
    page.append(main);
    if (!cams.length) {
      main.append(h("p", { class: "muted pb-empty", text: all.length ? t("pb.pick") : t("pb.noCameras") }));
      return null;
    }

    const tiles = cams.map((c) => new Tile(c));
    const grid = h("div", { class: `pb-grid pb-n${tiles.length}` }, ...tiles.map((x) => x.el));
    timeline = new Timeline({ api: ctx.api, cameras: cams.map((c) => ({ id: c.id, name: c.name })), start: startAt - span / 2, end: startAt + span / 2 });
    timeline.setCursor(startAt, { follow: false });
    const active = () => tiles.filter((x) => x.player && !x.stale);
    const lead = () => active()[0] || null;
    // frame rate of the lead camera's recordings (each camera records at its own rate)
    const leadFps = () => (lead() ? lead().player.frameRate : DEFAULT_FPS);

    function updateUrl() {
      const q = new URLSearchParams({ cameras: cams.map((c) => c.id).join(","), at: iso(Math.round(state.cursor)), span: String(timeline.end - timeline.start) });
      history.replaceState(null, "", `#/playback?${q}`);
    }

    // --- seeking ------------------------------------------------------------------------------------------
    async function recordedFrom(tile, ms) {
      const rec = await ctx.api.call(`/api/v1/cameras/${tile.cam.id}/recordings?start=${encodeURIComponent(iso(ms))}&end=${encodeURIComponent(iso(ms + HOUR_MS))}`);
      return rec.segments.some((s) => Date.parse(s.end) > ms);
    }

    function applyPlayState(tile) {
      if (state.playing && state.speed > 0 && !tile.stale) {
        tile.video.playbackRate = state.speed;
        tile.video.play().catch(() => {});
      } else {
        tile.video.pause();
      }
    }

    async function seekTile(tile, ms) {
      tile.checkedAt = performance.now();
      tile.busy = true;
      try {
        if (tile.inMap(ms)) {
          await tile.player.seekWall(ms);
        } else if (!(await recordedFrom(tile, ms))) {
          // an empty playlist would be an error: say so on the tile instead of loading nothing
          tile.stale = true;
          tile.video.pause();
          tile.setNote(t("pb.noRecording"));
          return;
        } else if (!tile.player) {
          if (state.closed) return;
          tile.player = await guard(showRecorded({
            api: ctx.apiFn, cameraId: tile.cam.id, video: tile.video, at: iso(ms),
            onStatus: ({ state: s, reason }) => s === "error" && tile.setNote(reason),
          }), [tile]);
          if (state.closed) tile.player.stop();
        } else {
          await guard(tile.player.seekWall(ms), [tile]);
        }
        tile.stale = false;
        tile.setNote("");
        applyPlayState(tile);
      } catch (e) {
        tile.setNote(errorText(e));
      } finally {
        tile.busy = false;
      }
    }

    // Seeks coalesce: while one runs, only the latest request waits (dragging the timeline asks often).
    let pendingSeek = null;
    let seeking = null;
    async function seekOnce(target) {
      const loaded = tiles.filter((x) => x.inMap(target));
      const others = tiles.filter((x) => !x.inMap(target));
      const group = new SyncGroup(loaded.map((x) => x.player));
      await Promise.all([guard(group.seekWall(target), loaded), ...others.map((x) => seekTile(x, target))]);
      for (const x of loaded) {
        x.stale = false;
        x.setNote("");
        applyPlayState(x);
      }
      await Promise.all(active().map((x) => waitSeeked(x.video)));
    }
    function seekAll(ms) {
      pendingSeek = ms;
      state.cursor = ms;
      seeking ||= (async () => {
        while (pendingSeek !== null && !state.closed) {
          const target = pendingSeek;
          pendingSeek = null;
          await seekOnce(target).catch((e) => toast(errorText(e), "error"));
        }
        seeking = null;
        if (state.closed) return;
        updateUrl();
        tick();
        showGoto();
      })();
      return seeking;
    }

    // --- play, pause, speeds ---------------------------------------------------------------------------
    function play() {
      if (!active().length) return;
      state.playing = true;
      if (state.speed > 0) {
        new SyncGroup(active().map((x) => x.player)).setRate(state.speed);
        for (const x of active()) applyPlayState(x);
      } else {
        startReverse();
      }
      showPlayState();
    }

    function pause() {
      state.playing = false;
      for (const x of tiles) x.setHold(false);
      clearInterval(state.reverseTimer);
      state.reverseTimer = null;
      for (const x of tiles) x.video.pause();
      showPlayState();
      if (!state.closed) {
        updateUrl();
        setTimeout(showGoto, 300);
      }
    }

    // the go-to field follows the picture, unless the user is typing in it
    function showGoto() {
      if (document.activeElement !== gotoInput && Number.isFinite(state.cursor)) gotoInput.value = toLocalInput(state.cursor);
    }

    // Browsers only play forwards. Reverse is emulated: once per lead frame every player is moved
    // back by the real time elapsed × |speed|, skipping a beat while the previous seek still decodes.
    // Simple and smooth enough for looking back a few seconds; it is not frame-exact at 8×.
    function startReverse() {
      for (const x of tiles) x.video.pause();
      let last = performance.now();
      let busy = false;
      state.reverseTimer = setInterval(async () => {
        if (busy) return;
        busy = true;
        const now = performance.now();
        const backMs = (now - last) * Math.abs(state.speed);
        last = now;
        try {
          await reverseStep(backMs);
        } catch (e) {
          pause();
          toast(errorText(e), "error");
        } finally {
          busy = false;
        }
      }, 1000 / Math.min(30, leadFps()));
    }

    async function reverseStep(backMs) {
      const first = lead();
      if (!first) return pause();
      const map = first.player.map;
      if (!map.segments.length) return pause();
      const tNew = first.video.currentTime - backMs / 1000;
      let target;
      if (tNew > 0.001) {
        target = map.wallTime(tNew); // player time has the gaps removed: reverse skips them too
      } else {
        // before the loaded hour: load the hour that ends here, if anything was recorded in it
        const startMs = map.segments[0].start;
        const rec = await ctx.api.call(`/api/v1/cameras/${first.cam.id}/recordings?start=${encodeURIComponent(iso(startMs - HOUR_MS))}&end=${encodeURIComponent(iso(startMs))}`);
        const before = rec.segments.filter((s) => Date.parse(s.start) < startMs - 1);
        if (!before.length) {
          pause();
          toast(t("pb.startOfRecording"));
          return;
        }
        target = Math.min(startMs - backMs, Date.parse(before[before.length - 1].end) - 1000 / leadFps());
        // the hour ending just after `target` (a load starts at its beginning: hidden until at `target`)
        first.setHold(true);
        await guard(first.player.seekWall(target - HOUR_MS + 60_000), [first]);
        first.video.pause();
      }
      state.cursor = target;
      await Promise.all(tiles.map(async (x) => {
        if (x.inMap(target)) return x.player.seekWall(target);
        if (performance.now() - x.checkedAt < 5000) return null; // known to have nothing here: retry now and then
        x.setHold(true);
        await seekTile(x, target - HOUR_MS + 60_000);
        if (x.inMap(target)) await x.player.seekWall(target);
        return null;
      }));
      for (const x of tiles) x.video.pause();
      await Promise.all(tiles.map((x) => waitSeeked(x.video)));
      for (const x of tiles) x.setHold(false);
    }

    function setSpeed(speed) {
      const wasPlaying = state.playing;
      if (wasPlaying) pause();
      state.speed = speed;
      if (wasPlaying) play();
    }

    // One frame of the lead camera (at its own frame rate); the other cameras show their frame of
    // the lead's new instant, so a grid of cameras at different rates stays together.
    let stepping = Promise.resolve();
    function step(frames) {
      pause();
      stepping = stepping.then(async () => {
        const first = lead();
        if (!first || state.closed) return;
        await first.player.step(frames);
        const wall = first.wallTime();
        if (Number.isFinite(wall)) {
          await Promise.all(active().filter((x) => x !== first && x.inMap(wall)).map((x) => x.player.seekWall(wall).catch(() => {})));
        }
        tick();
      }).catch((e) => toast(errorText(e), "error"));
      return stepping;
    }

    // --- events ---------------------------------------------------------------------------------------------
    async function jumpToEvent(direction) {
      const cur = state.cursor;
      const events = timeline.allEvents();
      let found = direction > 0 ? events.find((e) => e.s > cur + 500) : [...events].reverse().find((e) => e.s < cur - 500);
      let at = found ? found.s : null;
      if (at === null) {
        // outside the loaded range: ask the event store (newest first)
        const q = direction > 0
          ? `since=${encodeURIComponent(iso(cur + 500))}&until=${encodeURIComponent(iso(Math.min(Date.now(), cur + 7 * 86_400_000)))}&limit=5000`
          : `until=${encodeURIComponent(iso(cur - 500))}&limit=1`;
        const lists = await Promise.all(cams.map((c) => ctx.api.call(`/api/v1/events?camera=${c.id}&${q}`).catch(() => [])));
        const times = lists.flat().map((e) => Date.parse(e.time)).filter(Number.isFinite);
        if (times.length) at = direction > 0 ? Math.min(...times) : Math.max(...times);
        found = null;
      }
      if (at === null) {
        toast(t("pb.noEvent"));
        return;
      }
      if (at < timeline.start || at > timeline.end) timeline.setView(at - (timeline.end - timeline.start) / 2, at + (timeline.end - timeline.start) / 2);
      timeline.setCursor(at, { follow: false });
      await seekAll(at);
    }

    // --- the controls -------------------------------------------------------------------------------------
    const button = (label, text, onclick, testid, cls) =>
      h("button", { type: "button", title: label, "aria-label": label, "data-testid": testid, class: cls, onclick }, text);
    const playBtn = button(t("pb.play"), "▶", () => (state.playing ? pause() : play()), "pb-play", "primary pb-play");
    const speedSel = h("select", { "aria-label": t("pb.speed"), title: t("pb.speed"), "data-testid": "pb-speed" },
      ...SPEEDS.map((s) => h("option", { value: s, selected: s === 1 }, `${s > 0 ? "" : "−"}${Math.abs(s)}×`)));
    speedSel.addEventListener("change", () => setSpeed(Number(speedSel.value)));
    const clock = h("output", { class: "pb-clock", "data-testid": "pb-clock", "aria-live": "off" });
    const gotoInput = h("input", { type: "datetime-local", step: "1", "aria-label": t("pb.goto"), title: t("pb.goto"), "data-testid": "pb-goto", value: toLocalInput(startAt) });
    const gotoForm = h("form", { class: "pb-goto" }, gotoInput, h("button", { type: "submit", "data-testid": "pb-goto-submit" }, t("pb.go")));
    gotoForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const ms = fromLocalInput(gotoInput.value);
      if (!Number.isFinite(ms)) return toast(t("pb.badTime"), "error");
      const w = timeline.end - timeline.start;
      timeline.setView(ms - w / 2, ms + w / 2);
      timeline.setCursor(ms, { follow: false });
      return seekAll(ms);
    });
    const markIn = button(t("pb.markIn"), "[", () => timeline.setSelection(state.cursor, Math.max(state.cursor, timeline.selection?.end ?? state.cursor)), "pb-mark-in");
    const markOut = button(t("pb.markOut"), "]", () => timeline.setSelection(Math.min(state.cursor, timeline.selection?.start ?? state.cursor), state.cursor), "pb-mark-out");
    const controls = h("div", { class: "pb-controls", role: "toolbar", "aria-label": t("pb.controls") },
      button(t("pb.prevEvent"), "«", () => jumpToEvent(-1).catch((e) => toast(errorText(e), "error")), "pb-prev-event"),
      button(t("pb.stepBack"), "◀|", () => step(-1), "pb-step-back"),
      playBtn,
      button(t("pb.stepForward"), "|▶", () => step(1), "pb-step-forward"),
      button(t("pb.nextEvent"), "»", () => jumpToEvent(1).catch((e) => toast(errorText(e), "error")), "pb-next-event"),
      speedSel, clock, markIn, markOut, gotoForm);

    function showPlayState() {
      playBtn.textContent = state.playing ? "❚❚" : "▶";
      const label = state.playing ? t("pb.pause") : t("pb.play");
      playBtn.setAttribute("aria-label", label);
      playBtn.title = label;
      playBtn.setAttribute("aria-pressed", String(state.playing));
      page.dataset.playing = String(state.playing);
    }

    // --- the selection and what can be done with it ------------------------------------------------------
    const playFrom = async (ms) => {
      timeline.setCursor(ms, { follow: false });
      await seekAll(ms);
      if (state.speed < 0) setSpeed(1);
      play();
    };
    const selection = selectionPanel(ctx, cams, timeline, playFrom, () => state.closed);

    main.append(grid, controls, timeline.el, selection.el);
    showPlayState();

    timeline.addEventListener("seek", (e) => seekAll(e.detail.ms));

    // The clock: the lead camera's frame time drives the cursor; followers that drift are re-aligned.
    let lastAlign = 0;
    function tick() {
      for (const x of tiles) x.showTime();
      const first = lead();
      const wall = first ? first.wallTime() : NaN;
      if (!seeking && Number.isFinite(wall)) {
        state.cursor = wall;
        timeline.setCursor(wall, { follow: state.playing });
      }
      clock.textContent = formatWall(state.cursor, LONG);
      clock.dataset.wallMs = String(Math.round(state.cursor));
      if (!state.playing || state.speed < 0 || seeking || performance.now() - lastAlign < 1000) return;
      lastAlign = performance.now();
      for (const x of tiles) {
        if (!x.player || x.busy) continue;
        const segs = x.player.map.segments;
        // the end of the loaded hour: load the next one (the player keeps playing)
        if (!x.stale && segs.length && x.wallTime() >= segs[segs.length - 1].end - 300) {
          seekTile(x, segs[segs.length - 1].end + 1);
        } else if (x !== first && Number.isFinite(wall) && x.inMap(wall) && (x.stale || Math.abs(x.wallTime() - wall) > 300)) {
          seekTile(x, wall);
        } else if (x.stale && Number.isFinite(wall) && performance.now() - x.checkedAt > 5000) {
          seekTile(x, wall);
        }
      }
    }
    timers.push(setInterval(tick, 250));

    // keyboard: Space plays/pauses, "," and "." step frames (not while typing in a field)
    const onKey = (e) => {
      if (e.target.closest("input, textarea, select, button, [contenteditable]")) return;
      if (e.key === " ") {
        e.preventDefault();
        if (state.playing) pause();
        else play();
      } else if (e.key === ",") step(-1);
      else if (e.key === ".") step(1);
    };
    page.addEventListener("keydown", onKey);

    // first picture: every camera at the requested instant, paused
    (async () => {
      await seekAll(startAt);
      if (state.closed) return;
      page.dataset.ready = "true";
      tick();
    })();

    return () => {
      state.closed = true;
      pause();
      for (const id of timers) clearInterval(id);
      timeline.destroy();
      selection.destroy();
      for (const x of tiles) if (x.player) x.player.stop();
    };
  },
};

// --- the camera picker (checkbox list with search) --------------------------------------------------------
function cameraPicker(all, chosen, ctx, cursor, span) {
  const picked = new Set(chosen.map((c) => c.id));
  const search = h("input", { type: "search", placeholder: t("common.search"), "aria-label": t("pb.searchCameras"), "data-testid": "pb-camera-search" });
  const show = h("button", { type: "submit", class: "primary", "data-testid": "pb-camera-show" });
  const items = all.map((c) => {
    const box = h("input", { type: "checkbox", value: c.id, checked: picked.has(c.id), "data-testid": "pb-camera-option" });
    box.addEventListener("change", () => {
      if (box.checked && picked.size >= MAX_TILES) {
        box.checked = false;
        toast(t("pb.max", { n: MAX_TILES }), "error");
        return;
      }
      if (box.checked) picked.add(c.id);
      else picked.delete(c.id);
      label();
    });
    return h("li", { "data-name": c.name.toLowerCase() },
      h("label", {}, box, h("span", { class: `pb-dot pb-${c.status}`, title: c.status }), c.name));
  });
  const label = () => {
    show.textContent = t("pb.show", { n: picked.size });
    show.disabled = picked.size === 0;
  };
  label();
  search.addEventListener("input", () => {
    const q = search.value.trim().toLowerCase();
    for (const li of items) li.hidden = Boolean(q) && !li.dataset.name.includes(q);
  });
  const form = h("form", { class: "pb-side", "aria-label": t("pb.cameras") },
    h("h2", { text: t("pb.cameras") }), search, h("ul", { class: "pb-camera-list", "data-testid": "pb-camera-list" }, ...items), show);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const ids = all.filter((c) => picked.has(c.id)).map((c) => c.id);
    const q = new URLSearchParams({ cameras: ids.join(","), at: iso(Math.round(cursor())) });
    if (span()) q.set("span", String(span()));
    ctx.navigate(`/playback?${q}`);
  });
  return form;
}

// --- selection: bookmark, evidence lock, export ------------------------------------------------------------
function selectionPanel(ctx, cams, timeline, play, closed) {
  const withRight = (right) => cams.filter((c) => (c.rights || []).includes(right));
  const markCams = withRight("bookmark");
  const lockCams = withRight("evidence_lock");
  const exportCams = withRight("export");
  const range = h("span", { class: "pb-range", "data-testid": "pb-selection-range" });
  const area = h("div", { class: "pb-action" });
  const jobs = h("ul", { class: "pb-jobs", "aria-label": t("pb.exports"), "data-testid": "pb-exports" });
  const polls = new Set();
  const btn = (key, testid, onclick) => h("button", { type: "button", "data-testid": testid, onclick }, t(key));
  const el = h("section", { class: "pb-selection", "data-testid": "pb-selection", "aria-label": t("pb.selection"), hidden: true },
    h("div", { class: "pb-selbar" },
      h("strong", { text: `${t("pb.selection")}:` }), range,
      btn("pb.playSelection", "pb-play-selection", () => timeline.selection && play(timeline.selection.start)),
      markCams.length ? btn("pb.bookmark", "pb-bookmark", () => open(bookmarkForm)) : null,
      lockCams.length ? btn("pb.lock", "pb-lock", () => open(lockForm)) : null,
      exportCams.length ? btn("pb.export", "pb-export", () => open(exportForm)) : null,
      btn("pb.clear", "pb-clear-selection", () => timeline.setSelection(null))),
    area);
  const wrap = h("div", { class: "pb-below" }, el, jobs);

  timeline.addEventListener("select", (e) => {
    const s = e.detail;
    el.hidden = !s;
    if (!s) area.replaceChildren();
    else range.textContent = `${formatWall(s.start, LONG)} – ${formatWall(s.end, SHORT)} (${formatSpan(s.end - s.start)})`;
  });

  function open(build) {
    area.replaceChildren(build());
    const first = area.querySelector("input, textarea");
    if (first) first.focus();
  }

  // A form whose submit runs `action(fields)`; API errors (a 422's messages included) stay on the form.
  function form(testid, fields, submitKey, cams, action) {
    const err = h("p", { class: "error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary", "data-testid": `${testid}-submit` }, t(submitKey));
    const left = cams.length < timeline.cameras.length
      ? h("p", { class: "muted", text: t("pb.leftOut", { names: timeline.cameras.filter((c) => !cams.some((x) => x.id === c.id)).map((c) => c.name).join(", ") }) })
      : null;
    const f = h("form", { class: "pb-form", "data-testid": testid }, ...fields, left, err,
      h("div", { class: "pb-form-buttons" }, submit, h("button", { type: "button", onclick: () => area.replaceChildren() }, t("common.cancel"))));
    f.addEventListener("submit", async (e) => {
      e.preventDefault();
      const sel = timeline.selection;
      if (!sel) return;
      err.textContent = "";
      submit.disabled = true;
      try {
        await action(new FormData(f), sel);
        area.replaceChildren();
      } catch (ex) {
        err.textContent = errorText(ex);
      } finally {
        submit.disabled = false;
      }
    });
    return f;
  }

  const field = (key, input) => h("label", {}, t(key), input);

  // One item per camera that has the right; the cameras that failed are named in the error.
  async function perCamera(list, send) {
    const failed = [];
    for (const c of list) {
      try {
        await send(c);
      } catch (e) {
        failed.push(`${c.name}: ${errorText(e)}`);
      }
    }
    if (failed.length < list.length) {
      toast(t("pb.saved", { n: list.length - failed.length }));
      timeline.load();
    }
    if (failed.length) throw new Error(failed.join("\n"));
  }

  const bookmarkForm = () => form("bookmark-form", [
    field("pb.title", h("input", { name: "title", required: true, maxlength: 200, "data-testid": "bookmark-title" })),
    field("pb.note", h("textarea", { name: "note", rows: 2, maxlength: 2000, "data-testid": "bookmark-note" })),
  ], "common.save", markCams, (f, sel) => perCamera(markCams, (c) => ctx.api.call("/api/v1/bookmarks", {
    method: "POST", body: { camera: c.id, start: iso(sel.start), end: iso(sel.end), title: f.get("title"), note: f.get("note") || null },
  })));

  const lockForm = () => form("lock-form", [
    field("pb.reason", h("input", { name: "reason", required: true, maxlength: 500, "data-testid": "lock-reason" })),
    field("pb.until", h("input", { name: "until", type: "datetime-local", step: "1", "data-testid": "lock-until" })),
  ], "common.save", lockCams, (f, sel) => {
    const body = { start: iso(sel.start), end: iso(sel.end), reason: f.get("reason") };
    if (f.get("until")) {
      const until = fromLocalInput(f.get("until"));
      if (!Number.isFinite(until)) throw new Error(t("pb.badTime"));
      body.until = iso(until);
    }
    return perCamera(lockCams, (c) => ctx.api.call("/api/v1/evidence-locks", { method: "POST", body: { camera: c.id, ...body } }));
  });

  const exportForm = () => form("export-form", [
    field("pb.reason", h("input", { name: "reason", maxlength: 500, "data-testid": "export-reason" })),
    field("pb.case", h("input", { name: "case", maxlength: 200, "data-testid": "export-case" })),
  ], "pb.startExport", exportCams, async (f, sel) => {
    const job = await ctx.api.call("/api/v1/exports", {
      method: "POST", body: { cameras: exportCams.map((c) => c.id), start: iso(sel.start), end: iso(sel.end), reason: f.get("reason") || "", case: f.get("case") || "" },
    });
    jobs.prepend(jobRow(job, `${formatWall(sel.start, LONG)} – ${formatWall(sel.end, SHORT)}`));
  });

  // An export job: progress from polling, cancel while it runs, download when done.
  function jobRow(job, rangeText) {
    const bar = h("progress", { max: "1", value: "0", "data-testid": "export-progress", "aria-label": t("pb.exportOf", { range: rangeText }) });
    const status = h("span", { class: "pb-job-status", "data-testid": "export-status" });
    const cancel = h("button", { type: "button", class: "danger", "data-testid": "export-cancel" }, t("common.cancel"));
    const download = h("button", { type: "button", class: "primary", hidden: true, "data-testid": "export-download" }, t("pb.download"));
    const row = h("li", { class: "pb-job", "data-job-id": job.id }, h("span", { text: t("pb.exportOf", { range: rangeText }) }), bar, status, cancel, download);
    let timer = null;
    const show = (j) => {
      row.dataset.status = j.status;
      bar.value = j.status === "done" ? 1 : j.progress || 0;
      status.textContent = [t(`pb.status.${j.status}`), j.status === "running" ? `${Math.round((j.progress || 0) * 100)} %` : "", j.error || ""].filter(Boolean).join(" · ");
      cancel.hidden = j.status !== "running";
      download.hidden = j.status !== "done";
    };
    const poll = async () => {
      polls.delete(timer);
      if (closed()) return;
      try {
        const j = await ctx.api.call(`/api/v1/exports/${encodeURIComponent(job.id)}`);
        show(j);
        if (j.status !== "running") return;
      } catch (e) {
        status.textContent = errorText(e);
        return;
      }
      timer = setTimeout(poll, 500);
      polls.add(timer);
    };
    cancel.addEventListener("click", async () => {
      clearTimeout(timer);
      try {
        await ctx.api.call(`/api/v1/exports/${encodeURIComponent(job.id)}`, { method: "DELETE" });
        show({ ...job, status: "cancelled", progress: 0 });
      } catch (e) {
        status.textContent = errorText(e);
      }
    });
    // The browser's download manager streams the package to disk; it cannot send the Authorization
    // header, so the server hands out a 60-second link bound to this user and export.
    download.addEventListener("click", async () => {
      download.disabled = true;
      try {
        const link = await ctx.api.call(`/api/v1/exports/${encodeURIComponent(job.id)}/link`, { method: "POST" });
        const a = h("a", { href: link.url, download: link.name, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        toast(t("pb.downloaded", { name: link.name }));
      } catch (e) {
        status.textContent = errorText(e);
      } finally {
        download.disabled = false;
      }
    });
    show(job);
    if (job.status === "running") poll();
    return row;
  }

  // The user's latest exports on the server (kept across restarts), so coming back to the view finds them.
  ctx.api.call("/api/v1/exports").then((list) => {
    const mine = list.filter((j) => ctx.me && j.owner === ctx.me.username && !jobs.querySelector(`[data-job-id="${CSS.escape(j.id)}"]`));
    mine.sort((a, b) => Date.parse(b.created) - Date.parse(a.created));
    for (const j of mine.slice(0, 20)) jobs.append(jobRow(j, `${formatWall(Date.parse(j.start), LONG)} – ${formatWall(Date.parse(j.end), SHORT)}`));
  }).catch(() => {});

  return {
    el: wrap,
    destroy() {
      for (const id of polls) clearTimeout(id);
      polls.clear();
    },
  };
}
