"""Where ``ronda demo`` puts its simulated cameras on the geographic map, so the demo's map is never
empty: the streets around the main square of Bevagna, a small town in Umbria. The places and
directions are illustrative (no real cameras are there)."""

from __future__ import annotations

from dataclasses import dataclass

from ronda.map import repository as repo
from ronda.map.validators import Position
from ronda.store.db import Database
from ronda.timeutil import now_ms


@dataclass(frozen=True, slots=True)
class Place:
    what: str
    lat: float
    lon: float
    direction: float  # degrees clockwise from north
    fov: float = 70
    range_m: float = 60


# Camera N of the demo takes PLACES[N - 1] (cycling when there are more cameras than places).
PLACES: tuple[Place, ...] = (
    Place("Piazza Silvestri, looking north over the square", 42.93262, 12.60861, 350, 90, 70),
    Place("Corso Matteotti, looking down the street", 42.93330, 12.60790, 135),
    Place("Porta Foligno, the town gate", 42.93155, 12.61010, 300, 60, 80),
    Place("Via Porta Guelfa, looking west", 42.93385, 12.60940, 250),
    Place("Largo Ruggero Bonghi, the car park", 42.93210, 12.60690, 45, 100, 50),
    Place("Via dell'Anfiteatro, along the old walls", 42.93440, 12.60700, 160),
    Place("Piazza Garibaldi, by the church", 42.93110, 12.60880, 20, 80, 60),
    Place("Via Santa Margherita, looking east", 42.93300, 12.61080, 90),
)


def place_demo_cameras(db: Database, numbered: dict[int, int]) -> int:
    """Place each demo camera (``{N: camera id}`` of "Camera N") that has no geographic position yet;
    one an administrator has moved keeps its place. Returns how many were placed."""
    placed = 0
    with db.session() as s:
        known = repo.positions(s)
        for n, camera_id in sorted(numbered.items()):
            current = known.get(camera_id)
            if n < 1 or (current is not None and current.lat is not None):
                continue
            p = PLACES[(n - 1) % len(PLACES)]
            position = Position(lat=p.lat, lon=p.lon, direction=p.direction, fov=p.fov, range_m=p.range_m)
            repo.upsert_position(s, camera_id, position, now_ms())
            placed += 1
    return placed
