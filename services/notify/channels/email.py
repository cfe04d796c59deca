"""Email over SMTP (smtp://user:password@host:port, or smtps:// for implicit TLS)."""

from __future__ import annotations

import contextlib
import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from services.notify.channels import Outgoing, PermanentDeliveryError, TransientDeliveryError

SMTP_TIMEOUT = 10.0


class EmailChannel:
    """Plain text with an HTML alternative and attachments (e.g. a session's .ics), over SMTP."""

    def __init__(self, smtp_url: str, mail_from: str, timeout: float = SMTP_TIMEOUT) -> None:
        parts = urlsplit(smtp_url)
        if parts.scheme not in {"smtp", "smtps"}:
            raise ValueError(f"SMTP_URL must be smtp:// or smtps://, not {parts.scheme}://")
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.mail_from = mail_from
        self.timeout = timeout

    def build(self, outgoing: Outgoing) -> EmailMessage:
        """The MIME message: multipart/alternative (text, HTML), in multipart/mixed with files."""
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = outgoing.address
        message["Subject"] = outgoing.subject
        message["Date"] = formatdate(usegmt=True)
        # Stable per delivery: should a crash make us send twice, mail systems can spot the copy.
        message["Message-ID"] = f"<{outgoing.delivery_id}@concord.local>"
        message.set_content(outgoing.body)
        if outgoing.html:
            message.add_alternative(outgoing.html, subtype="html")
        for attachment in outgoing.attachments:
            maintype, _, rest = attachment.content_type.partition("/")
            subtype, *params = [part.strip() for part in rest.split(";")]
            message.add_attachment(
                attachment.data.encode("utf-8"),
                maintype=maintype,
                subtype=subtype,
                filename=attachment.filename,
                params=dict(p.split("=", 1) for p in params if "=" in p),
            )
        return message

    def send(self, outgoing: Outgoing) -> str:
        """Hand the message to the SMTP server; returns its answer for the delivery log."""
        smtp_class = smtplib.SMTP_SSL if self.implicit_tls else smtplib.SMTP
        try:
            smtp = smtp_class(self.host, self.port, timeout=self.timeout)
            try:
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(self.build(outgoing))
            finally:
                _hang_up(smtp)
        except smtplib.SMTPRecipientsRefused as err:
            # The refused address itself stays out of the log: the delivery already names it.
            codes = sorted({code for code, _ in err.recipients.values()})
            raise PermanentDeliveryError(f"recipient refused: {codes}") from err
        except smtplib.SMTPResponseException as err:
            if 500 <= err.smtp_code < 600:
                raise PermanentDeliveryError(f"{err.smtp_code} {err.smtp_error!r}") from err
            raise TransientDeliveryError(f"{err.smtp_code} {err.smtp_error!r}") from err
        except (OSError, smtplib.SMTPException) as err:
            raise TransientDeliveryError(f"{type(err).__name__}: {err}") from err
        if refused:
            raise PermanentDeliveryError("recipient refused")
        return "250 accepted"


def _hang_up(smtp: smtplib.SMTP) -> None:
    """Say QUIT without waiting for the server's goodbye, and close.

    Once the server answered 250 to DATA the message is its responsibility; waiting for the reply
    to QUIT (a round trip, longer on a slow provider) would only widen the window in which a
    crash, before the delivery is marked sent, makes the next worker send the message again.
    """
    with contextlib.suppress(OSError, smtplib.SMTPException):
        smtp.putcmd("quit")
    smtp.close()
