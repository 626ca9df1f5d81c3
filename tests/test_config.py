import subprocess
import sys

import pytest

from ronda.config import ConfigError, load_config


def test_defaults_are_valid(tmp_path):
    cfg = load_config(None, overrides={"data_dir": str(tmp_path)}, environ={})
    assert cfg.database_url == f"sqlite:///{tmp_path / 'ronda.db'}"
    assert cfg.recording.segment_seconds <= 10


def test_unknown_key_is_named_with_its_path(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("storage:\n  max_byte: 100\n")
    with pytest.raises(ConfigError) as e:
        load_config(f, environ={})
    assert "storage.max_byte" in str(e.value)
    assert "unknown key" in str(e.value)


def test_bad_value_is_named(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("http:\n  port: 99999\ncameras:\n  - name: x\n    main: {url: rtsp://a/b}\n    retention_days: -1\n")
    with pytest.raises(ConfigError) as e:
        load_config(f, environ={})
    msg = str(e.value)
    assert "http.port" in msg and "cameras.0.retention_days" in msg


def test_malformed_yaml_gives_line(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("http:\n  port: [1,\n")
    with pytest.raises(ConfigError) as e:
        load_config(f, environ={})
    assert "not valid YAML" in str(e.value) and "line" in str(e.value)


def test_env_overrides(tmp_path):
    cfg = load_config(
        None,
        overrides={"data_dir": str(tmp_path)},
        environ={"RONDA__STORAGE__MAX_BYTES": "12345", "RONDA__HTTP__PORT": "9000"},
    )
    assert cfg.storage.max_bytes == 12345 and cfg.http.port == 9000


def test_env_override_validated(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(None, overrides={"data_dir": str(tmp_path)}, environ={"RONDA__HTTP__PORT": "abc"})
    assert "http.port" in str(e.value)


def test_cli_reports_bad_config_without_traceback(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("recording:\n  segment_secnds: 4\n")
    r = subprocess.run(
        [sys.executable, "-m", "ronda.cli", "serve", "--config", str(f)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    assert "recording.segment_secnds" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "ronda-data").exists()


def test_cli_help_everywhere():
    for args in (["--help"], ["demo", "--help"], ["sim", "--help"], ["serve", "--help"], ["db", "upgrade", "--help"]):
        r = subprocess.run([sys.executable, "-m", "ronda.cli", *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, args
        assert "usage:" in r.stdout
