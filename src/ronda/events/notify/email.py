"""Email notifications over SMTP: a text and an HTML part, the snapshot inline, a link to the alarm.

Built with the standard library (``email`` + ``smtplib`` run in a worker thread) so mail needs no extra
dependency. The SMTP password is only ever handed to ``smtplib.SMTP.login``: it is kept out of ``repr``,
logs and results, and smtplib's debug output (which would echo the AUTH exchange) stays off.
"""

from __future__ import annotations

import asyncio
import html
import logging
import random
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urlsplit

from ronda.events.notify import DeliveryResult, Notification, absolute_url

log = logging.getLogger(__name__)

_LABEL = {"high": "HIGH", "medium": "Medium", "low": "Low"}
_COLOUR = {"high": "#c62828", "medium": "#ef6c00", "low": "#546e7a"}
_LINEBREAKS = re.compile(r"[\r\n\t]+")


@dataclass(slots=True)
class SmtpSettings:
    host: str
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "ronda@localhost"
    ssl: bool = False  # implicit TLS from the first byte (usually port 465) instead of STARTTLS
    timeout_s: float = 15.0
    ca_file: str | None = None  # extra CA bundle for a relay with a private certificate


def _one_line(text: str) -> str:
    # A newline in a header value would let an alarm title inject headers; the email package refuses it.
    return _LINEBREAKS.sub(" ", text).strip()


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip("<> ") or "localhost"


def build_message(sender: str, to: list[str], n: Notification, *, base_url: str | None = None) -> EmailMessage:
    """The message as it will be sent; separate from sending so it can be inspected and tested."""
    if not to:
        raise ValueError("no recipients")
    for addr in [sender, *to]:
        if _LINEBREAKS.search(addr) or "@" not in addr:
            raise ValueError(f"invalid email address: {addr!r}")
    link = absolute_url(base_url, n.url) if n.url else ""
    when = datetime.fromtimestamp(n.time_ms / 1000, UTC) if n.time_ms else datetime.now(UTC)
    domain = _domain(sender)

    msg = EmailMessage()
    msg["Subject"] = _one_line(f"[Ronda] {_LABEL.get(n.priority, n.priority)}: {n.title}")[:250]
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid("ronda", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders must not answer
    if n.alarm_id is not None:
        msg["X-Ronda-Alarm"] = str(n.alarm_id)
        # Every mail about one alarm refers to the same (never sent) root, so mail clients thread them.
        root = f"<alarm-{n.alarm_id}@{domain}>"
        msg["In-Reply-To"] = root
        msg["References"] = root

    cams = ", ".join(str(c) for c in n.camera_ids)
    lines = [n.title, "", n.body, ""]
    lines.append(f"Priority: {n.priority}")
    if n.category:
        lines.append(f"Category: {n.category}")
    if cams:
        lines.append(f"Cameras: {cams}")
    lines.append(f"Time: {when.isoformat(timespec='seconds')}")
    if link:
        lines += ["", f"Open the alarm: {link}"]
    if n.snapshot_url and urlsplit(n.snapshot_url).scheme in ("http", "https"):
        # A relative link means nothing in a mail client; the picture is attached inline anyway.
        lines.append(f"Snapshot: {n.snapshot_url}")
    msg.set_content("\n".join(lines) + "\n")

    cid = make_msgid("snapshot", domain=domain) if n.snapshot_jpeg else None
    e = html.escape
    rows = [f"<tr><td>Priority</td><td>{e(n.priority)}</td></tr>"]
    if n.category:
        rows.append(f"<tr><td>Category</td><td>{e(n.category)}</td></tr>")
    if cams:
        rows.append(f"<tr><td>Cameras</td><td>{e(cams)}</td></tr>")
    rows.append(f"<tr><td>Time</td><td>{e(when.isoformat(timespec='seconds'))}</td></tr>")
    parts = [
        '<!doctype html><html><body style="font-family:sans-serif">',
        f'<h2 style="color:{_COLOUR.get(n.priority, "#000")}">{e(n.title)}</h2>',
        f"<p>{e(n.body).replace(chr(10), '<br>')}</p>",
        f"<table>{''.join(rows)}</table>",
    ]
    if cid:
        parts.append(f'<p><img src="cid:{cid[1:-1]}" alt="snapshot" style="max-width:640px"></p>')
    if link:
        parts.append(f'<p><a href="{e(link, quote=True)}">Open the alarm</a></p>')
    parts.append("</body></html>")
    msg.add_alternative("".join(parts), subtype="html")
    html_part = msg.get_body(preferencelist=("html",))
    if cid and n.snapshot_jpeg and html_part is not None:
        # Turns the HTML part into multipart/related, where "cid:" references resolve.
        html_part.add_related(n.snapshot_jpeg, "image", "jpeg", cid=cid, filename="snapshot.jpg")
    return msg


def _send_sync(smtp: SmtpSettings, to: list[str], msg: EmailMessage) -> dict[str, tuple[int, bytes]]:
    context = ssl.create_default_context(cafile=smtp.ca_file)
    client: smtplib.SMTP
    if smtp.ssl:
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
    with client:
        client.ehlo()
        if smtp.starttls and not smtp.ssl:
            client.starttls(context=context)
            client.ehlo()
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
        return client.send_message(msg, from_addr=smtp.sender, to_addrs=to)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "all recipients refused: " + ", ".join(f"{a} ({c})" for a, (c, _) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{type(exc).__name__}: {exc.smtp_code} {text}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


async def send_email(
    smtp: SmtpSettings,
    to: list[str],
    n: Notification,
    *,
    base_url: str | None = None,
    attempts: int = 3,
    backoff_s: float = 1.0,
) -> DeliveryResult:
    """Send ``n`` to ``to`` through the relay in ``smtp``. ``base_url`` (the web client's public URL)
    turns the alarm's deep link into an absolute link. Temporary failures (connection errors, 4xx) are
    retried; permanent ones (5xx, bad credentials) are not."""
    target = ", ".join(to)
    try:
        msg = build_message(smtp.sender, to, n, base_url=base_url)
    except ValueError as exc:
        return DeliveryResult("email", target, ok=False, attempts=0, error=str(exc))
    error: str | None = None
    code: int | None = None
    for attempt in range(1, attempts + 1):
        try:
            refused = await asyncio.to_thread(_send_sync, smtp, to, msg)
        except smtplib.SMTPResponseException as exc:
            code, error = exc.smtp_code, _describe(exc)
            if not 400 <= exc.smtp_code < 500:
                break
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPNotSupportedError, ssl.SSLError) as exc:
            # Refused addresses, no STARTTLS, a certificate that does not verify: waiting will not help.
            code, error = None, _describe(exc)
            break
        except (OSError, smtplib.SMTPException) as exc:
            code, error = None, _describe(exc)
        else:
            part = "refused: " + ", ".join(refused) if refused else None
            return DeliveryResult("email", target, ok=True, attempts=attempt, status=250, error=part)
        if attempt < attempts:
            delay = backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
            log.info(
                "email to %s via %s:%s failed (%s), retrying in %.1f s", target, smtp.host, smtp.port, error, delay
            )
            await asyncio.sleep(delay)
    log.warning("email to %s via %s:%s failed: %s", target, smtp.host, smtp.port, error)
    return DeliveryResult("email", target, ok=False, attempts=attempt, status=code, error=error)
