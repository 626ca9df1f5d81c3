"""Every table of Ronda: importing this module imports each model module, so that their tables join
``Base.metadata`` (what Alembic's environment and the schema tests need). A new ``*_models.py`` module
is added here; ``tests/store/test_all_models.py`` fails until it is."""

from ronda.store import (
    access_models,
    analytics_models,
    case_models,
    cluster_models,
    event_models,
    federation_models,
    map_models,
    plate_models,
    ptz_models,
)
from ronda.store.models import Base

MODEL_MODULES = (
    access_models,
    analytics_models,
    case_models,
    cluster_models,
    event_models,
    federation_models,
    map_models,
    plate_models,
    ptz_models,
)
metadata = Base.metadata

__all__ = ["MODEL_MODULES", "Base", "metadata"]
