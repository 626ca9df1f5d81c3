"""The site map: a plan (PNG/JPEG image or GeoJSON) uploaded by a site administrator and the cameras'
positions on it.

- ``validators``: pure checks of a plan file and of a position (no I/O), fuzzed in ``tests/map``;
- ``repository``: the plan's description (one ``system_state`` value) and the ``map_positions`` table;
- ``service``: what the API does with them (store a checked plan and its file, place a camera, audit);
- ``errors``: what can go wrong, in the map's own words; ``api/routes/map.py`` turns them into HTTP.
"""
