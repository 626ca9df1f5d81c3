"""The simulator refuses to start when a GStreamer element of one of its mounts is not installed.

The missing package is reproduced for real: the simulator runs with a GStreamer plugin directory that
holds every installed plugin but the one providing ``textoverlay`` (``gstreamer1.0-x`` on Debian), and
with its own plugin registry, exactly as on a machine without that package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.skipif(shutil.which("gst-inspect-1.0") is None, reason="needs gstreamer1.0-tools")


def plugin_file(element: str) -> Path:
    """The plugin library that provides ``element`` on this machine."""
    res = subprocess.run(["gst-inspect-1.0", element], capture_output=True, text=True, timeout=60, check=False)
    for line in res.stdout.splitlines():
        if line.strip().startswith("Filename"):
            return Path(line.split(None, 1)[1].strip()).resolve()
    pytest.skip(f"GStreamer element {element} is not installed here: nothing to hide")


def without_plugin(tmp_path: Path, plugin: Path) -> dict[str, str]:
    """An environment whose GStreamer sees every installed plugin but ``plugin``."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    for lib in plugin.parent.glob("*.so"):
        if lib.resolve() != plugin:
            (plugins / lib.name).symlink_to(lib)
    env = dict(os.environ)
    env.pop("GST_PLUGIN_PATH", None)
    env.pop("GST_PLUGIN_PATH_1_0", None)
    env["GST_PLUGIN_SYSTEM_PATH_1_0"] = str(plugins)
    env["GST_REGISTRY_1_0"] = str(tmp_path / "registry.bin")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_refuses_to_start_naming_the_missing_element(tmp_path):
    env = without_plugin(tmp_path, plugin_file("textoverlay"))
    cmd = [sys.executable, "-m", "ronda.devices.simulator", "--cameras", "1", "--rtsp-port", str(free_port())]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the simulator started without textoverlay (it served until killed): {out[-500:]}")
    assert proc.returncode != 0, out + err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "textoverlay" in lines[0] and "/clock" in lines[0] and "gstreamer1.0-x" in lines[0], lines[0]
    assert "cameras on rtsp://" not in out


def test_demo_refuses_to_start_naming_the_missing_element(tmp_path):
    env = without_plugin(tmp_path, plugin_file("textoverlay"))
    cmd = [sys.executable, "-m", "ronda.cli", "demo", "--cameras", "1", "--data-dir", str(tmp_path / "data"),
           "--http-port", str(free_port())]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the demo started without textoverlay: {out[-500:]}")
    assert proc.returncode != 0, out + err
    assert "Traceback" not in err, err
    assert "textoverlay" in err and "gstreamer1.0-x" in err, err


def test_refuses_to_start_without_the_domes_videoscale(tmp_path):
    """Camera 1 is a PTZ dome by default: its pipeline scales its view with videoscale."""
    env = without_plugin(tmp_path, plugin_file("videoscale"))
    cmd = [sys.executable, "-m", "ronda.devices.simulator", "--cameras", "1", "--rtsp-port", str(free_port())]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the simulator started without videoscale (it served until killed): {out[-500:]}")
    assert proc.returncode != 0, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "videoscale" in lines[0] and "/cam1" in lines[0] and "gstreamer1.0-plugins-base" in lines[0], lines[0]
