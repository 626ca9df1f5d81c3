"""The operator client's frame in real headless Chromium: login, navigation by rights, session expiry,
language. Views have their own test modules."""

from __future__ import annotations

import pytest

from tests.browser import ConsoleErrors
from tests.helpers import PW

pytestmark = pytest.mark.browser


def login(page, base: str, username: str, password: str) -> None:
    page.goto(base + "/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def test_login_navigation_and_logout(browser, site, users):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = ConsoleErrors(page)
    errors.expect(401)  # the wrong password below
    try:
        login(page, site.ronda.base, "viewer_a", "wrong password")
        page.wait_for_selector("[role=alert]:has-text('invalid username or password')")
        login(page, site.ronda.base, "viewer_a", PW)
        page.wait_for_selector("[data-testid=nav-live]")
        # a viewer sees no admin entry
        assert page.locator("[data-testid=nav-admin]").count() == 0
        assert page.locator("[data-testid=nav-alarms]").count() == 1
        # the administrator does
        page.get_by_test_id("logout").click()
        page.wait_for_selector("[data-testid=login-username]")
        login(page, site.ronda.base, "admin", PW)
        page.wait_for_selector("[data-testid=nav-admin]")
        assert not errors.errors, errors.errors
    finally:
        page.close()


def test_expired_session_returns_to_login_with_a_message(browser, site, users):
    page = browser.new_page()
    try:
        login(page, site.ronda.base, "operator", PW)
        page.wait_for_selector("[data-testid=nav-live]")
        # the server forgets the session (as after a password change / revocation)
        page.evaluate("() => { const s = JSON.parse(sessionStorage.getItem('ronda.session'));"
                      " s.access_token = 'x.y.z'; s.refresh_token = 'revoked-refresh-token';"
                      " sessionStorage.setItem('ronda.session', JSON.stringify(s)); }")  # fmt: skip
        page.reload()
        page.wait_for_selector("[role=alert]:has-text('session has expired')")
    finally:
        page.close()


def test_italian(browser, site, users):
    page = browser.new_page()
    try:
        page.goto(site.ronda.base + "/")
        page.get_by_test_id("language").select_option("it")
        page.wait_for_selector("[data-testid=login-submit]:has-text('Accedi')")
        login(page, site.ronda.base, "operator", PW)
        page.wait_for_selector("[data-testid=nav-live]:has-text('Dal vivo')")
        page.evaluate("() => localStorage.removeItem('ronda.lang')")
    finally:
        page.close()
