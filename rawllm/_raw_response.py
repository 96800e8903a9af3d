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

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import msgspec

__all__ = [
    "APIResponse",
    "RawResponses",
    "StreamedResponse",
    "WithRawResponse",
    "WithStreamingResponse",
]

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
        self.request_id: str | None = getattr(result, "_request_id", None) or getattr(
            result, "request_id", None
        )

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


class StreamedResponse(Generic[R]):
    """What ``with_streaming_response`` calls give inside ``async with``: the body unread.

    The call was made (retried as a stream is: until its first body bytes
    arrived); the rest of the body is read only when asked for, by ``read()``,
    ``text()``, ``json()``, ``parse()`` or the ``iter_*`` methods.  Leaving the
    ``async with`` releases the connection (dropping it if the body was not
    read to its end).

    Attributes:
        status_code, headers, retries_taken, request_id: as for ``APIResponse``.
    """

    __slots__ = (
        "_chunks",
        "_closed",
        "_decode",
        "_first",
        "_permit",
        "_resp",
        "_stream",
        "headers",
        "request_id",
        "retries_taken",
        "status_code",
    )

    def __init__(
        self,
        resp: Any,
        first: bytes,
        *,
        read_chunk: Callable[[], Awaitable[bytes]],
        decode: Callable[[bytes], R] | None = None,
        permit: Any = None,
        request_id: str | None = None,
        retries: int = 0,
        stream: Any = None,
    ) -> None:
        self._resp = resp
        self._first = first
        self._decode = decode
        self._permit = permit
        self._stream = stream
        self._closed = False
        self._chunks = read_chunk
        self.status_code: int = resp.status
        self.headers: Mapping[str, str] = resp.headers
        self.request_id = request_id
        self.retries_taken = retries

    async def __aenter__(self) -> StreamedResponse[R]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the connection (dropped if the body was not read to its end)."""
        if self._stream is not None:
            await self._stream.close()
        if not self._closed:
            self._closed = True
            self._resp.close()
        permit, self._permit = self._permit, None
        if permit is not None:
            permit.release()

    async def iter_bytes(self) -> Any:
        """The body's bytes as they arrive."""
        if self._stream is not None:
            raise TypeError("a streamed call's body is read through parse() (an AsyncStream)")
        if self._closed:
            raise RuntimeError("the response was closed")
        first, self._first = self._first, b""
        if first:
            yield first
        while True:
            chunk = await self._chunks()
            if not chunk:
                break
            yield chunk
        self._closed = True
        self._resp.release()
        permit, self._permit = self._permit, None
        if permit is not None:
            permit.release()

    async def iter_text(self) -> Any:
        """The body as text, piece by piece (UTF-8, split safely)."""
        import codecs

        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        async for chunk in self.iter_bytes():
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    async def iter_lines(self) -> Any:
        """The body's lines (without their line ends)."""
        pending = ""
        async for text in self.iter_text():
            pending += text
            lines = pending.splitlines(keepends=True)
            pending = ""
            for line in lines:
                if line.endswith(("\n", "\r")):
                    yield line.rstrip("\r\n")
                else:
                    pending = line
        if pending:
            yield pending

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([chunk async for chunk in self.iter_bytes()])

    async def text(self) -> str:
        """The whole body as text."""
        return (await self.read()).decode("utf-8", "replace")

    async def json(self) -> Any:
        """The whole body decoded from JSON."""
        return msgspec.json.decode(await self.read())

    async def parse(self) -> R:
        """What the plain call returns: the decoded result (an ``AsyncStream`` for a stream)."""
        if self._stream is not None:
            stream: R = self._stream
            return stream
        data = await self.read()
        assert self._decode is not None
        result = self._decode(data)
        from .types._base import Result, attach

        if isinstance(result, Result):
            attach(result, data, self.request_id)
            result.__dict__["_http"] = (self.status_code, self.headers)
        return result

    def __repr__(self) -> str:
        return f"<StreamedResponse [{self.status_code}]>"


class _StreamingCall(Generic[R]):
    """The ``async with`` of one ``with_streaming_response`` call."""

    __slots__ = ("_call", "_response")

    def __init__(self, call: Callable[[], Awaitable[StreamedResponse[R]]]) -> None:
        self._call = call
        self._response: StreamedResponse[R] | None = None

    async def __aenter__(self) -> StreamedResponse[R]:
        self._response = await self._call()
        return self._response

    async def __aexit__(self, *exc: object) -> None:
        response = self._response
        if response is not None:
            # A StreamedResponse; calls that stream bodies of their own (files.content)
            # hand back their own object, whose close() may be sync.
            outcome = response.close()
            if inspect.isawaitable(outcome):
                await outcome


class WithStreamingResponse:
    """``resource.with_streaming_response``: each call as ``async with``, the body unread.

    The call runs on a copy of the client (sharing its pool and limiter) whose send
    method opens the response instead of reading it, so the resource's own
    code (argument checks, body building, Azure routing) is the same as for a
    plain call, and the plain path carries no flag for it.
    """

    __slots__ = ("_resource",)

    def __init__(self, resource: Any) -> None:
        self._resource = resource

    def __getattr__(self, name: str) -> Callable[..., _StreamingCall[Any]]:
        if name.startswith("_") or name in ("stream", "with_streaming_response"):
            raise AttributeError(f"with_streaming_response has no {name!r}")
        resource = self._resource
        if not callable(getattr(resource, name)):
            raise AttributeError(f"with_streaming_response.{name} is not a call")

        def call(*args: Any, **kwargs: Any) -> _StreamingCall[Any]:
            async def open_() -> StreamedResponse[Any]:
                shadow = resource._client.with_options()
                cls = type(shadow)

                async def raw_request(
                    fmt: Any, body: Any, *, stream: bool = False, **kw: Any
                ) -> Any:
                    if not stream:  # opened up to its first body bytes, not read
                        return await cls._request(shadow, fmt, body, stream=True, raw=True, **kw)
                    opened = await cls._request(shadow, fmt, body, stream=True, **kw)
                    return StreamedResponse(
                        _StreamHead(opened),
                        b"",
                        read_chunk=_no_chunks,
                        request_id=opened.request_id,
                        retries=opened.retries,
                        stream=opened,
                    )

                shadow._request = raw_request
                opened: StreamedResponse[Any] = await getattr(type(resource)(shadow), name)(
                    *args, **kwargs
                )
                return opened

            return _StreamingCall(open_)

        return call


class _StreamHead:
    """Status and headers of an open ``AsyncStream`` (for ``StreamedResponse``)."""

    __slots__ = ("headers", "status")

    def __init__(self, stream: Any) -> None:
        self.headers = stream.headers
        self.status = 200

    def close(self) -> None:
        pass

    def release(self) -> None:
        pass


async def _no_chunks() -> bytes:
    return b""


class RawResponses:
    """Mixin of every resource namespace: ``with_raw_response`` and ``with_streaming_response``."""

    __slots__ = ()

    @property
    def with_raw_response(self) -> Any:
        """These calls, returning an ``APIResponse`` (``.headers``, ``.status_code``,
        ``.retries_taken``, ``.elapsed``, ``.parse()``) as in the official SDKs."""
        return WithRawResponse(self)

    @property
    def with_streaming_response(self) -> Any:
        """These calls as ``async with``, the body unread until asked for (``.headers``,
        ``.status_code``, ``await .parse()``, ``.iter_bytes()``, ``.iter_lines()``)."""
        return WithStreamingResponse(self)
