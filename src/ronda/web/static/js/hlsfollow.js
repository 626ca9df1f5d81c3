// @ts-check
// Live HLS of fMP4 parts followed with fetch into Media Source Extensions: for playlists whose every
// request must carry the session's credentials (the centre's proxy of a remote site's live view,
// docs/cluster.md "Federation"), which a <video src> cannot send, and for browsers without native HLS.
// The playlist is read again every half target duration; new parts are appended in order ("sequence"
// mode: a part skipped because the window moved on, or a discontinuity, leaves no hole to stall on).

const KEEP_S = 20; // seconds of already-played video kept in the buffer
const FAILURES = 3; // playlist or part failures in a row before the player gives up ("error")

/**
 * The RFC 6381 codec string of the video track of an initialisation section (avc1/avc3, hvc1/hev1),
 * read from its sample entry's configuration box; "" when there is none.
 * @param {Uint8Array} b
 * @returns {string}
 */
export function codecOf(b) {
  const find = (/** @type {string} */ name, from = 0) => {
    const c = [...name].map((ch) => ch.charCodeAt(0));
    for (let i = from; i + 4 <= b.length; i++) if (b[i] === c[0] && b[i + 1] === c[1] && b[i + 2] === c[2] && b[i + 3] === c[3]) return i;
    return -1;
  };
  const hex = (/** @type {number} */ n) => n.toString(16).padStart(2, "0");
  for (const entry of ["avc1", "avc3"]) {
    const e = find(entry);
    const cfg = e >= 0 ? find("avcC", e) : -1;
    if (cfg >= 0) return `${entry}.${hex(b[cfg + 5])}${hex(b[cfg + 6])}${hex(b[cfg + 7])}`;
  }
  for (const entry of ["hvc1", "hev1"]) {
    const e = find(entry);
    const cfg = e >= 0 ? find("hvcC", e) : -1;
    if (cfg < 0) continue;
    const c = cfg + 4; // the box's payload: configurationVersion, then profile space/tier/idc
    const b1 = b[c + 1];
    const space = b1 >> 6 ? "ABC"[(b1 >> 6) - 1] : "";
    const compat = ((b[c + 2] << 24) | (b[c + 3] << 16) | (b[c + 4] << 8) | b[c + 5]) >>> 0;
    let rev = 0;
    for (let i = 0; i < 32; i++) if (compat & (1 << i)) rev |= 1 << (31 - i);
    const constraints = [...b.slice(c + 6, c + 12)];
    while (constraints.length && !constraints[constraints.length - 1]) constraints.pop();
    const tail = constraints.length ? constraints.map((x) => `.${hex(x).toUpperCase()}`).join("") : ".B0";
    return `${entry}.${space}${b1 & 0x1f}.${(rev >>> 0).toString(16).toUpperCase()}.${"LH"[(b1 >> 5) & 1]}${b[c + 12]}${tail}`;
  }
  return "";
}

/**
 * The parts of a live media playlist: each with its sequence number, its URI and its init section's URI.
 * @param {string} text
 * @returns {{ target: number, parts: { seq: number, uri: string, init: string | null }[] }}
 */
export function parsePlaylist(text) {
  const lines = text.split(/\r?\n/);
  if (lines[0] !== "#EXTM3U") throw new Error("not an HLS playlist");
  let seq = 0;
  let target = 2;
  /** @type {string | null} */
  let init = null;
  const parts = [];
  for (const line of lines) {
    if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) seq = Number(line.slice(22));
    else if (line.startsWith("#EXT-X-TARGETDURATION:")) target = Number(line.slice(22)) || 2;
    else if (line.startsWith("#EXT-X-MAP:")) init = (/URI="([^"]+)"/.exec(line) || [])[1] || null;
    else if (line && !line.startsWith("#")) parts.push({ seq: seq++, uri: line, init });
  }
  return { target, parts };
}

/**
 * Follows `playlistUrl` into `video`. `get(url)` fetches with the credentials. Emits "status" events
 * ({detail: {state: "connecting" | "playing" | "unsupported" | "error", reason}}); after "unsupported" or
 * "error" it has stopped.
 */
export class HlsFollower extends EventTarget {
  /**
   * @param {HTMLVideoElement} video
   * @param {string} playlistUrl
   * @param {(url: string) => Promise<Response>} get
   */
  constructor(video, playlistUrl, get) {
    super();
    this.video = video;
    this.url = new URL(playlistUrl, location.href).href;
    this.get = get;
    this.stopped = false;
    /** @type {SourceBuffer | null} */
    this.sb = null;
    /** @type {string | null} */
    this.initUri = null;
    this.codec = "";
    /** @type {number | null} the next part to append */
    this.next = null;
    this.parts = 0; // parts appended
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.onPlaying = () => this._status("playing");
  }

  start() {
    if (typeof MediaSource === "undefined") {
      this._fail("unsupported", "this browser has no Media Source Extensions");
      return this;
    }
    this.ms = new MediaSource();
    this.video.src = URL.createObjectURL(this.ms);
    this.video.addEventListener("playing", this.onPlaying);
    this.ms.addEventListener("sourceopen", () => this._loop(), { once: true });
    this._status("connecting");
    return this;
  }

  stop() {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.video.removeEventListener("playing", this.onPlaying);
    const src = this.video.src;
    this.video.removeAttribute("src");
    this.video.load();
    if (src.startsWith("blob:")) URL.revokeObjectURL(src);
  }

  /** @param {string} state @param {string | null} [reason] */
  _status(state, reason = null) {
    if (!this.stopped) this.dispatchEvent(new CustomEvent("status", { detail: { state, reason } }));
  }

  // The listeners hear of it while the video still shows its last frame (a viewer may keep it as a
  // picture), then the player stops.
  /** @param {string} state @param {string} reason */
  _fail(state, reason) {
    if (this.stopped) return;
    this._status(state, reason);
    this.stop();
  }

  /** @param {string} uri */
  async _bytes(uri) {
    const res = await this.get(new URL(uri, this.url).href);
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`.trim());
    return /** @type {Uint8Array<ArrayBuffer>} */ (new Uint8Array(await res.arrayBuffer()));
  }

  /** @param {Uint8Array<ArrayBuffer>} data @returns {Promise<void>} */
  _append(data) {
    const sb = this.sb;
    return new Promise((resolve, reject) => {
      const done = () => { sb.removeEventListener("error", failed); resolve(); };
      const failed = () => { sb.removeEventListener("updateend", done); reject(new Error("the browser could not decode this video")); };
      sb.addEventListener("updateend", done, { once: true });
      sb.addEventListener("error", failed, { once: true });
      sb.appendBuffer(data);
    });
  }

  /** @param {string} uri */
  async _init(uri) {
    const data = await this._bytes(uri);
    const codec = codecOf(data);
    const mime = `video/mp4; codecs="${codec}"`;
    if (!codec || !MediaSource.isTypeSupported(mime)) throw Object.assign(new Error(`this browser cannot decode ${codec || "this video"}`), { unsupported: true });
    if (this.stopped || !this.ms || this.ms.readyState !== "open") return;
    if (!this.sb) {
      this.sb = this.ms.addSourceBuffer(mime);
      this.sb.mode = "sequence";
    } else if (codec !== this.codec && this.sb.changeType) {
      this.sb.changeType(mime);
    }
    this.codec = codec;
    await this._append(data);
    this.initUri = uri;
  }

  // Near the live edge, playing; old video trimmed.
  async _keepUp(/** @type {number} */ target) {
    const v = this.video;
    const b = v.buffered;
    if (!b.length) return;
    const end = b.end(b.length - 1);
    if (v.currentTime < b.start(b.length - 1) || end - v.currentTime > Math.max(3, 2 * target)) v.currentTime = Math.max(b.start(b.length - 1), end - 1);
    if (v.paused) v.play().catch(() => {});
    if (this.sb && !this.sb.updating && v.currentTime - b.start(0) > KEEP_S * 1.5) {
      await new Promise((resolve) => {
        this.sb.addEventListener("updateend", resolve, { once: true });
        this.sb.remove(0, v.currentTime - KEEP_S);
      });
    }
  }

  async _loop() {
    let failures = 0;
    while (!this.stopped) {
      let target = 2;
      try {
        const res = await this.get(this.url);
        if (!res.ok) throw new Error(`${res.status} ${((await res.json().catch(() => ({}))) || {}).detail || res.statusText}`.trim());
        const pl = parsePlaylist(await res.text());
        target = pl.target;
        const { parts } = pl;
        // Start two parts from the live edge; a window that moved past the next part: on from its start.
        if (parts.length && (this.next === null || this.next < parts[0].seq)) this.next = parts[Math.max(0, parts.length - 2)].seq;
        for (const p of parts) {
          if (this.stopped) return;
          if (p.seq < this.next) continue;
          if (p.init && p.init !== this.initUri) await this._init(p.init);
          if (this.stopped) return;
          await this._append(await this._bytes(p.uri));
          this.parts += 1;
          this.next = p.seq + 1;
          await this._keepUp(target);
        }
        failures = 0;
      } catch (e) {
        if (this.stopped) return;
        if (e && e.unsupported) return this._fail("unsupported", e.message);
        if (++failures >= FAILURES) return this._fail("error", (e && e.message) || String(e));
      }
      await new Promise((resolve) => { this.timer = setTimeout(resolve, Math.max(500, (target * 1000) / 2)); });
    }
  }
}
