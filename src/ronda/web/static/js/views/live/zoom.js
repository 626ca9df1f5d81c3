// @ts-check
// Digital zoom of a live tile: wheel, buttons, keys and drag (a CSS transform, up to 8×).

// --- digital zoom: CSS transform of the picture, wheel / buttons / keys, drag to pan --------------
export function attachZoom(box, targets) {
  let s = 1;
  let x = 0;
  let y = 0;
  const apply = () => {
    const mx = (box.clientWidth * (s - 1)) / 2;
    const my = (box.clientHeight * (s - 1)) / 2;
    x = Math.max(-mx, Math.min(mx, x));
    y = Math.max(-my, Math.min(my, y));
    for (const el of targets) el.style.transform = s === 1 ? "" : `translate(${x}px, ${y}px) scale(${s})`;
    box.classList.toggle("zoomed", s > 1);
  };
  // keeps the point (cx, cy), relative to the box's centre, where it is on screen
  const zoomAt = (factor, cx = 0, cy = 0) => {
    const ns = Math.max(1, Math.min(8, s * factor));
    x = cx - ((cx - x) * ns) / s;
    y = cy - ((cy - y) * ns) / s;
    s = ns;
    apply();
  };
  box.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = box.getBoundingClientRect();
    zoomAt(e.deltaY < 0 ? 1.25 : 0.8, e.clientX - r.left - r.width / 2, e.clientY - r.top - r.height / 2);
  }, { passive: false });
  let drag = null;
  box.addEventListener("pointerdown", (e) => {
    if (s === 1 || e.button !== 0) return;
    drag = { px: e.clientX, py: e.clientY, x, y };
    box.setPointerCapture(e.pointerId);
  });
  box.addEventListener("pointermove", (e) => {
    if (!drag) return;
    x = drag.x + e.clientX - drag.px;
    y = drag.y + e.clientY - drag.py;
    apply();
  });
  const end = () => {
    drag = null;
  };
  box.addEventListener("pointerup", end);
  box.addEventListener("pointercancel", end);
  return {
    in: () => zoomAt(1.25),
    out: () => zoomAt(0.8),
    reset: () => {
      s = 1;
      x = 0;
      y = 0;
      apply();
    },
    get scale() {
      return s;
    },
  };
}
