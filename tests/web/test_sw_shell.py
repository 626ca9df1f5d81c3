"""The service worker's shell list names every file the installed client needs to start offline.

A module split (or a new view) that forgets to add its files to ``SHELL`` in ``sw.js`` breaks the
offline start only on a phone that has lost the network: this test catches it at once.
"""

from __future__ import annotations

import re
from pathlib import Path

import ronda

STATIC = Path(ronda.__file__).parent / "web" / "static"
# The stand-alone player page (``player.html``: a token in its address) plays from the server; it has no
# use offline and is not part of the installed client.
NOT_SHELL = {"js/player.js", "css/player.css"}


def shell() -> list[str]:
    text = (STATIC / "sw.js").read_text()
    body = re.search(r"const SHELL = \[(.*?)\];", text, re.S)
    assert body, "SHELL list not found in sw.js"
    return re.findall(r'"([^"]+)"', body.group(1))


def test_every_client_module_and_style_is_in_the_shell():
    listed = set(shell())
    needed = {p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*") if p.suffix in {".js", ".css"}}
    needed -= {"sw.js"} | NOT_SHELL
    missing = sorted(needed - listed)
    assert not missing, f"sw.js SHELL misses {missing}: the installed client cannot start offline"


def test_every_shell_entry_exists():
    absent = [f for f in shell() if f != "./" and not (STATIC / f).is_file()]
    assert not absent, f"sw.js SHELL names files that do not exist: {absent}"
