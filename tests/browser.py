"""Headless Chromium for browser tests: Debian's chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import Any

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]

# Reads the clock camera's time code (see ronda.devices.simulator.clock_frame) from the frame on
# screen, at each new frame (requestVideoFrameCallback), for `n` frames. Resolves to
# [{code: ms in the frame, shown: Date.now() when shown}, ...].
READ_TIME_CODES = """
async ([selector, n]) => {
  const v = document.querySelector(selector);
  const c = document.createElement("canvas");
  const g = c.getContext("2d", { willReadFrequently: true });
  const out = [];
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${out.length} frames in 20 s`)), 20000);
    const read = () => {
      const shown = Date.now();
      c.width = v.videoWidth; c.height = 32;
      g.drawImage(v, 0, 0, v.videoWidth, 32, 0, 0, v.videoWidth, 32);
      const d = g.getImageData(0, 0, c.width, 32).data;
      const bit = (i) => {
        const x = (i % 24) * 16 + 8, y = Math.floor(i / 24) * 16 + 8;
        return d[(y * c.width + x) * 4] > 128 ? 1 : 0;
      };
      const marker = [0, 1, 2, 3].map(bit).join("");
      let code = 0;
      for (let i = 4; i < 48; i++) code = code * 2 + bit(i);
      if (marker === "1010") out.push({ code, shown });
      if (out.length >= n) { clearTimeout(timer); resolve(out); }
      else v.requestVideoFrameCallback(read);
    };
    v.requestVideoFrameCallback(read);
  });
}
"""


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("Debian's chromium is not installed (scripts/setup.sh --test installs it)")


@contextlib.contextmanager
def launch() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class ConsoleErrors:
    """Collects console errors and uncaught exceptions of a page. ``expect(status)`` allows the
    browser's own "Failed to load resource ... status of N" line for a request the test makes fail."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.allowed: set[int] = set()
        page.on("console", lambda m: self._console(m))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def expect(self, *statuses: int) -> None:
        self.allowed |= set(statuses)

    def _console(self, m: Any) -> None:
        if m.type != "error":
            return
        if any(f"status of {s} " in m.text for s in self.allowed):
            return
        self.errors.append(m.text)


# The clock camera's time code of the frame currently shown (null when no code is readable).
READ_FRAME_CODE = """
(selector) => {
  const v = document.querySelector(selector);
  if (!v || v.readyState < 2) return null;
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = 32;
  const g = c.getContext("2d", { willReadFrequently: true });
  g.drawImage(v, 0, 0, v.videoWidth, 32, 0, 0, v.videoWidth, 32);
  const d = g.getImageData(0, 0, c.width, 32).data;
  const bit = (i) => {
    const x = (i % 24) * 16 + 8, y = Math.floor(i / 24) * 16 + 8;
    return d[(y * c.width + x) * 4] > 128 ? 1 : 0;
  };
  if ([0, 1, 2, 3].map(bit).join("") !== "1010") return null;
  let code = 0;
  for (let i = 4; i < 48; i++) code = code * 2 + bit(i);
  return code;
}
"""
