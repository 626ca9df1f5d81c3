"""The baseline server of bench/seek.py: a plain static file server with HTTP byte ranges.

Starlette ``StaticFiles`` under uvicorn, configured like ``ronda serve`` (same HTTP stack, no access
log): no authentication, no catalog, no playlist; just the files of the recordings folder.

    python bench/_seek_static.py --root DIR --port P
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    app = Starlette(routes=[Mount("/", app=StaticFiles(directory=a.root))])
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_config=None, access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
