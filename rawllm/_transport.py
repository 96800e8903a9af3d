"""The aiohttp boundary: one pooled session per client, explicit timeouts, one error map.

This is the only module of the client that imports aiohttp.  Everything that
crosses it is either bytes, a status and headers, or a rawllm exception:
``map_aiohttp_error()`` turns every aiohttp exception into the most specific
rawllm class and the caller chains it with ``from exc``.

Hot-path choices (each measured against a hand-written aiohttp client):
no cookie jar (an API client never needs one), the environment's proxy
resolved once per client instead of on every request (``trust_env``
re-reads the environment per call), URLs parsed once, a prebuilt
``ClientTimeout`` reused whenever no deadline clips it.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Coroutine, Mapping
from typing import TypeVar

import aiohttp
from aiohttp import client_exceptions as ce
from multidict import CIMultiDictProxy
from yarl import URL

from ._config import PoolLimits, Timeout
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
    make_status_error,
)

__all__ = [
    "AIOHTTP_ERRORS",
    "ClientTimeout",
    "Headers",
    "Response",
    "Transport",
    "client_timeout",
    "map_aiohttp_error",
    "within",
]

Headers = CIMultiDictProxy[str]
ClientTimeout = aiohttp.ClientTimeout
T = TypeVar("T")

# Everything the boundary catches: aiohttp's own errors (WSMessageTypeError is a
# TypeError, not a ClientError), timeouts, and socket errors.  aiohttp also raises
# bare RuntimeErrors: "Session is closed" (a borrowed session its owner closed)
# and "Connection closed." (reading a body after the session dropped the connection).
AIOHTTP_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    ce.WSMessageTypeError,
    TimeoutError,
    OSError,
    RuntimeError,
)


def map_aiohttp_error(exc: BaseException) -> APIError:
    """Map an aiohttp (or asyncio timeout) exception to the most specific rawllm error.

    Timeouts become ``APITimeoutError`` naming which limit fired: aiohttp
    raises ``ConnectionTimeoutError`` for connect, ``SocketTimeoutError`` /
    ``ServerTimeoutError`` for a read gap, and a plain ``TimeoutError`` when
    the attempt's total budget (our deadline) ran out.
    """
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, ce.ConnectionTimeoutError):
        return APITimeoutError("Request timed out: connect timeout.", timeout="connect")
    if isinstance(exc, ce.ServerTimeoutError):  # SocketTimeoutError is a subclass
        return APITimeoutError("Request timed out: read timeout.", timeout="read")
    if isinstance(exc, TimeoutError):
        return APITimeoutError("Request timed out: total deadline reached.", timeout="total")
    if isinstance(exc, ce.ContentTypeError):
        return APIResponseValidationError(f"Unexpected content type: {exc.message}")
    if isinstance(exc, ce.ClientResponseError):
        # We never call raise_for_status, but a proxy or redirect failure can surface here.
        headers: Mapping[str, str] = exc.headers if exc.headers is not None else {}
        if exc.status >= 400:
            return make_status_error(exc.status, headers, str(exc.message).encode())
        return APIConnectionError(f"Connection error: {type(exc).__name__}: {exc.message}")
    if isinstance(exc, ce.ClientPayloadError):
        return APIConnectionError(f"Connection error: response body incomplete ({exc}).")
    if isinstance(exc, ce.ServerDisconnectedError):
        return APIConnectionError("Connection error: server disconnected.")
    if isinstance(exc, (ce.InvalidURL, ce.ClientError, ce.WSMessageTypeError)):
        return APIConnectionError(f"Connection error: {type(exc).__name__}: {exc}")
    if isinstance(exc, OSError):
        return APIConnectionError(f"Connection error: {type(exc).__name__}: {exc}")
    return APIConnectionError(f"Connection error: {type(exc).__name__}: {exc}")


async def within(awaitable: Awaitable[T], seconds: float | None, name: str, message: str) -> T:
    """Await ``awaitable`` for at most ``seconds`` (None: no limit).

    The one place a rawllm deadline becomes an error: when it fires, raises
    ``APITimeoutError(message, timeout=name)``.  Errors from inside (aiohttp's
    own timeouts, already mapped) pass through unchanged.
    """
    if seconds is None:
        return await awaitable
    if seconds <= 0:
        if isinstance(awaitable, Coroutine):
            awaitable.close()  # never started: nothing to clean up, no "never awaited" warning
        raise APITimeoutError(message, timeout=name)
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        raise APITimeoutError(message, timeout=name) from None


_LARGE_BODY = 2**20


def client_timeout(timeout: Timeout, budget: float | None) -> aiohttp.ClientTimeout:
    """The aiohttp timeout for one attempt: connect and read gaps, clipped by the deadline."""
    return aiohttp.ClientTimeout(
        total=budget,
        connect=None,
        sock_connect=timeout.connect,
        sock_read=timeout.read,
    )


def _env_proxy(url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy the environment (HTTPS_PROXY, NO_PROXY, ...) names for ``url``, read once."""
    try:
        proxy, auth = aiohttp.helpers.get_env_proxy_for_url(url)
    except LookupError:
        return None, None
    return proxy, auth


class Transport:
    """Owns (or borrows) the aiohttp session; shared by a client and its ``with_options`` copies."""

    __slots__ = (
        "_auth",
        "_closed",
        "_default_headers",
        "_owned",
        "_pool",
        "_proxy",
        "_proxy_auth",
        "_proxy_resolved",
        "_request_headers",
        "_session",
    )

    def __init__(
        self,
        *,
        pool: PoolLimits,
        headers: Mapping[str, str],
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._pool = pool
        self._default_headers = dict(headers)
        self._session = session
        self._owned = session is None
        # A borrowed session has its own default headers: send ours on every request.
        self._request_headers: dict[str, str] | None = None if self._owned else dict(headers)
        self._closed = False
        self._proxy: URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None
        self._proxy_resolved = False

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session, created on first use inside the running loop."""
        session = self._session
        if session is None or (self._owned and session.closed):
            if self._closed:
                raise APIConnectionError("Connection error: the client is closed.")
            session = self._session = self._new_session()
        return session

    def _new_session(self) -> aiohttp.ClientSession:
        pool = self._pool
        connector = aiohttp.TCPConnector(
            limit=pool.max_connections,
            limit_per_host=pool.max_connections_per_host,
            keepalive_timeout=pool.keepalive_timeout,
            ttl_dns_cache=pool.dns_cache_ttl,
            use_dns_cache=True,
        )
        return aiohttp.ClientSession(
            connector=connector,
            headers=self._default_headers,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=600.0),
            trust_env=False,
            raise_for_status=False,
        )

    def proxy_for(self, url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """Resolve the environment proxy once (per client, for its base URL)."""
        if not self._proxy_resolved:
            self._proxy, self._proxy_auth = _env_proxy(url)
            self._proxy_resolved = True
        return self._proxy, self._proxy_auth

    def merge_headers(self, extra: Mapping[str, str] | None) -> dict[str, str] | None:
        """Headers to pass for one request: per-call extras over (borrowed-session) defaults."""
        base = self._request_headers
        if not extra:
            return base
        merged = dict(base) if base else {}
        merged.update(extra)
        return merged

    async def send(
        self,
        method: str,
        url: URL,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: aiohttp.ClientTimeout,
    ) -> Response:
        """Send a request and return once the headers are in (the body is not read yet)."""
        session = self.session
        proxy, proxy_auth = self.proxy_for(url)
        # aiohttp writes a bytes body in one go and warns (ResourceWarning) past 1 MiB;
        # a BytesIO goes out in chunks.  A fresh one per attempt: a retry resends it all.
        data = body if body is None or len(body) <= _LARGE_BODY else io.BytesIO(body)
        try:
            raw = await session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=timeout,
                proxy=proxy,
                proxy_auth=proxy_auth,
                allow_redirects=False,
            )
        except AIOHTTP_ERRORS as exc:
            raise map_aiohttp_error(exc) from exc
        return Response(raw)

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Close the session if we own it (a borrowed session is the user's to close)."""
        self._closed = True
        session = self._session
        if session is not None and self._owned and not session.closed:
            await session.close()
            # Let the connector's transports finish closing, so nothing warns "Unclosed".
            await asyncio.sleep(0)

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._session is not None else "idle")
        return f"<Transport {state} owned={self._owned}>"


class Response:
    """One response as rawllm sees it: status, headers and body reads, errors mapped.

    The aiohttp response stays inside: every read crosses ``map_aiohttp_error``.
    A body read to its end hands the connection back to the pool;
    ``close()`` drops it (a body abandoned mid-way cannot be reused).
    """

    __slots__ = ("_raw", "headers", "status")

    def __init__(self, raw: aiohttp.ClientResponse) -> None:
        self._raw = raw
        self.status: int = raw.status
        self.headers: Headers = raw.headers

    async def read(self) -> bytes:
        """The whole (rest of the) body; the connection is released after it."""
        raw = self._raw
        try:
            return await raw.read()
        except AIOHTTP_ERRORS as exc:
            raise map_aiohttp_error(exc) from exc
        finally:
            raw.release()

    async def read_chunk(self) -> bytes:
        """The next bytes of the body as they arrive (b"" at the end)."""
        try:
            return await self._raw.content.readany()
        except AIOHTTP_ERRORS as exc:
            raise map_aiohttp_error(exc) from exc

    async def finish(self, within: float) -> None:
        """Read the (normally empty) rest so the connection can be reused, else drop it."""
        raw = self._raw
        content = raw.content
        if content.at_eof():  # the usual case: nothing to wait for
            raw.release()
            return
        try:
            async with asyncio.timeout(within):
                while not content.at_eof():
                    if not await content.readany():
                        break
        except Exception:  # a timeout or a broken connection: it cannot be reused
            raw.close()
            return
        raw.release()

    def release(self) -> None:
        """Hand the connection back to the pool (aiohttp drops it if the body was not all read)."""
        self._raw.release()

    def close(self) -> None:
        """Drop the connection now (used when a body is abandoned mid-way)."""
        self._raw.close()

    def __repr__(self) -> str:
        return f"<Response {self.status}>"
