"""The printable case report (docs/cases.md): HTML to print from the browser, and PDF (fpdf2). Both list
every evidence package with its SHA-256 and the key that signed it, the site's key fingerprint, and how an
appeal checks the footage: ``ronda verify FILE --pubkey site.pem`` and the package's own SHA-256.

Everything shown comes from the case's detail (``service.detail``); every text is escaped (HTML) or
written as plain text (PDF): case fields are typed by users.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import XPos, YPos

STATUS_TEXT = {"draft": "Draft", "under_review": "Under review", "fine_issued": "Fine issued",
               "dismissed": "Dismissed", "closed": "Closed"}  # fmt: skip
VERIFY = "ronda verify FILE.zip --pubkey site_public_key.pem"
# The report's own policy: no scripts, its stylesheet from the site, pictures inline.
CSP = "default-src 'none'; style-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"


@dataclass
class ReportInput:
    case: Mapping[str, Any]  # service.detail
    site: str
    timezone: str
    site_fingerprint: str  # the site's evidence signing key now
    camera_names: Mapping[int, str]
    printed_by: str
    printed_ms: int
    snapshots: Sequence[tuple[str, bytes]] = field(default_factory=list)  # (caption, JPEG)


def _when(iso: str | None, tz: str) -> str:
    if not iso:
        return "-"
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    local = dt.astimezone(ZoneInfo(tz))
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()} ({dt.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC)"


def _camera(r: ReportInput, cid: int) -> str:
    return f"{r.camera_names.get(cid, '?')} (camera {cid})"


def facts(r: ReportInput) -> list[tuple[str, str]]:
    c = r.case
    pos = c.get("position") or {}
    place = _camera(r, c["camera"])
    if pos.get("lat") is not None and pos.get("lon") is not None:
        place += f", {pos['lat']:.6f} N {pos['lon']:.6f} E"
    elif pos.get("x") is not None and pos.get("y") is not None:
        place += f", site plan {pos['x']:.3f} / {pos['y']:.3f}"
    tz = r.timezone
    fine = f"{c['fine_amount']} {c['currency']}" if c.get("fine_amount") is not None else "-"
    return [
        ("Case number", c["number"]),
        ("Type", c["type"]),
        ("Status", STATUS_TEXT.get(c["status"], c["status"])),
        ("Title", c["title"]),
        ("Place", place),
        ("Cameras", ", ".join(_camera(r, i) for i in c["cameras"])),
        ("Time of the offence", _when(c["offence_time"], r.timezone)),
        ("Footage of the case", f"{_when(c['window']['start'], tz)} to {_when(c['window']['end'], tz)}"),
        ("Licence plate", c.get("plate") or "-"),
        ("Offender", c.get("offender") or "-"),
        ("Fine reference", c.get("fine_reference") or "-"),
        ("Fine amount", fine),
        ("Opened", f"{_when(c['created'], r.timezone)} by {c['created_by']}"),
        ("Last change", f"{_when(c['updated'], r.timezone)} by {c['updated_by']}"),
    ]


# How the server's copy of a package compares with the hash recorded when it was made (service.file_state).
FILE_TEXT = {
    "intact": "The package on the server is the file whose SHA-256 is listed.",
    "changed": "WARNING: the package file on the server has changed since it was signed; its SHA-256 no "
               "longer matches the one listed, which is the package as it was made. Do not use that file.",
    "gone": "The package is no longer on the server (it expired); a copy must have the SHA-256 listed.",
}  # fmt: skip


def file_text(e: Mapping[str, Any]) -> str | None:
    return FILE_TEXT.get(str(e.get("file")))


def how_to_verify(r: ReportInput) -> list[str]:
    return [
        "Each package is signed with the site's evidence key. To check the footage of a package:",
        "1. Its SHA-256 (sha256sum FILE.zip) must equal the one listed here.",
        f'2. {VERIFY} must answer "valid" with the site\'s key fingerprint {r.site_fingerprint}',
        "   (site_public_key.pem is the site's published key: `ronda keys public`).",
        "A package changed in any way, or signed by another key, is reported INVALID.",
    ]


# --- HTML ---------------------------------------------------------------------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def render_html(r: ReportInput) -> str:
    c = r.case
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts(r))
    packages = []
    for e in c["evidence"]:
        files = "".join(f"<li><code>{_e(f['name'])}</code> <code class=\"hash\">{_e(f['sha256'])}</code></li>"
                        for f in e["files"])  # fmt: skip
        state = (
            ""
            if e["status"] == "done"
            else f" <strong>({_e(e['status'])}{': ' + _e(e['error']) if e['error'] else ''})</strong>"
        )
        said = file_text(e)
        packages.append(
            f"<section class=\"package file-{_e(e.get('file', 'none'))}\" data-testid=\"report-package\" "
            f"data-sha256=\"{_e(e['sha256'] or '')}\" data-file=\"{_e(e.get('file', 'none'))}\">"
            f"<h3>{_e(e['name'])}{state}</h3><dl>"
            f"<dt>Export</dt><dd><code>{_e(e['export_id'])}</code></dd>"
            f"<dt>Cameras</dt><dd>{_e(', '.join(_camera(r, i) for i in e['cameras']))}</dd>"
            f"<dt>Footage</dt><dd>{_e(_when(e['start'], r.timezone))} to {_e(_when(e['end'], r.timezone))}</dd>"
            "<dt>SHA-256 of the package</dt>"
            f"<dd><code class=\"hash\" data-testid=\"report-sha256\">{_e(e['sha256'] or '-')}</code></dd>"
            f"<dt>Signed by</dt><dd><code>{_e(e['key_fingerprint'] or '-')}</code></dd>"
            f"<dt>Bytes</dt><dd>{_e(e['bytes'] if e['bytes'] is not None else '-')}</dd></dl>"
            + (f"<p class=\"file-state\" data-testid=\"report-file\">{_e(said)}</p>" if said else "") +
            f"<details open><summary>Files in the package (SHA-256)</summary><ul>{files}</ul></details></section>"
        )  # fmt: skip
    notes = "".join(f"<li><time>{_e(_when(n['time'], r.timezone))}</time> <strong>{_e(n['author'])}</strong>"
                    f"<p>{_e(n['text'])}</p></li>" for n in c["notes"])  # fmt: skip
    links = "".join(f"<li>{_e(k['kind'])} {_e(k['id'])}: {_e(k['label'])} ({_e(_when(k['time'], r.timezone))})</li>"
                    for k in c["links"])  # fmt: skip
    pictures = "".join(
        f"<figure><img alt=\"{_e(cap)}\" src=\"data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}\">"
        f"<figcaption>{_e(cap)}</figcaption></figure>" for cap, jpeg in r.snapshots
    )  # fmt: skip
    steps = "".join(f"<li>{_e(line)}</li>" for line in how_to_verify(r))
    printed = _when(datetime.fromtimestamp(r.printed_ms / 1000, tz=UTC).isoformat(), r.timezone)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<title>Case {_e(c["number"])}</title><link rel="stylesheet" href="/css/case-report.css"></head>'
        f'<body class="case-report"><header><p class="site">{_e(r.site)}</p>'
        f"<h1>Case {_e(c['number'])}: {_e(c['title'])}</h1>"
        f"<p>Printed {_e(printed)} by {_e(r.printed_by)}. Site evidence key: "
        f'<code data-testid="report-fingerprint">{_e(r.site_fingerprint)}</code></p></header>'
        f'<table class="facts">{rows}</table>'
        f"<h2>Evidence packages</h2>{''.join(packages) or '<p>None attached.</p>'}"
        f'<h2>How to check the evidence</h2><ul class="verify" data-testid="report-verify">{steps}</ul>'
        f"<h2>Pictures</h2>{pictures or '<p>None.</p>'}"
        f"<h2>Made from</h2><ul>{links}</ul>"
        f'<h2>Notes</h2><ol class="notes">{notes or "<li>None.</li>"}</ol>'
        "</body></html>"
    )


# --- PDF ----------------------------------------------------------------------------------------------------
def _latin1(text: Any) -> str:
    """The PDF's core fonts hold Latin-1 (Italian included); anything else becomes '?'."""
    return str(text).replace("\u2192", "->").replace("\u2013", "-").encode("latin-1", "replace").decode("latin-1")


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, _latin1(f"{self.footer_text} - page {self.page_no()}/{{nb}}"), align="C")


def render_pdf(r: ReportInput) -> bytes:
    c = r.case
    pdf = _Pdf(f"Case {c['number']}")
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_page()
    w = pdf.epw

    def line(text: str, size: float = 10, style: str = "", font: str = "Helvetica", h: float = 5) -> None:
        pdf.set_font(font, style=style, size=size)
        pdf.multi_cell(w, h, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(text: str) -> None:
        pdf.ln(3)
        line(text, 13, "B", h=7)

    line(r.site, 9)
    line(f"Case {c['number']}: {c['title']}", 16, "B", h=8)
    printed = _when(datetime.fromtimestamp(r.printed_ms / 1000, tz=UTC).isoformat(), r.timezone)
    line(f"Printed {printed} by {r.printed_by}", 9)
    line(f"Site evidence key: {r.site_fingerprint}", 9, font="Courier")
    heading("The case")
    for k, v in facts(r):
        pdf.set_font("Helvetica", style="B", size=10)
        pdf.cell(45, 5, _latin1(k))
        pdf.set_font("Helvetica", size=10)
        pdf.multi_cell(w - 45, 5, _latin1(v), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    heading("Evidence packages")
    if not c["evidence"]:
        line("None attached.")
    for e in c["evidence"]:
        line(f"{e['name']}  ({e['status']}{': ' + e['error'] if e['error'] else ''})", 11, "B", h=6)
        line(f"Export {e['export_id']}; cameras {', '.join(_camera(r, i) for i in e['cameras'])}")
        line(f"Footage {_when(e['start'], r.timezone)} to {_when(e['end'], r.timezone)}")
        line("SHA-256 of the package:", 10, "B")
        line(e["sha256"] or "-", 9, font="Courier")
        line(f"Signed by: {e['key_fingerprint'] or '-'}", 9, font="Courier")
        said = file_text(e)
        if said:
            line(said, 9, "B" if e.get("file") == "changed" else "")
        for f in e["files"]:
            line(f"  {f['name']}", 8, font="Courier", h=4)
            line(f"    {f['sha256']}", 8, font="Courier", h=4)
        pdf.ln(2)
    heading("How to check the evidence")
    for text in how_to_verify(r):
        line(text, 10, font="Courier" if text.startswith("2.") else "Helvetica")
    if r.snapshots:
        heading("Pictures")
        for cap, jpeg in r.snapshots:
            try:
                pdf.image(io.BytesIO(jpeg), w=min(w, 120))
            except Exception:  # a damaged picture must not cost the report
                line(f"(picture not readable: {cap})")
                continue
            line(cap, 8)
    heading("Made from")
    for k in c["links"]:
        line(f"{k['kind']} {k['id']}: {k['label']} ({_when(k['time'], r.timezone)})")
    heading("Notes")
    if not c["notes"]:
        line("None.")
    for n in c["notes"]:
        line(f"{_when(n['time'], r.timezone)}  {n['author']}", 9, "B")
        line(n["text"])
    return bytes(pdf.output())
