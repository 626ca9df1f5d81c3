"""``ronda.store.all_models`` names every model module, so Alembic's environment and the schema tests see
every table (env.py once missed the plate tables)."""

from pathlib import Path

from ronda.store import all_models


def test_every_model_module_is_registered() -> None:
    folder = Path(all_models.__file__).parent
    on_disk = {p.stem for p in folder.glob("*_models.py") if p.stem != "all_models"}
    assert {m.__name__.rsplit(".", 1)[1] for m in all_models.MODEL_MODULES} == on_disk
