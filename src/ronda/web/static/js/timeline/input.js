// @ts-check
// The timeline's pointer, wheel and keyboard handling: scrub, select, zoom, pan.
import { describe } from "./describe.js";

/** @typedef {import("../timeline.js").Timeline} Timeline */

// --- input ------------------------------------------------------------------------------------------------
/** @param {Timeline} tl */
export function bindInput(tl) {
  const c = tl.canvas;
  const xOfEvent = (e) => e.clientX - c.getBoundingClientRect().left;
  c.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    c.focus();
    c.setPointerCapture(e.pointerId);
    const x = xOfEvent(e);
    const sel = tl.selection;
    let mode = e.shiftKey ? "select" : "scrub";
    let anchor = tl._snap(tl.timeAt(x));
    if (!e.shiftKey && sel) {
      // dragging a selection edge moves that edge
      if (Math.abs(tl.xOf(sel.start) - x) <= 5) [mode, anchor] = ["select", sel.end];
      else if (Math.abs(tl.xOf(sel.end) - x) <= 5) [mode, anchor] = ["select", sel.start];
    }
    tl._drag = { mode, x0: x, anchor, moved: false, lastSeek: 0 };
    if (mode === "select" && e.shiftKey) tl.setSelection(anchor, anchor);
    e.preventDefault();
  });
  c.addEventListener("pointermove", (e) => {
    const x = xOfEvent(e);
    tl.hover = x;
    const d = tl._drag;
    if (!d) {
      c.title = describe(tl, x, e.clientY - c.getBoundingClientRect().top);
      tl.requestDraw();
      return;
    }
    if (Math.abs(x - d.x0) > 3) d.moved = true;
    if (!d.moved) return;
    if (d.mode === "select") {
      tl.selection = { start: Math.min(d.anchor, tl._snap(tl.timeAt(x))), end: Math.max(d.anchor, tl._snap(tl.timeAt(x))) };
      tl.requestDraw();
    } else {
      tl.cursor = tl.timeAt(x);
      tl.requestDraw();
      const now = performance.now();
      if (now - d.lastSeek > 200) {
        d.lastSeek = now;
        tl.dispatchEvent(new CustomEvent("seek", { detail: { ms: tl.cursor, final: false } }));
      }
    }
  });
  const end = (e) => {
    const d = tl._drag;
    if (!d) return;
    tl._drag = null;
    const x = xOfEvent(e);
    if (d.mode === "select" && d.moved) {
      tl._publishSelection();
    } else if (d.mode === "select" && e.shiftKey) {
      tl.setSelection(null); // a Shift+click without a drag clears the selection
    } else {
      tl._seek(tl.timeAt(x), true);
    }
  };
  c.addEventListener("pointerup", end);
  c.addEventListener("pointercancel", () => {
    tl._drag = null;
  });
  c.addEventListener("pointerleave", () => {
    tl.hover = null;
    tl.requestDraw();
  });
  c.addEventListener("wheel", (e) => {
    e.preventDefault();
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) tl.pan(e.deltaX > 0 ? 0.1 : -0.1);
    else tl.zoom(e.deltaY > 0 ? 1.25 : 0.8, tl.timeAt(xOfEvent(e)));
  }, { passive: false });
  c.addEventListener("keydown", (e) => {
    const span = tl.end - tl.start;
    const at = tl.cursor ?? (tl.start + tl.end) / 2;
    const keys = {
      ArrowLeft: () => tl._seek(at - span / 50, true),
      ArrowRight: () => tl._seek(at + span / 50, true),
      PageUp: () => tl.pan(-0.5),
      PageDown: () => tl.pan(0.5),
      "+": () => tl.zoom(0.5),
      "=": () => tl.zoom(0.5),
      "-": () => tl.zoom(2),
      End: () => tl.goNow(),
      "[": () => tl.setSelection(tl._snap(at), Math.max(tl._snap(at), tl.selection?.end ?? tl._snap(at))),
      "]": () => tl.setSelection(Math.min(tl._snap(at), tl.selection?.start ?? tl._snap(at)), tl._snap(at)),
      Escape: () => tl.setSelection(null),
    };
    if (keys[e.key]) {
      e.preventDefault();
      keys[e.key]();
    }
  });
}
