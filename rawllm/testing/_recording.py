"""What MockServer keeps of each request it saw (``MockServer.requests``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDictProxy

__all__ = ["RecordedRequest"]

# Headers that carry credentials: shown as "[REDACTED]" in a repr (a test log or a
# failing assertion must not print a key), readable as they are through ``.headers``.
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "proxy-authorization"})


@dataclass(slots=True, repr=False)
class RecordedRequest:
    """One request the server saw.

    Attributes:
        method: ``"POST"``, ``"GET"``.
        path: the URL path, e.g. ``"/v1/chat/completions"``.
        headers: the request headers (case-insensitive lookups).
        json: the decoded JSON body (``None`` for a GET or an undecodable body).
        time: arrival time, ``time.monotonic()`` seconds.
        body: the raw body bytes.
        query: the raw query string (``"api-version=2024-10-21"``), ``""`` when none.

    The repr hides credential headers (``Authorization``, ``x-api-key``,
    ``api-key``); ``request.headers["Authorization"]`` still returns the value.
    """

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    json: Any
    time: float
    body: bytes = field(repr=False, default=b"")
    query: str = ""

    def __repr__(self) -> str:
        headers = {
            k: ("[REDACTED]" if k.lower() in SECRET_HEADERS else v) for k, v in self.headers.items()
        }
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, headers={headers!r}, "
            f"json={self.json!r}, time={self.time!r})"
        )
