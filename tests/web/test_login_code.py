"""A refused sign-in carries a machine-readable ``code`` next to its English ``detail``, and the login
screen asks for the one-time code from that field (not from the wording of the message).

Every refusal of the credentials is the same ``login_failed`` answer, a right password without its
one-time code included: the right password alone must not be recognisable."""

from __future__ import annotations

import time

import pytest

from ronda.access.service import LOGIN_FAILED, create_user
from ronda.store.db import Database
from tests.browser import ConsoleErrors
from tests.helpers import PW, Client, elsewhere


@pytest.fixture(scope="module")
def totp_user(site, users):
    """A viewer with TOTP enrolled: (username, secret)."""
    import pyotp

    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    create_user(db, "otp_web", PW, ["viewer"])
    db.dispose()
    c = Client(site, "otp_web")
    secret = c.req("POST", "/api/v1/me/totp", json={"password": PW}).json()["secret"]
    r = c.req("POST", "/api/v1/me/totp/confirm", json={"code": pyotp.TOTP(secret).now(), "password": PW})
    assert r.status_code == 200, r.text
    return "otp_web", secret


def login(site, **body):
    with elsewhere(site) as http:  # refusals must not spend 127.0.0.1's login budget for other tests
        return http.post("/api/v1/auth/login", json=body)


def test_refused_sign_ins_carry_one_code(site, totp_user):
    user, _secret = totp_user
    answers = {
        "wrong password": login(site, username="viewer_a", password="wrong"),
        "unknown user": login(site, username="nobody-here-either", password="x"),
        "code missing": login(site, username=user, password=PW),
        "code wrong": login(site, username=user, password=PW, totp="000000"),
    }
    for what, r in answers.items():
        assert r.status_code == 401, (what, r.text)
        assert "WWW-Authenticate" in r.headers, what
        # the same answer for every refusal, message kept, the reason machine-readable
        assert r.json() == {"detail": LOGIN_FAILED, "code": "login_failed"}, (what, r.json())


def test_throttled_sign_in_says_so_in_its_code(site, users):
    db = Database(f"sqlite:///{site.data_dir / 'ronda.db'}")
    create_user(db, "throttled_web", PW, ["viewer"])
    db.dispose()
    for _ in range(6):
        r = login(site, username="throttled_web", password="guess")
    assert r.status_code == 429, r.text
    assert r.json()["code"] == "login_throttled" and int(r.headers["retry-after"]) > 0


@pytest.mark.browser
def test_login_screen_asks_for_the_code_and_signs_in(browser, site, totp_user):
    import pyotp

    user, secret = totp_user
    page = browser.new_page()
    errors = ConsoleErrors(page)
    errors.expect(401)
    try:
        page.goto(site.ronda.base + "/")
        assert not page.get_by_test_id("login-totp").is_visible()
        page.get_by_test_id("login-username").fill(user)
        page.get_by_test_id("login-password").fill(PW)
        page.get_by_test_id("login-submit").click()
        page.wait_for_selector("[role=alert]:has-text('invalid username or password')")
        page.get_by_test_id("login-totp").wait_for(state="visible")
        # the next step's code (the one of enrolment cannot be used twice)
        page.get_by_test_id("login-totp").fill(pyotp.TOTP(secret).at(time.time() + 30))
        page.get_by_test_id("login-submit").click()
        page.wait_for_selector("[data-testid=nav-live]")
        assert not errors.errors, errors.errors
    finally:
        page.close()
