"""A real SMTP server (aiosmtpd) that keeps every message it accepts: for tests and local runs.

`python -m devtools.smtp_sink --port 8025 --maildir var/mail` stores each message as an .eml file.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope


class CapturingHandler:
    """Accepts every message; can be told to answer 4xx/5xx to simulate a failing provider."""

    def __init__(self, maildir: Path | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.maildir = maildir
        self.fail_next: list[str] = []  # SMTP answers to give instead of accepting, in order
        # Fault injection, each run once then cleared: `before_accept` when a message's data has
        # arrived and it is neither kept nor answered yet (the client then gets 451 instead of
        # 250); `after_accept` once the message is kept, just before the 250 goes out.
        self.before_accept: Callable[[], None] | None = None
        self.after_accept: Callable[[], None] | None = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd)
        with self.lock:
            if self.fail_next:
                return self.fail_next.pop(0)
            before, self.before_accept = self.before_accept, None
        if before is not None:
            before()
            return "451 4.3.0 Interrupted before acceptance"
        with self.lock:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.messages.append(message)
            if self.maildir is not None:
                self.maildir.mkdir(parents=True, exist_ok=True)
                name = f"{time.time():.6f}.eml"
                (self.maildir / name).write_bytes(envelope.content)
            after, self.after_accept = self.after_accept, None
        if after is not None:
            after()
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]


def start_sink(port: int, maildir: Path | None = None) -> tuple[Controller, CapturingHandler]:
    handler = CapturingHandler(maildir)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--maildir", type=Path, default=Path("var/mail"))
    args = parser.parse_args()
    controller, _ = start_sink(args.port, args.maildir)
    print(f"SMTP sink on 127.0.0.1:{args.port}, mail kept in {args.maildir}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
