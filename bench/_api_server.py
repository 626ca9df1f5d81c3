"""The API server for bench/api.py: ``ronda serve`` without recorder, optionally without the auth check;
or (``--bare FILE``) a bare Starlette route serving FILE's bytes.

The no-auth and bare variants exist only here, for the baselines of the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ronda import runtime  # noqa: E402
from ronda.api import deps  # noqa: E402
from ronda.config import load_config  # noqa: E402


def serve_bare(port: int, body: bytes) -> None:
    """A bare Starlette route answering ``body`` as JSON, under plain uvicorn: the floor of what any
    Python answer of the same bytes costs (the ``bare_rps`` of bench/api.py)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def cameras(_: Request) -> Response:
        return Response(body, media_type="application/json")

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/api/v1/cameras", cameras), Route("/api/v1/health", health)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--no-auth", action="store_true")
    p.add_argument("--bare", type=Path, help="serve this file's bytes from a bare Starlette route instead")
    a = p.parse_args()
    if a.bare is not None:
        import yaml

        serve_bare(int(yaml.safe_load(a.config.read_text())["http"]["port"]), a.bare.read_bytes())
        return
    cfg = load_config(a.config)
    ctx = runtime.build(cfg, migrate=False, record=False)
    if a.no_auth:
        admin = ctx.auth.principal_for_user("admin", via="bench")
        assert admin is not None
        real_create_app = runtime.create_app

        def create_app_without_auth(c, manage_recorder=True):  # type: ignore[no-untyped-def]
            app = real_create_app(c, manage_recorder)
            app.dependency_overrides[deps.principal] = lambda: admin
            return app

        runtime.create_app = create_app_without_auth  # type: ignore[assignment]
    asyncio.run(runtime.serve(ctx))


if __name__ == "__main__":
    main()
