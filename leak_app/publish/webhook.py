"""Posting an alert to a chat webhook (Slack, Teams, or anything that takes JSON), within a
deadline, without leaking the webhook's secret.

A webhook URL is a password: Slack's and Teams' carry their secret in the path, others in
the query or the user part. Only :func:`redact`'s form of it ever reaches a message.
The standard library's HTTP client is enough for one JSON POST; a thread bounds the
whole attempt, since a socket timeout alone does not stop a server that answers a byte
at a time.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urljoin, urlsplit

from ..analysis.text import counted, printable

#: Seconds one attempt may take in all, attempts made, and the first wait between them (doubled each time).
TIMEOUT, ATTEMPTS, BACKOFF = 10.0, 4, 1.0
#: Longest wait a server's Retry-After may ask for.
MOST_WAIT = 30.0


class WebhookError(Exception):
    """The message could not be delivered; the text names the webhook only as :func:`redact` does."""


def redact(url: str) -> str:
    """The URL as logs may show it: scheme, host and port; path, query and user hidden."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    hidden = "/…" if (parts.path.strip("/") or parts.query) else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{hidden}"


def slack_escape(text: str) -> str:
    """Text from the data shown literally by Slack (``<!channel>`` in a source name pings nobody), on
    its line of the message (:func:`.text.printable`)."""
    return printable(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def post(url: str, message: dict, timeout: float = TIMEOUT, attempts: int = ATTEMPTS,
         backoff: float = BACKOFF, log=None) -> int:
    """POST ``message`` as JSON; retry on 5xx, 429, timeouts and refused connections with
    doubling waits; return the attempts made. Raises WebhookError (4xx other than 429 at
    once). ``log``: called with a line per failed attempt."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise WebhookError(f"{redact(url)}: a webhook must be an http:// or https:// URL")
    body = json.dumps(message, ensure_ascii=False, allow_nan=False).encode("utf-8")
    wait, attempt = backoff, 0
    while True:
        attempt += 1
        status, reason, retry_after = _attempt(url, body, timeout)
        if status is not None and 200 <= status < 300:
            return attempt
        retryable = status is None or status == 429 or status >= 500
        problem = f"{redact(url)}: {reason}"
        if not retryable or attempt == attempts:
            raise WebhookError(f"{problem}; gave up after {counted(attempt, 'attempt')}")
        if log:
            log(f"{problem}; trying again in {max(wait, retry_after or 0):.0f} s")
        time.sleep(min(max(wait, retry_after or 0), MOST_WAIT))
        wait *= 2


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect answered as what it is. urllib follows a 301, 302 or 303 with a GET that drops the
    message, and the GET's 200 then read as the alert posted (an http:// URL moved to https://)."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _attempt(url: str, body: bytes, timeout: float) -> tuple[int | None, str, float | None]:
    """(HTTP status or None, what happened, seconds asked to wait) of one POST, within ``timeout``."""
    outcome = []

    def send():
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                response.read()
                outcome.append((response.status, f"HTTP {response.status}", None))
        except urllib.error.HTTPError as exc:
            wait = _seconds(exc.headers.get("Retry-After"))
            said = f"HTTP {exc.code} {exc.reason}"
            moved = exc.headers.get("Location") if 300 <= exc.code < 400 else None
            if moved:
                said += (f", a redirect to {redact(urljoin(url, moved))}: give the webhook's address as it "
                         "is now")
            outcome.append((exc.code, said, wait))
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            # the socket's own timeout may fire just before the deadline below: the same answer
            outcome.append((None, f"no answer within {timeout:g} s" if isinstance(reason, TimeoutError)
                            else f"no answer ({type(reason).__name__})", None))

    worker = threading.Thread(target=send, daemon=True)  # abandoned if it outlives the deadline
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else (None, f"no answer within {timeout:g} s", None)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the doubling wait will do
