"""The aiohttp boundary: one pooled session per client, explicit timeouts, one error map.

This is the only module of the client that imports aiohttp.  Everything that
crosses it is either bytes, a status and headers, or a rawllm exception:
``map_aiohttp_error()`` turns every aiohttp exception into the most specific
rawllm class and the caller chains it with ``from exc``.

Owned sessions live one per event loop and process (``_sessions.LoopSessions``):
a client works under any loop, thread or forked child.

Everything the server sends is bounded: a body (after decompression) larger
than ``max_response_bytes`` raises ``APIResponseValidationError`` naming the
cap while it is being read, so memory never grows past it.  Anything the HTTP
parser rejects (a bad status line, an over-long header, a bad chunk size) is
a connection error, never the server's "400".

Hot-path choices (each measured against a hand-written aiohttp client):
no cookie jar (an API client never needs one), the environment's proxy
resolved once per client instead of on every request (``trust_env``
re-reads the environment per call), URLs parsed once, a prebuilt
``ClientTimeout`` reused whenever no deadline clips it, and a lazy read timer
(``LazyReadTimer``: one timer per connection instead of a new one per chunk).
"""

from __future__ import annotations

import asyncio
import functools
import io
import ssl as _ssl
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TypeVar, cast

import aiohttp
from aiohttp import client_exceptions as ce
from aiohttp.client_proto import ResponseHandler
from multidict import CIMultiDictProxy
from yarl import URL

from ._checks import check_headers
from ._config import PoolLimits, Timeout
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APITimeoutError,
)
from ._sessions import LoopSessions

__all__ = [
    "AIOHTTP_ERRORS",
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ClientTimeout",
    "LazyReadTimer",
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

DEFAULT_MAX_RESPONSE_BYTES = 64 * 2**20
DEFAULT_MAX_EVENT_BYTES = 16 * 2**20

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
    if isinstance(exc, ce.ClientHttpProxyError):
        # The proxy refused the CONNECT: its status is not the API's answer.
        return APIConnectionError(
            f"Connection error: the proxy refused the connection (HTTP {exc.status} {exc.message})."
        )
    if isinstance(exc, ce.ClientResponseError):
        # We never call raise_for_status and never follow redirects: aiohttp raises this
        # (with status 400) only when its HTTP parser rejected what the server sent.
        return APIConnectionError(
            f"Connection error: invalid HTTP response from the server ({_problem(exc)})."
        )
    if isinstance(exc, ce.ClientPayloadError):
        return APIConnectionError(
            f"Connection error: response body incomplete or malformed ({_problem(exc)})."
        )
    if isinstance(exc, ce.ServerDisconnectedError):
        return APIConnectionError("Connection error: server disconnected.")
    if isinstance(exc, (ce.InvalidURL, ce.ClientError, ce.WSMessageTypeError)):
        return APIConnectionError(f"Connection error: {type(exc).__name__}: {exc}")
    if isinstance(exc, OSError):
        return APIConnectionError(f"Connection error: {type(exc).__name__}: {exc}")
    return APIConnectionError(f"Connection error: {type(exc).__name__}: {exc}")


def _problem(exc: BaseException) -> str:
    """What the HTTP parser objected to, in words.

    aiohttp re-wraps its parser's exception (``LineTooLong``, ``BadStatusLine``,
    ``InvalidHeader``, ``TransferEncodingError``...) one or two levels down the
    ``__cause__`` chain; the deepest one names the problem best.
    """
    deepest: BaseException = exc
    seen = 0
    while deepest.__cause__ is not None and seen < 5:
        deepest = deepest.__cause__
        seen += 1
    message = getattr(deepest, "message", None) or str(deepest) or getattr(exc, "message", "")
    text = f"{type(deepest).__name__}: {message}" if deepest is not exc else str(message)
    # A hostile server controls this text: keep it to one short line.
    text = text.replace("\r", " ").replace("\n", " ")
    return text if len(text) <= 300 else text[:297] + "..."


def body_too_large(cap: int, what: str = "response body") -> APIResponseValidationError:
    return APIResponseValidationError(
        f"The {what} is larger than max_response_bytes={cap}: rawllm stopped reading it "
        f"(raise the limit with rawllm.OpenAI(max_response_bytes=...) if this is expected)."
    )


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


class LazyReadTimer(ResponseHandler):
    """aiohttp's connection protocol with the same ``sock_read`` timeout, kept lazily.

    aiohttp enforces ``sock_read`` (rawllm's ``Timeout.read``: the longest wait
    for the next bytes) by cancelling its timer and scheduling a new one on
    every chunk received, and again for every response: two to four timer
    handles per request on a reused connection.  Here every chunk only moves
    a deadline; one timer per connection stays armed and, when it fires
    before the deadline it finds, re-arms itself for the rest.  The timeout
    fires exactly when aiohttp's would.  When the connection closes, the
    timer is cancelled at once (nothing is kept alive by it).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self._read_deadline: float | None = None  # None: no read is being timed

    def _reschedule_timeout(self) -> None:
        timeout = self._read_timeout
        if not timeout:
            self._read_deadline = None
            return
        loop = self._loop
        deadline = self._read_deadline = loop.time() + timeout
        if self._read_timeout_handle is None:
            self._read_timeout_handle = loop.call_at(deadline, self._on_read_timer)

    def _drop_timeout(self) -> None:
        self._read_deadline = None  # the armed timer finds nothing to do when it fires
        if self.transport is None:  # closed: let go of the timer (and of us) now
            handle = self._read_timeout_handle
            if handle is not None:
                handle.cancel()
                self._read_timeout_handle = None

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        handle = self._read_timeout_handle
        if handle is not None:
            handle.cancel()
            self._read_timeout_handle = None

    def _on_read_timer(self) -> None:
        self._read_timeout_handle = None
        deadline = self._read_deadline
        if deadline is None:
            return
        loop = self._loop
        if loop.time() < deadline:  # bytes came meanwhile: wait for the rest
            self._read_timeout_handle = loop.call_at(deadline, self._on_read_timer)
            return
        self._read_deadline = None
        self._on_read_timeout()


class Transport:
    """Owns (or borrows) the aiohttp sessions; shared by a client and its ``with_options`` copies.

    Owned sessions are one per event loop (and process); a borrowed session
    (``session=``) is used as it is, under its own loop.
    """

    __slots__ = (
        "_borrowed",
        "_closed",
        "_default_headers",
        "_env_proxy",
        "_max_bytes",
        "_pool",
        "_proxy",
        "_proxy_auth",
        "_proxy_resolved",
        "_request_headers",
        "_sessions",
        "_ssl",
    )

    def __init__(
        self,
        *,
        pool: PoolLimits,
        headers: Mapping[str, str],
        session: aiohttp.ClientSession | None = None,
        ssl: _ssl.SSLContext | bool | None = None,
        proxy: str | URL | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._pool = pool
        self._default_headers = dict(headers)
        self._borrowed = session
        self._ssl = ssl
        self._max_bytes = max_response_bytes
        self._sessions: LoopSessions | None = (
            LoopSessions(self._new_session) if session is None else None
        )
        # A borrowed session has its own default headers: send ours on every request.
        self._request_headers: dict[str, str] | None = None if session is None else dict(headers)
        self._closed = False
        # An explicit proxy= wins over the environment; otherwise the environment's
        # (HTTPS_PROXY, NO_PROXY, ...) is resolved once, for the base URL.
        self._env_proxy = proxy is None
        self._proxy: URL | None = None if proxy is None else URL(str(proxy))
        self._proxy_auth: aiohttp.BasicAuth | None = None
        self._proxy_resolved = proxy is not None

    @property
    def max_response_bytes(self) -> int:
        return self._max_bytes

    @property
    def session(self) -> aiohttp.ClientSession:
        """The running loop's session, created on first use inside that loop."""
        sessions = self._sessions
        if sessions is None:
            borrowed = self._borrowed
            assert borrowed is not None
            return borrowed
        bound = sessions.bound  # hot path: one identity check (close() clears it)
        if bound is not None and bound[0] is asyncio.get_running_loop():
            return bound[1]
        if self._closed:
            raise APIConnectionError("Connection error: the client is closed.")
        return sessions.get()

    def _new_session(self) -> aiohttp.ClientSession:
        pool = self._pool
        connector = aiohttp.TCPConnector(
            limit=pool.max_connections,
            limit_per_host=pool.max_connections_per_host,
            keepalive_timeout=pool.keepalive_timeout,
            ttl_dns_cache=pool.dns_cache_ttl,
            use_dns_cache=True,
            # None: verify with the default CA store; False: no verification (insecure).
            ssl=True if self._ssl is None else self._ssl,
        )
        factory = getattr(connector, "_factory", None)  # aiohttp's protocol factory (tested)
        if isinstance(factory, functools.partial) and factory.func is ResponseHandler:
            connector._factory = cast(
                "functools.partial[ResponseHandler]",
                functools.partial(LazyReadTimer, *factory.args, **factory.keywords),
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
        """The proxy for requests of this client: ``proxy=``, else the environment's, read once."""
        if not self._proxy_resolved:
            self._proxy, self._proxy_auth = _env_proxy(url)
            self._proxy_resolved = True
        return self._proxy, self._proxy_auth

    def merge_headers(self, extra: Mapping[str, str] | None) -> dict[str, str] | None:
        """Headers to pass for one request: per-call extras (checked) over the defaults."""
        base = self._request_headers
        if not extra:
            return base
        check_headers(extra, "extra_headers")  # before anything is sent
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
        return Response(raw, self._max_bytes)

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Close the sessions we own (a borrowed session is the user's to close)."""
        self._closed = True
        if self._sessions is not None:
            await self._sessions.close()

    def __repr__(self) -> str:
        if self._closed:
            state = "closed"
        elif self._sessions is None:
            state = "borrowed"
        else:
            state = f"open sessions={len(self._sessions)}"
        return f"<Transport {state}>"


class Response:
    """One response as rawllm sees it: status, headers and body reads, errors mapped.

    The aiohttp response stays inside: every read crosses ``map_aiohttp_error``.
    A body read to its end hands the connection back to the pool;
    ``close()`` drops it (a body abandoned mid-way cannot be reused).
    """

    __slots__ = ("_cap", "_raw", "headers", "status")

    def __init__(self, raw: aiohttp.ClientResponse, max_bytes: int) -> None:
        self._raw = raw
        self._cap = max_bytes
        self.status: int = raw.status
        self.headers: Headers = raw.headers

    async def read(self) -> bytes:
        """The whole (rest of the) body, at most ``max_response_bytes``; then released.

        Raises:
            APIResponseValidationError: the body is larger than the cap (the
                connection is dropped, the rest never read).
        """
        raw = self._raw
        try:
            return await read_body(raw, self._cap)
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

    def chunk_reader(self) -> Callable[[], Awaitable[bytes]]:
        """aiohttp's own ``readany`` for this body: ``read_chunk`` without its coroutine.

        For the stream's per-chunk loop (one coroutine less per network
        chunk).  Its errors are aiohttp's: the caller maps them, as
        ``read_chunk`` does (``except AIOHTTP_ERRORS`` -> ``map_aiohttp_error``).
        """
        return self._raw.content.readany

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


async def read_body(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """Read a whole body, decompressed, refusing (and dropping the connection) past ``cap``.

    The bytes are counted as they arrive (after aiohttp's transparent
    decompression), so a gzip bomb or an endless body costs at most ``cap``
    plus one buffered chunk.
    """
    length = resp.content_length
    if length is not None and length > cap and "Content-Encoding" not in resp.headers:
        resp.close()
        raise body_too_large(cap)
    content = resp.content
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > cap:
            chunks.clear()
            resp.close()
            raise body_too_large(cap)
        chunks.append(chunk)
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)
