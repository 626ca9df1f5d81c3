"""SOAP 1.2 for the simulated ONVIF devices: hardened request parsing, response envelopes and faults.

Requests are parsed with ``defusedxml`` (no DTD, no entities, no external references) after a size
check, so a hostile client cannot make the simulator read files or expand entities.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET  # noqa: S405  (only the types: parsing goes through defusedxml)
from xml.sax.saxutils import escape, quoteattr

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_BODY = 64 * 1024  # no ONVIF request the simulator understands is anywhere near this

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "tt": "http://www.onvif.org/ver10/schema",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "wstop": "http://docs.oasis-open.org/wsn/t-1",
    "tns1": "http://www.onvif.org/ver10/topics",
    "ter": "http://www.onvif.org/ver10/error",
}
_DECLS = " ".join(f'xmlns:{p}="{u}"' for p, u in NS.items())

__all__ = ["MAX_BODY", "NS", "Request", "SoapFault", "attr", "envelope", "escape", "fault", "parse", "q", "xsd_time"]


class SoapFault(Exception):
    """Answered as a SOAP fault: ``code`` env:Sender/env:Receiver, ``subcode`` e.g. ter:NotAuthorized."""

    def __init__(self, subcode: str, reason: str, code: str = "env:Sender", status: int = 400) -> None:
        super().__init__(reason)
        self.code, self.subcode, self.reason, self.status = code, subcode, reason, status


def q(prefix: str, local: str) -> str:
    """ElementTree's ``{uri}local`` name."""
    return f"{{{NS[prefix]}}}{local}"


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class Request:
    """A parsed SOAP request: its header, its operation element and the operation's local name."""

    def __init__(self, root: ET.Element) -> None:
        if root.tag != q("env", "Envelope"):
            raise SoapFault("ter:WellFormed", "not a SOAP 1.2 envelope")
        self.header = root.find(q("env", "Header"))
        body = root.find(q("env", "Body"))
        if body is None or len(body) == 0:
            raise SoapFault("ter:WellFormed", "the SOAP body is empty")
        self.op = body[0]
        self.action = local(self.op.tag)

    def find(self, path: str) -> ET.Element | None:
        """First descendant of the operation whose local names follow ``path`` (``a/b``), any namespace."""
        nodes = [self.op]
        for name in path.split("/"):
            nodes = [c for n in nodes for c in n if local(c.tag) == name]
            if not nodes:
                return None
        return nodes[0]

    def text(self, path: str, default: str | None = None) -> str | None:
        el = self.find(path)
        return default if el is None or el.text is None else el.text.strip()


def parse(body: bytes) -> Request:
    if len(body) > MAX_BODY:
        raise SoapFault("ter:WellFormed", f"request larger than {MAX_BODY} bytes", status=413)
    try:
        root = fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise SoapFault("ter:WellFormed", "DTDs and entities are not accepted") from None
    except ET.ParseError as exc:
        raise SoapFault("ter:WellFormed", f"malformed XML: {exc}") from None
    return Request(root)


def envelope(body: str, header: str = "") -> bytes:
    head = f"<env:Header>{header}</env:Header>" if header else ""
    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope {_DECLS}>{head}<env:Body>{body}</env:Body>'
    return (xml + "</env:Envelope>").encode()


def fault(exc: SoapFault) -> bytes:
    body = (
        f"<env:Fault><env:Code><env:Value>{exc.code}</env:Value><env:Subcode><env:Value>{exc.subcode}"
        f'</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">{escape(exc.reason)}'
        "</env:Text></env:Reason></env:Fault>"
    )
    return envelope(body)


def attr(value: object) -> str:
    return quoteattr(str(value))


def xsd_time(t: float) -> str:
    """``t`` (Unix seconds) as an xsd:dateTime in UTC."""
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_duration(text: str | None, default: float) -> float:
    """An xsd:duration such as ``PT1M30S`` or ``PT0.5S`` in seconds (days/hours/minutes/seconds only)."""
    if not text:
        return default
    s = text.strip().upper()
    if not s.startswith("P"):
        raise SoapFault("ter:InvalidArgVal", f"not a duration: {text!r}")
    total, number, in_time = 0.0, "", False
    units = {"D": 86400.0, "H": 3600.0, "S": 1.0}
    for ch in s[1:]:
        if ch == "T":
            in_time = True
        elif ch.isdigit() or ch == ".":
            number += ch
        elif ch in units or ch == "M":
            factor = (60.0 if in_time else 30 * 86400.0) if ch == "M" else units[ch]
            try:
                total += float(number) * factor
            except ValueError:
                raise SoapFault("ter:InvalidArgVal", f"not a duration: {text!r}") from None
            number = ""
        else:
            raise SoapFault("ter:InvalidArgVal", f"not a duration: {text!r}")
    return total
