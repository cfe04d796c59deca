"""WeChat Work (企业微信) group robot: a POST of a "markdown" (or "text") message to its webhook.

The robot answers HTTP 200 with `{"errcode": 0, "errmsg": "ok"}` on success. Non-zero codes:
throttling (45009) and server busy (-1) are worth retrying; anything else (an invalid or removed
robot key, 93000; bad content) is permanent.
"""

from __future__ import annotations

import json

from services.notify.channels import Outgoing, PermanentDeliveryError, TransientDeliveryError
from services.notify.channels.http import post
from services.notify.rendering import WECHAT_TEXT_BYTES, fit_bytes

RETRYABLE_ERRCODES = frozenset({-1, 45009, 45033})


class WeChatWorkChannel:
    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout

    def build(self, outgoing: Outgoing) -> dict:
        """Markdown when the template has it, else plain text (WeChat Work's byte limits applied)."""
        if outgoing.markdown:
            return {"msgtype": "markdown", "markdown": {"content": outgoing.markdown}}
        text = fit_bytes(f"{outgoing.subject}\n\n{outgoing.body}".strip(), WECHAT_TEXT_BYTES)
        return {"msgtype": "text", "text": {"content": text}}

    def send(self, outgoing: Outgoing) -> str:
        """Post to the robot at `outgoing.address`; returns its answer for the delivery log."""
        body = json.dumps(self.build(outgoing), ensure_ascii=False).encode("utf-8")
        status, text = post(
            outgoing.address, body, {"Content-Type": "application/json; charset=utf-8"}, self.timeout
        )
        try:
            answer = json.loads(text)
            errcode = int(answer.get("errcode", 0))
        except (ValueError, AttributeError, TypeError) as err:
            raise TransientDeliveryError(f"unreadable answer: {text[:200]}") from err
        if errcode == 0:
            return f"HTTP {status}: {text}"
        message = f"errcode {errcode}: {answer.get('errmsg', '')}"[:500]
        if errcode in RETRYABLE_ERRCODES:
            raise TransientDeliveryError(message)
        raise PermanentDeliveryError(message)
