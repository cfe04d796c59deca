"""Real local HTTP servers standing in for the SMS gateway, the WeChat Work robot and a webhook
receiver. Each can be told to be down, to hang, or to answer errors before it answers 200."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devtools.secantus import free_port
from services.notify.channels.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int  # the status it was answered with (0 when the client had gone)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeProvider:
    """POST endpoint. `script` holds what to do with the next requests, in order:
    an int answers that status, ("sleep", seconds) hangs that long before answering 200,
    ("json", {...}) answers 200 with that body. When the script is empty: 200 `ok_body`."""

    ok_body: dict[str, Any] = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})
    secret: str | None = None  # when set, requests are checked as signed webhooks
    script: list[Any] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/send?key=test-robot-key"

    def start(self) -> FakeProvider:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with fake.lock:
                    action = fake.script.pop(0) if fake.script else None
                status, answer = 200, fake.ok_body
                if isinstance(action, tuple) and action[0] == "sleep":
                    time.sleep(action[1])
                elif isinstance(action, tuple) and action[0] == "json":
                    answer = action[1]
                elif isinstance(action, int):
                    status, answer = action, {"error": f"scripted {action}"}
                if fake.secret is not None and status == 200:
                    ok = verify_signature(
                        fake.secret,
                        self.headers.get(SIGNATURE_HEADER, ""),
                        self.headers.get(TIMESTAMP_HEADER, ""),
                        body,
                    )
                    if not ok:
                        status, answer = 401, {"error": "bad signature"}
                payload = json.dumps(answer).encode()
                answered = status
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client timed out and left
                    answered = 0
                with fake.lock:
                    fake.received.append(Received(self.path, dict(self.headers.items()), body, answered))

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def accepted(self) -> list[Received]:
        """Requests answered 200 (the message was taken)."""
        with self.lock:
            return [r for r in self.received if r.answered == 200]

    def accepted_deliveries(self) -> dict[str, Received]:
        """What a receiver that drops repeats by delivery id keeps."""
        kept: dict[str, Received] = {}
        for r in self.received:
            if r.answered in (200, 0):  # a timed-out request may still have been processed
                kept.setdefault(r.headers.get(DELIVERY_HEADER) or r.headers.get("Idempotency-Key", ""), r)
        return kept


@contextlib.contextmanager
def providers(**fakes: FakeProvider):
    started = {name: fake.start() for name, fake in fakes.items()}
    try:
        yield started
    finally:
        for fake in started.values():
            fake.stop()
