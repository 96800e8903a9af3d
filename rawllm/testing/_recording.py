"""What MockServer keeps of each request it saw (``MockServer.requests``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDictProxy

__all__ = ["RecordedRequest"]


@dataclass(slots=True)
class RecordedRequest:
    """One request the server saw.

    Attributes:
        method: ``"POST"``, ``"GET"``.
        path: the URL path, e.g. ``"/v1/chat/completions"``.
        headers: the request headers (case-insensitive lookups).
        json: the decoded JSON body (``None`` for a GET or an undecodable body).
        time: arrival time, ``time.monotonic()`` seconds.
        body: the raw body bytes.
    """

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    json: Any
    time: float
    body: bytes = field(repr=False, default=b"")
