// @ts-check
// Live view in the browser: low-latency fMP4 over WebSocket into Media Source Extensions, HLS,
// or refreshed snapshots when the browser cannot decode the camera's codec.
// Standard APIs only (MediaSource, WebSocket, HLS where the browser plays it natively).

const LIVE_EDGE_S = 0.15; // how far behind the newest decoded frame the low-latency view plays
const MAX_BEHIND_S = 1.0; // further behind than this: jump to the live edge
const KEEP_S = 20; // seconds of already-played video kept in the buffer

export function canPlayHevc() {
  return typeof MediaSource !== "undefined" && MediaSource.isTypeSupported('video/mp4; codecs="hvc1.1.6.L93.B0"');
}

export function nativeHls(video) {
  return video.canPlayType("application/vnd.apple.mpegurl") !== "";
}

function absoluteWs(path) {
  const url = new URL(path, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

// Plays `urls.ws` of a camera's live info. Emits "status" events ({detail: {state, reason}}).
export class LowLatencyPlayer extends EventTarget {
  constructor(video, wsUrl) {
    super();
    this.video = video;
    this.wsUrl = wsUrl;
    this.queue = [];
    this.sb = null;
    this.ws = null;
    this.stopped = false;
    this.bytes = 0;
    this.fragments = 0;
    this.mime = null;
  }

  start() {
    this.ms = new MediaSource();
    this.video.src = URL.createObjectURL(this.ms);
    this.ms.addEventListener("sourceopen", () => this._connect(), { once: true });
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close();
    this.video.removeAttribute("src");
    this.video.load();
  }

  _status(state, reason = null) {
    this.dispatchEvent(new CustomEvent("status", { detail: { state, reason } }));
  }

  _connect() {
    if (this.stopped) return;
    const ws = new WebSocket(absoluteWs(this.wsUrl));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (this.stopped) return; // messages still in flight after the view was left
      if (typeof ev.data === "string") {
        const msg = JSON.parse(ev.data);
        if (msg.type === "init") this._init(msg.mime);
        return;
      }
      this.bytes += ev.data.byteLength;
      this.fragments += 1;
      this.queue.push(ev.data);
      this._pump();
    };
    ws.onclose = (ev) => {
      if (this.stopped) return;
      this._status("closed", ev.reason || `connection closed (${ev.code})`);
    };
    this._status("connecting");
  }

  _init(mime) {
    if (this.stopped || this.ms.readyState !== "open") return;
    if (!MediaSource.isTypeSupported(mime)) {
      this._status("unsupported", `this browser cannot decode ${mime}`);
      this.ws.close();
      return;
    }
    if (!this.sb) {
      try {
        this.sb = this.ms.addSourceBuffer(mime);
      } catch (e) {
        this._status("error", String(e));
        return;
      }
      this.sb.mode = "segments";
      this.sb.addEventListener("updateend", () => this._afterAppend());
    } else if (mime !== this.mime && this.sb.changeType) {
      this.sb.changeType(mime);
    }
    this.mime = mime;
  }

  _pump() {
    if (this.stopped || !this.sb || this.sb.updating || !this.queue.length || this.ms.readyState !== "open") return;
    try {
      this.sb.appendBuffer(this.queue.shift());
    } catch (e) {
      this._status("error", String(e));
    }
  }

  _afterAppend() {
    if (this.stopped || this.ms.readyState !== "open") return; // the view was left meanwhile
    const v = this.video;
    const b = v.buffered;
    if (b.length) {
      const end = b.end(b.length - 1);
      const start = b.start(b.length - 1);
      if (v.currentTime < start || end - v.currentTime > MAX_BEHIND_S) {
        v.currentTime = Math.max(start, end - LIVE_EDGE_S);
      }
      // catch up gently when a little behind, so the view stays near the live edge
      v.playbackRate = end - v.currentTime > LIVE_EDGE_S + 0.25 ? 1.1 : 1.0;
      if (v.paused) v.play().catch(() => {});
      if (!this.queue.length && !this.sb.updating && v.currentTime - b.start(0) > KEEP_S * 1.5) {
        try {
          this.sb.remove(0, v.currentTime - KEEP_S);
          return;
        } catch {
          // removed from its MediaSource (view closed): nothing to trim
        }
      }
      this._status("playing");
    }
    this._pump();
  }
}

// Fetches /api/v1/cameras/{id}/live and shows it in `video` (or `img` for snapshots).
// mode: "ll" (low latency, default) or "hls". Resolves to the player's state.
/**
 * @param {{ api: (path: string, options?: object) => Promise<any>, cameraId: number | string, video: HTMLVideoElement,
 *   img?: HTMLImageElement, mode?: string, view?: string, onStatus?: import("./playback.js").StatusHandler }} options
 */
export async function showLive({ api, cameraId, video, img, mode = "ll", view = "single", onStatus = () => {} }) {
  const info = await api(`/api/v1/cameras/${cameraId}/live?view=${view}&hevc=${canPlayHevc()}`);
  if (info.reason) onStatus({ state: info.mode, reason: info.reason });
  if (info.mode === "snapshot") {
    const refresh = async () => {
      const fresh = await api(`/api/v1/cameras/${cameraId}/live?view=${view}&hevc=${canPlayHevc()}`);
      img.src = `${fresh.urls.snapshot}&t=${Date.now()}`;
    };
    img.src = info.urls.snapshot;
    img.hidden = false;
    video.hidden = true;
    const timer = setInterval(refresh, 2000);
    return { info, stop: () => clearInterval(timer) };
  }
  if (mode === "hls") {
    if (!nativeHls(video)) {
      onStatus({ state: "unsupported", reason: "this browser does not play HLS natively; use the low-latency view" });
      return { info, stop: () => {} };
    }
    video.addEventListener("error", () => onStatus({ state: "error", reason: "live video is not available right now" }));
    video.addEventListener("playing", () => onStatus({ state: "playing" }));
    video.src = info.urls.hls;
    video.play().catch(() => {});
    // The player follows the media playlist with a token of a few minutes, bound to this session:
    // switch to fresh URLs (asked through the live session) before it runs out.
    const renew = setInterval(async () => {
      try {
        const fresh = await api(`/api/v1/cameras/${cameraId}/live?view=${view}&hevc=${canPlayHevc()}`);
        if (fresh.urls.hls) {
          video.src = fresh.urls.hls;
          video.play().catch(() => {});
        }
      } catch {
        // signed out or no longer allowed: the video stops with the old token
      }
    }, Math.max(30, (info.playlist_expires_in || 600) - 60) * 1000);
    return { info, stop: () => { clearInterval(renew); video.removeAttribute("src"); video.load(); } };
  }
  const player = new LowLatencyPlayer(video, info.urls.ws).start();
  player.addEventListener("status", (e) => onStatus(/** @type {CustomEvent} */ (e).detail));
  return { info, player, stop: () => player.stop() };
}
