"""TOTP enrolment lives in the database: started in one API process, confirmed in another (two
``ronda serve`` on the same database); an expired enrolment is refused."""

from __future__ import annotations

import time
from pathlib import Path

import pyotp
import pytest
import yaml
from sqlalchemy import select

from ronda.store.access_models import User
from tests.access.inproc import Api, add_admin, app_instance
from tests.helpers import ADMIN_PASSWORD, PW, RondaProcess, free_port


def _serve(base: Path, data: Path, name: str) -> RondaProcess:
    """``ronda serve`` on ``data`` (no recording): another API process on the same database."""
    port = free_port()
    cfg = base / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(data), "http": {"host": "127.0.0.1", "port": port},
                                   "recording": {"enabled": False}, "events": {"default_rules": False}}))  # fmt: skip
    p = RondaProcess(cfg, base / f"{name}.log", port)
    p.start()
    return p


@pytest.mark.slow  # two real `ronda serve` processes
def test_enrolment_started_in_one_process_is_confirmed_in_another(tmp_path):
    data = tmp_path / "data"
    a = _serve(tmp_path, data, "a")
    b = _serve(tmp_path, data, "b")
    try:
        secret = a.api("POST", "/api/v1/me/totp", json={"password": ADMIN_PASSWORD}).json()["secret"]
        b.token = a.token  # the same session, served by the other process
        r = b.api(
            "POST", "/api/v1/me/totp/confirm", json={"password": ADMIN_PASSWORD, "code": pyotp.TOTP(secret).now()}
        )
        assert r.status_code == 200, f"confirmed in the second process: {r.status_code} {r.text}"
        # done: the pending enrolment is gone, a second confirmation finds nothing
        r = a.api(
            "POST", "/api/v1/me/totp/confirm", json={"password": ADMIN_PASSWORD, "code": pyotp.TOTP(secret).now()}
        )
        assert r.status_code == 422
    finally:
        a.close()
        b.close()


def test_expired_enrolment_is_refused(tmp_path, monkeypatch):
    from ronda.access import user_admin

    # an enrolment past its expiry is refused
    monkeypatch.setattr(user_admin, "PENDING_TOTP_S", 1.0)
    with app_instance(tmp_path / "other") as (client, ctx):
        add_admin(ctx)
        a = Api(client, "admin")
        secret = a.req("POST", "/api/v1/me/totp", json={"password": PW}).json()["secret"]
        time.sleep(1.5)
        r = a.req("POST", "/api/v1/me/totp/confirm", json={"password": PW, "code": pyotp.TOTP(secret).now()})
        assert r.status_code == 422
        with ctx.db.session() as s:
            assert s.scalar(select(User.totp_secret_enc).where(User.username == "admin")) is None


def test_enrolment_is_bound_to_the_session_that_started_it(tmp_path):
    data = tmp_path / "data"
    with app_instance(data) as (client, ctx):
        add_admin(ctx)
        a, a2 = Api(client, "admin"), Api(client, "admin")
        secret = a.req("POST", "/api/v1/me/totp", json={"password": PW}).json()["secret"]
        r = a2.req("POST", "/api/v1/me/totp/confirm", json={"password": PW, "code": pyotp.TOTP(secret).now()})
        assert r.status_code == 422
        r = a.req("POST", "/api/v1/me/totp/confirm", json={"password": PW, "code": pyotp.TOTP(secret).now()})
        assert r.status_code == 200, r.text
