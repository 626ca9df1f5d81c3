"""Ronda's ONVIF client, on ``onvif-zeep-async``: one module per concern.

- ``transport``  HTTP and XML limits: time, size, hardened parsing, HTTP Digest, host pinning
- ``client``     one device: clock offset, WS-UsernameToken digest, calls turned into ``DeviceError``
- ``probe``      identity, media profiles, stream and snapshot URIs, PTZ capability (``probe_device``)
- ``ptz``        ``OnvifPtz``, the ``devices.ptz.PtzDriver`` for ONVIF domes
- ``events``     the PullPoint subscriber and the mapping of ONVIF topics to Ronda event types
- ``discovery``  WS-Discovery, multicast and unicast
"""
