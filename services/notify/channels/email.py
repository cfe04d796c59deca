"""Email over SMTP (smtp://user:password@host:port, or smtps:// for implicit TLS)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from services.notify.channels import Outgoing, PermanentDeliveryError, TransientDeliveryError

SMTP_TIMEOUT = 10.0


class EmailChannel:
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
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = outgoing.address
        message["Subject"] = outgoing.subject
        message["Date"] = formatdate(usegmt=True)
        # Stable per delivery: should a crash make us send twice, mail systems can spot the copy.
        message["Message-ID"] = f"<{outgoing.delivery_id}@concord.local>"
        message.set_content(outgoing.body)
        return message

    def send(self, outgoing: Outgoing) -> str:
        """Hand the message to the SMTP server; returns its answer for the delivery log."""
        smtp_class = smtplib.SMTP_SSL if self.implicit_tls else smtplib.SMTP
        try:
            with smtp_class(self.host, self.port, timeout=self.timeout) as smtp:
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(self.build(outgoing))
        except smtplib.SMTPRecipientsRefused as err:
            raise PermanentDeliveryError(f"recipient refused: {err.recipients}") from err
        except smtplib.SMTPResponseException as err:
            if 500 <= err.smtp_code < 600:
                raise PermanentDeliveryError(f"{err.smtp_code} {err.smtp_error!r}") from err
            raise TransientDeliveryError(f"{err.smtp_code} {err.smtp_error!r}") from err
        except (OSError, smtplib.SMTPException) as err:
            raise TransientDeliveryError(f"{type(err).__name__}: {err}") from err
        if refused:
            raise PermanentDeliveryError(f"recipient refused: {refused}")
        return "250 accepted"
