import pytest

from ronda.devices.urls import CameraUrlError, redact, url_with_credentials, validate_camera_url


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://10.0.0.5/stream1",
        "rtsp://cam.example.org:8554/cam1/sub",
        "rtsps://[::1]:322/x",
        "rtsp://127.0.0.1:554/Streaming/Channels/101?transportmode=unicast",
    ],
)
def test_accepts_camera_urls(url):
    assert validate_camera_url(url).startswith("rtsp")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "scheme"),
        ("concat:/a|/b", "scheme"),
        ("http://cam/video", "scheme"),
        ("rtsp://host/a;$(touch /tmp/pwned)", "spaces"),
        ("rtsp://host/a;$(touch${IFS}/tmp/pwned)", "not allowed"),
        ("rtsp://host/a`id`", "not allowed"),
        ("rtsp://host/a|b", "not allowed"),
        ("rtsp://host/a b", "spaces"),
        ("rtsp://bad host/", "spaces"),
        ("rtsp://", "no host"),
        ("rtsp://user:pw@host/x", "credentials"),
        ("rtsp://host:99999/x", "port"),
        ("rtsp://ho$t/x", "host"),
        ("", "empty"),
    ],
)
def test_refuses_bad_urls(url, why):
    with pytest.raises(CameraUrlError) as e:
        validate_camera_url(url)
    assert why in str(e.value)


def test_special_characters_in_credentials_survive():
    url = url_with_credentials("rtsp://127.0.0.1:8554/secure", "admin", "p@ss:w#rd%")
    assert url == "rtsp://admin:p%40ss%3Aw%23rd%25@127.0.0.1:8554/secure"


def test_redact_hides_passwords():
    text = "Could not open rtsp://admin:p%40ss%3Aw%23rd%25@127.0.0.1:8554/secure: 401"
    out = redact(text)
    assert "p%40ss" not in out and "rtsp://admin:***@127.0.0.1" in out
