// @ts-check
// Frame-exact stepping of a recorded player: which frame is on screen (presented-frame callbacks) and
// seeks to the middle of the frame interval `n` frames on, at the recording's real frame rate.

const FRAME_WAIT_MS = 400; // how long a step waits for its frame to be presented before going on

/**
 * Sets currentTime and resolves when the frame there is ready to be shown.
 * @param {HTMLVideoElement} video
 * @param {number} t
 * @returns {Promise<void>}
 */
export function seekToFrame(video, t) {
  return new Promise((resolve) => {
    video.addEventListener("seeked", () => resolve(), { once: true });
    video.currentTime = t;
  });
}

// Resolves once no seek is under way.
/** @param {HTMLVideoElement} video @returns {Promise<void>} */
function seekDone(video) {
  if (!video.seeking) return Promise.resolve();
  return new Promise((resolve) => video.addEventListener("seeked", () => resolve(), { once: true }));
}

/**
 * Follows the frames presented on `video`.
 * @param {HTMLVideoElement} video
 * @param {() => number} fps frames per second of the recordings
 */
export function frameTracker(video, fps) {
  // The frame on screen, as presented (requestVideoFrameCallback): its media time, and whether it
  // is the frame at the current position. A frame presented before a seek is stale: its callback may
  // run while the seek still decodes, or even after "seeked" under load, and counting a step from it
  // lands a frame or more off. So a presented frame counts only if it covers currentTime (starts at
  // most one frame interval before it).
  /** @type {{ shown: number | null, fresh: boolean, duringSeek: number | null, waiters: (() => void)[] }} */
  const frames = { shown: null, fresh: false, duringSeek: null, waiters: [] };
  /** @param {number} m */
  const covers = (m) => m <= video.currentTime + 0.002 && video.currentTime < m + 1 / fps() - 0.002;
  /** @param {number} mediaTime */
  const accept = (mediaTime) => {
    frames.shown = mediaTime;
    frames.fresh = true;
    for (const w of frames.waiters.splice(0)) w();
  };
  const forget = () => {
    frames.fresh = false;
    frames.duringSeek = null;
  };
  video.addEventListener("seeking", forget);
  video.addEventListener("emptied", forget); // another playlist: nothing of it shown yet
  // The seek's own frame may be presented just before "seeked" fires: it is the one that covers
  // the new position (a frame presented before the seek does not).
  video.addEventListener("seeked", () => {
    const m = frames.duringSeek;
    if (!frames.fresh && m !== null && covers(m)) accept(m);
  });
  if (video.requestVideoFrameCallback) {
    const onFrame = (_now, meta) => {
      if (video.seeking) frames.duringSeek = meta.mediaTime;
      else if (covers(meta.mediaTime)) accept(meta.mediaTime);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
  // Resolves when a frame is presented after the seek just done (or after FRAME_WAIT_MS: a seek to
  // the frame already shown may present nothing new).
  const presented = () => new Promise((resolve) => {
    if (frames.fresh || !video.requestVideoFrameCallback) return resolve();
    const timer = setTimeout(done, FRAME_WAIT_MS);
    function done() {
      clearTimeout(timer);
      resolve();
    }
    frames.waiters.push(done);
  });

  return {
    // The player time of the picture: while paused on a presented frame, that frame's own time.
    shownTime: () => (video.paused && frames.fresh && !video.seeking && covers(frames.shown) ? frames.shown : video.currentTime),
    // `n` frames forward (1) or back (-1) from the frame on screen. The target is the middle of the
    // frame interval `n` frames on, not its edge: the frame shown at a time is the last one starting at
    // or before it, so an edge target flips between two frames on a timestamp a little off the grid.
    // (A frame missing from the recording is not skipped over: that step shows the frame before it.)
    /** @param {number} n */
    async stepOnce(n) {
      video.pause();
      await seekDone(video);
      await presented();
      const d = 1 / fps();
      // the middle of the frame shown; without a presented frame, currentTime lies inside it
      const base = frames.fresh && covers(frames.shown) ? frames.shown + d / 2 : video.currentTime;
      const target = Math.min(Math.max(0, base + n * d), video.duration || Infinity);
      await seekToFrame(video, target);
      await presented();
    },
  };
}
