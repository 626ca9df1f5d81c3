"""``cameras[].analytics`` in the YAML: checked by the same model as the API (a typo fails loudly with its
key path), and imported like the other camera fields: it fills a camera's settings while it has none,
and never overwrites what the API stored since."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ronda.analytics import repository as repo
from ronda.config import ConfigError, load_config
from ronda.runtime import import_cameras, load_secrets
from ronda.store import repos
from ronda.store.db import Database

ZONE = {"name": "door", "kind": "include", "points": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}


def _config(tmp_path: Path, analytics: dict | None, name: str = "Piazza") -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    cam: dict = {"name": name, "main": {"url": "rtsp://127.0.0.1:1/x"}}
    if analytics is not None:
        cam["analytics"] = analytics
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "cameras": [cam]}))
    return f


@pytest.mark.parametrize(
    ("analytics", "where"),
    [
        ({"zones": [{**ZONE, "pionts": ZONE["points"]}]}, "cameras.0.analytics.zones.0.pionts"),
        ({"motoin": {"fps": 2}}, "cameras.0.analytics.motoin"),
        ({"zones": [{**ZONE, "points": [[0, 0], [1, 1]]}]}, "at least 3 points"),
        ({"detectors": ["faces"]}, "cameras.0.analytics.detectors.0"),
    ],
)
def test_a_bad_analytics_block_fails_with_its_key_path(tmp_path: Path, analytics: dict, where: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(_config(tmp_path, analytics), environ={})
    assert where in str(e.value)


def test_the_block_fills_settings_only_while_the_camera_has_none(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, {"detectors": ["motion", "objects"], "zones": [ZONE]}), environ={})
    db = Database(cfg.database_url)
    try:
        db.upgrade()
        secrets = load_secrets(cfg)
        import_cameras(db, secrets, cfg.cameras)
        with db.session() as s:
            (cam,) = repos.list_cameras(s)
            got = repo.get_settings(s, cam.id)
            assert got is not None and got.zones[0].name == "door" and got.detectors == ["motion", "objects"]
            repo.put_settings(s, cam.id, {"detectors": ["motion"]}, "admin", 1)  # the API changes it
        import_cameras(db, secrets, cfg.cameras)  # the next start
        with db.session() as s:
            assert repo.get_settings(s, cam.id) == repo.validate_settings({"detectors": ["motion"]})
        # A camera without a block keeps running the defaults (no row).
        plain = load_config(_config(tmp_path, None, name="Porta"), environ={})
        import_cameras(db, secrets, plain.cameras)
        with db.session() as s:
            porta = next(c for c in repos.list_cameras(s) if c.name == "Porta")
            assert repo.get_settings(s, porta.id) is None
    finally:
        db.dispose()
