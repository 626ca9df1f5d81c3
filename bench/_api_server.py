"""The API server for bench/api.py: ``ronda serve`` without recorder, optionally without the auth check.

The no-auth variant exists only here, for the baseline of the benchmark.
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


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--no-auth", action="store_true")
    a = p.parse_args()
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
