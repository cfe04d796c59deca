"""A POST with a hard timeout and the same classification of failures for every HTTP provider."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping

from services.notify.channels import PermanentDeliveryError, TransientDeliveryError

# Answers that mean "later": timeouts, throttling, and every server-side error.
RETRYABLE_STATUS = frozenset({408, 425, 429})
RESPONSE_LIMIT = 500  # characters of a provider's answer kept in the delivery log


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, str]:
    """POST `body`; return (status, text) for a 2xx answer, raise a delivery error otherwise."""
    if not url.startswith(("http://", "https://")):
        raise PermanentDeliveryError("not an http(s) URL")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310 (scheme checked)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            return response.status, response.read(64 * 1024).decode("utf-8", "replace")[:RESPONSE_LIMIT]
    except urllib.error.HTTPError as err:
        text = err.read(4096).decode("utf-8", "replace")[:RESPONSE_LIMIT]
        message = f"HTTP {err.code}: {text}"
        if err.code >= 500 or err.code in RETRYABLE_STATUS:
            raise TransientDeliveryError(message) from err
        raise PermanentDeliveryError(message) from err
    except TimeoutError as err:
        raise TransientDeliveryError(f"timed out after {timeout}s") from err
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise TransientDeliveryError(f"timed out after {timeout}s") from err
        raise TransientDeliveryError(f"unreachable: {err.reason}") from err
    except OSError as err:  # connection reset mid-answer and the like
        raise TransientDeliveryError(f"{type(err).__name__}: {err}") from err
