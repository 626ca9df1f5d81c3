// @ts-check
// A still of a recorded instant, for search hits and as a picture to draw on: the API has no "JPEG at
// time T", so the browser opens the recorded segment holding T (the same token-bound segment URL
// playback uses), seeks to T and draws that frame. At most two at a time; a token serves a camera
// for most of its 60 s.

const TOKEN_REUSE_MS = 45_000;
const MAX_PARALLEL = 2;
/** @type {Map<number, { at: number, url: string }>} */
const tokens = new Map();
let running = 0;
/** @type {(() => void)[]} */
const waiting = [];

/** @template T @param {() => Promise<T>} job @returns {Promise<T>} */
async function queued(job) {
  if (running >= MAX_PARALLEL) await new Promise((resolve) => waiting.push(() => resolve(undefined)));
  running++;
  try {
    return await job();
  } finally {
    running--;
    const next = waiting.shift();
    if (next) next();
  }
}

/** @param {import("../app.js").AppContext} ctx @param {number} cameraId @returns {Promise<string>} */
async function segmentUrl(ctx, cameraId) {
  const known = tokens.get(cameraId);
  if (known && Date.now() - known.at < TOKEN_REUSE_MS) return known.url;
  const tok = await ctx.api.call(`/api/v1/cameras/${cameraId}/stream-token`, { method: "POST", body: { right: "playback" } });
  tokens.set(cameraId, { at: Date.now(), url: tok.urls.segment });
  return tok.urls.segment;
}

/**
 * Resolves once `video` fires `name` (rejects on error or after `ms`).
 * @param {HTMLVideoElement} video @param {string} name @param {number} ms
 */
function once(video, name, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} in ${ms} ms`)), ms);
    video.addEventListener(name, () => { clearTimeout(timer); resolve(undefined); }, { once: true });
    video.addEventListener("error", () => { clearTimeout(timer); reject(new Error("the recording cannot be read")); }, { once: true });
  });
}

/**
 * An object URL of a JPEG of the recorded frame at `ms` (`width` px wide), or null when nothing is
 * recorded there. The caller revokes the URL.
 * @param {import("../app.js").AppContext} ctx
 * @param {number} cameraId
 * @param {number} ms
 * @param {number} [width]
 * @returns {Promise<string | null>}
 */
export function frameAt(ctx, cameraId, ms, width = 320) {
  return queued(async () => {
    const q = new URLSearchParams({ start: new Date(ms - 1000).toISOString(), end: new Date(ms + 1000).toISOString() });
    const rec = await ctx.api.call(`/api/v1/cameras/${cameraId}/recordings?${q}`);
    const segs = rec.segments.map((s) => ({ id: s.id, s: Date.parse(s.start), e: Date.parse(s.end) }));
    const seg = segs.find((s) => s.s <= ms && ms < s.e) || segs.find((s) => s.s > ms);
    if (!seg) return null;
    const video = /** @type {HTMLVideoElement} */ (document.createElement("video"));
    video.muted = true;
    video.preload = "auto";
    try {
      const meta = once(video, "loadeddata", 15000);
      video.src = (await segmentUrl(ctx, cameraId)).replace("{segment_id}", String(seg.id));
      await meta;
      const at = Math.max(0, Math.min((ms - seg.s) / 1000, video.duration - 0.05 || 0));
      if (at > 0.01) {
        const seeked = once(video, "seeked", 15000);
        video.currentTime = at;
        await seeked;
      }
      const c = document.createElement("canvas");
      c.width = width;
      c.height = Math.round((width * video.videoHeight) / (video.videoWidth || 16)) || Math.round((width * 9) / 16);
      c.getContext("2d").drawImage(video, 0, 0, c.width, c.height);
      const blob = await new Promise((resolve) => c.toBlob(resolve, "image/jpeg", 0.8));
      return blob ? URL.createObjectURL(blob) : null;
    } finally {
      video.removeAttribute("src");
      video.load();
    }
  });
}
