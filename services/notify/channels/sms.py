"""SMS through a generic HTTP gateway: a POST to SMS_GATEWAY_URL with a body from a template.

The body template (SMS_GATEWAY_BODY, Jinja) sees `to`, `text` and `id` (the delivery id, which
gateways that deduplicate by a client reference can use to drop a repeat); the default is JSON
`{"to": ..., "text": ..., "client_ref": ...}`. SMS_GATEWAY_TOKEN, when set, is sent as a bearer
token. 2xx is success; 4xx a permanent refusal (bad number), except 408/425/429; 5xx, timeouts
and connection errors are retried.
"""

from __future__ import annotations

import json

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from services.notify.channels import Outgoing, PermanentDeliveryError
from services.notify.channels.http import post

DEFAULT_BODY = '{"to": {{ to|tojson }}, "text": {{ text|tojson }}, "client_ref": {{ id|tojson }}}'


class SmsChannel:
    def __init__(self, url: str, token: str = "", body_template: str = "", timeout: float = 5.0) -> None:
        self.url = url
        self.token = token
        # Sandboxed: the template comes from configuration and only fills in three strings.
        env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        self.template = env.from_string(body_template or DEFAULT_BODY)
        self.content_type = "application/json" if _is_json(body_template or DEFAULT_BODY) else "text/plain"
        self.timeout = timeout

    def build(self, outgoing: Outgoing) -> bytes:
        """The request body for one text message."""
        return self.template.render(to=outgoing.address, text=outgoing.body, id=outgoing.delivery_id).encode()

    def send(self, outgoing: Outgoing) -> str:
        """Hand the text to the gateway; returns its answer for the delivery log."""
        if not outgoing.address.lstrip("+").replace(" ", "").replace("-", "").isdigit():
            raise PermanentDeliveryError("not a phone number")
        headers = {
            "Content-Type": f"{self.content_type}; charset=utf-8",
            "Idempotency-Key": outgoing.delivery_id,
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        status, text = post(self.url, self.build(outgoing), headers, self.timeout)
        return f"HTTP {status}: {text}"


def _is_json(template: str) -> bool:
    rendered = SandboxedEnvironment().from_string(template).render(to="1", text="t", id="i")
    try:
        json.loads(rendered)
    except ValueError:
        return False
    return True
