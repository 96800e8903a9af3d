"""``with_raw_response``: the same calls, returning the HTTP response around the result.

``await client.chat.completions.with_raw_response.create(...)`` returns an
``APIResponse`` with ``.headers``, ``.status_code``, ``.retries_taken``,
``.elapsed`` (seconds, a ``float``), ``.request_id``, the body (``.content``,
``.text``, ``.json()``) and ``.parse()``, which returns what the plain call
returns (already decoded: the call decodes once, as it always does).

The plain calls pay nothing for this: every result already keeps its status and
headers (two references in its ``__dict__``), and the wrapper measures
``elapsed`` around the call.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import msgspec

__all__ = ["APIResponse", "WithRawResponse"]

R = TypeVar("R")


class APIResponse(Generic[R]):
    """The HTTP response of a call made through ``with_raw_response``.

    Attributes:
        status_code: the HTTP status.
        headers: the response headers (case-insensitive).
        retries_taken: how many retries the call took.
        elapsed: seconds from the call to its decoded result, retries included.
        request_id: the provider's request id.
    """

    __slots__ = ("_result", "elapsed", "headers", "request_id", "retries_taken", "status_code")

    def __init__(self, result: R, elapsed: float) -> None:
        self._result = result
        self.elapsed = elapsed
        d = getattr(result, "__dict__", None) or {}
        status, headers = d.get("_http", (None, None))
        if headers is None:  # a stream: its own headers, status 2xx by construction
            headers = getattr(result, "headers", None) or {}
            status = getattr(result, "status_code", 200)
        self.status_code: int = status if isinstance(status, int) else 200
        self.headers: Mapping[str, str] = headers
        self.retries_taken: int = d.get("_retries", getattr(result, "retries", 0)) or 0
        self.request_id: str | None = d.get("_request_id", getattr(result, "request_id", None))

    def parse(self) -> R:
        """The result the plain call returns (a ``ChatCompletion``, an ``AsyncStream``, ...)."""
        return self._result

    @property
    def content(self) -> bytes:
        """The body as received (empty for a stream: iterate ``parse()`` instead)."""
        raw = (getattr(self._result, "__dict__", None) or {}).get("_raw")
        if raw is None:
            return b""
        return raw.encode() if isinstance(raw, str) else bytes(raw)

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body decoded from JSON."""
        return msgspec.json.decode(self.content)

    def __repr__(self) -> str:
        return f"<APIResponse [{self.status_code}] type={type(self._result).__name__}>"


class WithRawResponse:
    """``resource.with_raw_response``: each call method, returning an ``APIResponse``."""

    __slots__ = ("_resource",)

    def __init__(self, resource: Any) -> None:
        self._resource = resource

    def __getattr__(self, name: str) -> Callable[..., Awaitable[APIResponse[Any]]]:
        if name.startswith("_") or name in ("stream", "with_raw_response"):
            raise AttributeError(f"with_raw_response has no {name!r}")
        method = getattr(self._resource, name)
        if not callable(method):
            raise AttributeError(f"with_raw_response.{name} is not a call")

        async def call(*args: Any, **kwargs: Any) -> APIResponse[Any]:
            started = time.monotonic()
            result = await method(*args, **kwargs)
            return APIResponse(result, time.monotonic() - started)

        return call
