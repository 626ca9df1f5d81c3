// @ts-check
// The stand-alone player page (player.html): one camera, live or recorded. A file, not an inline
// script, so that the Content-Security-Policy can forbid inline scripts.
import { showLive } from "./live.js";
import { showRecorded } from "./playback.js";
const params = new URLSearchParams(location.hash.slice(1));
const token = params.get("token") || sessionStorage.getItem("ronda.access_token");
const cameraId = params.get("camera");
const video = /** @type {HTMLVideoElement} */ (document.getElementById("video"));
video.dataset.cameraId = cameraId;
const statusEl = document.getElementById("status");
const reasonEl = document.getElementById("reason");
async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: { ...(options.headers || {}), Authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`${res.status} ${(await res.json().catch(() => ({}))).detail || res.statusText}`);
  return res.json();
}
function onStatus({ state, reason }) {
  statusEl.textContent = state;
  if (reason) { reasonEl.textContent = reason; reasonEl.hidden = false; }
}
const mode = params.get("mode") || "ll";
try {
  window.rondaPlayer = mode === "vod"
    ? await showRecorded({ api, cameraId, video, at: params.get("at"), onStatus })
    : await showLive({ api, cameraId, video, img: /** @type {HTMLImageElement} */ (document.getElementById("snapshot")), mode, onStatus });
} catch (e) {
  onStatus({ state: "error", reason: String(e.message || e) });
}
