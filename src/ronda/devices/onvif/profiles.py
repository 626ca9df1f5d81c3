"""Choosing which media profiles of a camera added by ONVIF feed its main and sub streams.

When a camera is added, main is the highest-resolution profile and sub the next one
(``probe.choose_streams``); an administrator may choose others. The chosen tokens are stored in the
camera's ``onvif_info["profiles"]`` and a reconnect (``camera.refresh_camera_streams``) keeps them.
"""

from __future__ import annotations

from typing import Any

from ronda.devices.onvif.camera import OnvifCamera
from ronda.devices.onvif.probe import chosen_streams, list_profiles, stream_uri
from ronda.errors import Invalid


async def device_profiles(camera: OnvifCamera, timeout_s: float = 8.0) -> list[dict[str, Any]]:
    """The device's media profiles now, each with whether it feeds the camera's main or sub stream
    (by the stored tokens; by resolution when the device no longer has the stored main profile)."""
    async with camera.device(timeout_s) as dev:
        profiles = await list_profiles(dev)
    main, sub = chosen_streams(profiles, camera.info.get("profiles"))
    return [
        {"token": p.token, "name": p.name, "codec": p.codec, "width": p.width, "height": p.height, "fps": p.fps,
         "main": main is not None and p.token == main.token, "sub": sub is not None and p.token == sub.token}
        for p in profiles
    ]  # fmt: skip


async def profile_urls(
    camera: OnvifCamera, main: str, sub: str | None, timeout_s: float = 8.0
) -> tuple[str, str | None]:
    """The checked stream URLs of the profiles ``main`` and ``sub`` (None: no sub stream). ``Invalid``
    for a token the device does not have, or the same profile twice; ``DeviceError`` when the device
    fails or gives a URI Ronda does not use."""
    if sub is not None and sub == main:
        raise Invalid("main and sub must be different profiles (or sub none)")
    async with camera.device(timeout_s) as dev:
        tokens = {p.token for p in await list_profiles(dev)}
        for kind, token in (("main", main), ("sub", sub)):
            if token is not None and token not in tokens:
                raise Invalid(f"the device has no media profile {token[:64]!r} (for {kind}); "
                              f"its profiles are {', '.join(sorted(tokens)) or 'none'}")  # fmt: skip
        main_url = await stream_uri(dev, main)
        sub_url = await stream_uri(dev, sub) if sub is not None else None
    return main_url, sub_url
