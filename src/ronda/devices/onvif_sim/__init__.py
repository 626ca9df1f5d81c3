"""ONVIF devices for the camera simulator (hand-written server side: device, media, PTZ and events
services over SOAP 1.2, WS-Discovery). One module per service; :mod:`.server` ties them to HTTP.
See docs/simulator.md."""
