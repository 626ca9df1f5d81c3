"""The vendored web libraries (src/ronda/web/static/vendor/) are the versions scripts/vendor-web.sh pins,
and whole: a hand edit or a half-finished refresh shows here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "src" / "ronda" / "web" / "static" / "vendor"


def pinned(name: str) -> str:
    script = (ROOT / "scripts" / "vendor-web.sh").read_text()
    m = re.search(rf"^{name}_VERSION=(\S+)", script, re.M)
    assert m, f"{name}_VERSION not in scripts/vendor-web.sh"
    return m.group(1)


def test_leaflet_is_the_pinned_version():
    version = pinned("LEAFLET")
    leaflet = VENDOR / "leaflet"
    assert (leaflet / "VERSION").read_text().strip() == version
    js = (leaflet / "leaflet-src.esm.js").read_text()
    # Leaflet stamps its version in the banner and in the module (export var version = "…")
    assert f"Leaflet {version}," in js.splitlines()[1]
    assert re.search(rf'var version = "{re.escape(version)}";', js)
    assert "export {" in js  # the ES module build, which the client imports
    assert ".leaflet-container" in (leaflet / "leaflet.css").read_text()
    assert "BSD 2-Clause License" in (leaflet / "LICENSE").read_text()


def test_leaflet_copy_is_the_npm_package_byte_for_byte():
    """Against the package scripts/vendor-web.sh installed (skipped where it has not run)."""
    package = ROOT / ".venv" / "tools" / "node_modules" / "leaflet"
    if (
        not (package / "package.json").is_file()
        or f'"version": "{pinned("LEAFLET")}"' not in (package / "package.json").read_text()
    ):
        pytest.skip("leaflet at the pinned version is not installed in .venv/tools (scripts/vendor-web.sh)")
    for vendored, original in (("leaflet-src.esm.js", "dist/leaflet-src.esm.js"), ("leaflet.css", "dist/leaflet.css"),
                               ("LICENSE", "LICENSE")):  # fmt: skip
        assert (VENDOR / "leaflet" / vendored).read_bytes() == (package / original).read_bytes(), vendored


def test_setup_vendors_the_web_libraries():
    assert "scripts/vendor-web.sh" in (ROOT / "scripts" / "setup.sh").read_text()
