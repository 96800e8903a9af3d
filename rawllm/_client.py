"""BaseClient: the attempt loop (limit -> send -> decide -> sleep) shared by every call.

Invariants:
- every attempt goes through the rate limiter (retries included) and sends
  the same body bytes;
- a failed attempt's response is read and released before any sleep;
- the ``Timeout.total`` deadline covers the whole call: each attempt gets
  only what is left of it and no backoff sleep runs past it;
- streams are retried only until the first body byte has arrived;
- the number of retries taken is on the result (``_retries``) and on the
  final error (``.retries``).

Decisions are made by pure code (``_retry.RetryPolicy``, ``_exceptions``);
this module only sequences them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self

from yarl import URL

from ._body_reader import BodyReader, is_json
from ._checks import check_base_url, check_cap, check_headers
from ._config import NOT_GIVEN, NotGiven, PoolLimits, RateLimit, Timeout, coerce_timeout
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    RequestInfo,
    make_status_error,
    redact,
    register_secret,
    request_id_from,
)
from ._formats import WireFormat
from ._limiter import Limiter
from ._permit import NOOP
from ._ratelimit_headers import queue_full
from ._reader import Reader, StreamReader
from ._retry import RetryPolicy, attempt_budget
from ._streaming import AsyncStream
from ._transport import (
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    ClientTimeout,
    Response,
    Transport,
    client_timeout,
    within,
)
from ._version import __version__
from ._wire._common import Done

__all__ = ["BaseClient", "RetryEvent"]

logger = logging.getLogger("rawllm")

USER_AGENT = f"rawllm/{__version__}"
_rng = random.Random()


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """What ``on_retry`` hooks receive before each retry sleep.

    Attributes:
        attempt: the attempt that failed (1 = the first).
        wait: seconds rawllm will sleep before the next attempt.
        status: the HTTP status, or None for a connection error / timeout.
        error: the error the attempt ended with.
        method: HTTP method.
        url: the request URL (no secrets: keys are sent in headers).
    """

    attempt: int
    wait: float
    status: int | None
    error: APIError
    method: str
    url: str


class _Shared:
    """State shared by a client and every ``with_options()`` copy: the pool and the limiter."""

    __slots__ = ("limiter", "transport")

    def __init__(self, transport: Transport, limiter: Limiter) -> None:
        self.transport = transport
        self.limiter = limiter


class BaseClient:
    """Common machinery of ``rawllm.OpenAI`` and ``rawllm.Anthropic``."""

    _auth_headers: dict[str, str]

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: Timeout | float | None,
        max_retries: int,
        rate_limit: RateLimit | None,
        pool: PoolLimits | None,
        default_headers: Mapping[str, str] | None,
        session: Any,
        on_retry: Callable[[RetryEvent], Any] | None,
        auth_headers: Mapping[str, str],
        default_query: Mapping[str, Any] | None = None,
        ssl: Any = None,
        proxy: Any = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        _shared: _Shared | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        register_secret(api_key)
        # Configuration mistakes surface here, before anything is sent.
        check_base_url(base_url)
        check_headers(auth_headers, "api_key / auth headers")
        check_headers(default_headers, "default_headers")
        self.max_response_bytes = check_cap("max_response_bytes", max_response_bytes)
        self.max_event_bytes = check_cap("max_event_bytes", max_event_bytes)
        if session is not None and (ssl is not None or proxy is not None):
            raise ValueError(
                "ssl= and proxy= configure rawllm's own connection pool: with session= "
                "set them on your aiohttp session (its connector / proxy) instead"
            )
        if proxy is not None:
            check_base_url(str(proxy), what="proxy")
        self.api_key = api_key
        # A query inside base_url (Azure's "?api-version=...") is kept apart and
        # sent on every call, never glued to the path.
        url = URL(base_url)
        self.default_query: dict[str, str] = {k: str(v) for k, v in url.query.items()}
        self.default_query.update({k: str(v) for k, v in (default_query or {}).items()})
        self.base_url = URL(str(url.with_query(None).with_fragment(None)).rstrip("/"))
        self.max_retries = max_retries
        self.timeout = coerce_timeout(timeout)
        self.rate_limit = rate_limit
        self.pool = pool or PoolLimits()
        self.default_headers: dict[str, str] = dict(default_headers or {})
        self.on_retry = on_retry
        self._auth_headers = dict(auth_headers)
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Content-Type": "application/json",
            **self._auth_headers,
            **self.default_headers,
        }
        if _shared is None:
            _shared = _Shared(
                Transport(
                    pool=self.pool,
                    headers=headers,
                    session=session,
                    ssl=ssl,
                    proxy=proxy,
                    max_response_bytes=self.max_response_bytes,
                ),
                Limiter(rate_limit),
            )
        self._shared = _shared
        self._policy = RetryPolicy(max_retries=max_retries)
        self._base_str = str(self.base_url)
        self._urls: dict[str, URL] = {}
        self._aio_timeout = client_timeout(self.timeout, None)

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool (a session passed in as ``session=`` is left open)."""
        await self._shared.transport.close()

    @property
    def is_closed(self) -> bool:
        return self._shared.transport.closed

    @property
    def limiter(self) -> Limiter:
        """The rate limiter shared by this client and its copies (its ``.state`` is readable)."""
        return self._shared.limiter

    def _copy_kwargs(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "base_url": self._base_str,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "rate_limit": self.rate_limit,
            "pool": self.pool,
            "default_headers": self.default_headers,
            "default_query": self.default_query,
            "on_retry": self.on_retry,
            "max_response_bytes": self.max_response_bytes,
            "max_event_bytes": self.max_event_bytes,
        }

    def with_options(
        self,
        *,
        timeout: Timeout | float | None | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        on_retry: Callable[[RetryEvent], Any] | None | NotGiven = NOT_GIVEN,
    ) -> Self:
        """A cheap copy with other defaults, sharing the pool and the rate limiter.

        Example:
            >>> fast = client.with_options(timeout=10, max_retries=0)
        """
        kwargs = self._copy_kwargs()
        if not isinstance(timeout, NotGiven):
            kwargs["timeout"] = timeout
        if not isinstance(max_retries, NotGiven):
            kwargs["max_retries"] = max_retries
        if not isinstance(on_retry, NotGiven):
            kwargs["on_retry"] = on_retry
        return type(self)(**kwargs, _shared=self._shared)

    copy = with_options

    def __repr__(self) -> str:
        return redact(
            f"{type(self).__name__}(base_url={self._base_str!r}, api_key='[REDACTED]', "
            f"max_retries={self.max_retries}, timeout={self.timeout!r})"
        )

    # -- request plumbing ----------------------------------------------------

    def _url(self, path: str, query: Mapping[str, Any] | None) -> URL:
        url = self._urls.get(path)
        if url is None:
            url = URL(self._base_str + path, encoded=True)
            if self.default_query:
                url = url.update_query(self.default_query)
            self._urls[path] = url
        if query:
            # A list is sent as repeated keys (``include[]=a&include[]=b``).
            url = url.update_query(
                {k: v if isinstance(v, list | tuple) else str(v) for k, v in query.items()}
            )
        return url

    async def _request(
        self,
        fmt: WireFormat[Any, Any],
        body: bytes | None,
        *,
        stream: bool = False,
        estimate: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: Any = NOT_GIVEN,
        max_retries: Any = NOT_GIVEN,
        url: URL | None = None,
        opener: Opener | None = None,
        raw: bool = False,
    ) -> Any:
        """One call with retries: the decoded result (or an open ``AsyncStream``), or the error.

        The attempt loop: acquire a permit, send, decide, sleep; the permit is
        released here, once, unless an open stream took it over.  ``opener``
        (with ``url``, for a download) builds the result from the response and
        its first chunk instead of decoding the whole body; it does not keep
        the permit.  ``estimate`` is the request body for the token estimate,
        made only once a limit is in force (the free path never needs it).
        """
        policy = self._policy if max_retries is NOT_GIVEN else RetryPolicy(max_retries=max_retries)
        t = self.timeout if timeout is NOT_GIVEN else coerce_timeout(timeout)
        if url is None:
            url = self._url(fmt.path, extra_query)
        headers = self._shared.transport.merge_headers(extra_headers)
        call = _Call(fmt, url, body, headers, stream, t, opener, raw)
        aio_timeout = self._aio_timeout if timeout is NOT_GIVEN else client_timeout(t, None)
        limiter = self._shared.limiter
        retries = 0
        tokens = -1  # not estimated yet
        while True:
            if call.deadline is not None:
                aio_timeout = client_timeout(t, _budget(call, retries))
            permit = limiter.free_permit()
            if permit is None:
                if tokens < 0:
                    tokens = 0 if estimate is None else limiter.estimate(estimate)
                permit = await self._acquire(tokens, call, retries)
            result: Any = None
            try:
                result = await self._attempt(call, aio_timeout, permit, retries)
                return result
            except (APIStatusError, APIConnectionError) as exc:
                error: APIStatusError | APIConnectionError = exc
            finally:
                if result is None or not stream:  # an open stream holds its permit
                    permit.release()
            retries = await self._backoff(policy, error, retries, call)

    async def _attempt(
        self, call: _Call, aio_timeout: ClientTimeout, permit: Any, retries: int
    ) -> Any:
        """Send once; read the whole body (a call) or the first chunk (a stream)."""
        fmt = call.fmt
        resp = await self._shared.transport.send(
            fmt.method, call.url, call.body, call.headers, aio_timeout
        )
        status = resp.status
        self._shared.limiter.observe(status, resp.headers, permit)
        if call.opens:
            if status < 300:
                opener = call.opener
                if opener is None:
                    return await self._open_stream(call, resp, permit, retries)
                return opener(resp, await _first_chunk(call, resp))
            try:
                data = await resp.read()
            except APIConnectionError:
                data = b""
        else:
            data = await resp.read()
        if status >= 300:
            if status == 503 and queue_full(data):  # Ollama's queue is full: too many in flight
                self._shared.limiter.queue_full(resp.headers, permit)
            raise make_status_error(status, resp.headers, data, url=str(call.url))
        try:
            result = fmt.decode(data)
        except RecursionError:  # msgspec on absurdly nested JSON: hostile, not a bug
            raise APIResponseValidationError(
                "The response's JSON is nested too deeply to decode."
            ) from None
        d = result.__dict__
        d["_raw"] = data  # for to_dict()
        d["_http"] = (status, resp.headers)  # the request id (read when asked), with_raw_response
        if retries:
            d["_retries"] = retries
        if permit is not NOOP:  # the free path's shared permit has nothing to settle
            used = fmt.usage_tokens(result)
            if used is not None:
                permit.settle(used)
        return result

    async def _open_stream(
        self, call: _Call, resp: Response, permit: Any, retries: int
    ) -> AsyncStream[Any]:
        """Wait for the first body byte (still inside the retry loop), then hand over."""
        t = call.timeout
        first = await _first_chunk(call, resp)
        if call.raw:  # with_streaming_response: the rest of the body stays unread
            from ._raw_response import StreamedResponse

            return StreamedResponse(  # type: ignore[return-value]
                resp,
                first,
                read_chunk=resp.read_chunk,
                decode=call.fmt.decode,
                permit=permit,
                request_id=request_id_from(resp.headers),
                retries=retries,
            )
        fmt = call.fmt
        reader: Reader[Any, Any]
        if fmt.from_body is not None and is_json(resp.headers.get("Content-Type")):
            # A server that ignored stream=True sent the whole answer: read it as that stream.
            reader = BodyReader(fmt, fmt.from_body, _HIDDEN, self.max_response_bytes)
        else:
            reader = StreamReader(
                fmt, max_bytes=self.max_response_bytes, max_event_bytes=self.max_event_bytes
            )
        return AsyncStream(
            resp,
            first,
            reader,
            permit=permit,
            request_id=request_id_from(resp.headers),
            first_event=t.first_event,
            event_idle=t.event_idle,
            started=call.started,
            retries=retries,
        )

    async def _acquire(self, tokens: int, call: _Call, retries: int) -> Any:
        limiter = self._shared.limiter
        if call.deadline is None:
            return await limiter.acquire(tokens)
        try:
            return await within(
                limiter.acquire(tokens),
                _budget(call, retries),
                "total",
                "Request timed out: total deadline reached while waiting for the rate limit.",
            )
        except APITimeoutError as exc:
            exc.retries = retries
            raise

    async def _backoff(
        self,
        policy: RetryPolicy,
        error: APIStatusError | APIConnectionError,
        retries: int,
        call: _Call,
    ) -> int:
        """Sleep before the next attempt, or raise ``error`` when retrying cannot help."""
        if isinstance(error, APIStatusError):
            status: int | None = error.status_code
            headers: Mapping[str, str] | None = error.headers
        elif self._shared.transport.closed or _first_event_timeout(error):
            error.retries = retries  # a closed client, or no time left for another attempt
            raise error
        else:
            status = headers = None
        time_left = attempt_budget(None, call.deadline, time.monotonic())
        delay = policy.decide(
            retries_done=retries,
            status=status,
            headers=headers,
            now=time.time(),
            time_left=time_left,
            rng=_rng,
        )
        if delay is None:
            error.retries = retries
            if isinstance(error, APIStatusError):  # e.response.request, as in the official SDKs
                error.response.request = RequestInfo(call.fmt.method, str(call.url))
            raise error
        what = f"HTTP {status}" if status is not None else type(error).__name__
        method, url = call.fmt.method, call.url
        logger.info(
            "rawllm: retrying %s %s after %s (attempt %d of %d) in %.3f s",
            method,
            redact(str(url)),
            what,
            retries + 1,
            policy.max_retries + 1,
            delay,
        )
        hook = self.on_retry
        if hook is not None:
            outcome = hook(
                RetryEvent(
                    attempt=retries + 1,
                    wait=delay,
                    status=status,
                    error=error,
                    method=method,
                    url=redact(str(url)),
                )
            )
            if asyncio.iscoroutine(outcome):
                await outcome
        if delay > 0:
            await asyncio.sleep(delay)
        return retries + 1


class _Call:
    """What every attempt of one call sends, and its deadline (a plain class: cheap)."""

    __slots__ = (
        "body",
        "deadline",
        "fmt",
        "headers",
        "opener",
        "opens",
        "raw",
        "started",
        "stream",
        "timeout",
        "url",
    )

    def __init__(
        self,
        fmt: WireFormat[Any, Any],
        url: URL,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        stream: bool,
        timeout: Timeout,
        opener: Opener | None = None,
        raw: bool = False,
    ) -> None:
        if stream and not raw:  # raw: a plain body opened by with_streaming_response
            headers = {**headers, **_SSE_ACCEPT} if headers else _SSE_ACCEPT
        self.opener = opener
        self.opens = stream or opener is not None  # the result is built from the first chunk
        self.fmt = fmt
        self.url = url
        self.body = body
        self.headers = headers
        self.stream = stream
        self.timeout = timeout
        self.started = started = time.monotonic()
        self.deadline = None if timeout.total is None else started + timeout.total
        self.raw = raw


_SSE_ACCEPT: Mapping[str, str] = {"Accept": "text/event-stream"}
_HIDDEN: frozenset[type] = frozenset({Done})  # chat's [DONE] is not handed out

Opener = Callable[[Response, bytes], Any]
"""Builds a download's result from its response and its first chunk."""


async def _first_chunk(call: _Call, resp: Response) -> bytes:
    """The first body byte(s), within ``first_event`` of the call's start; else drop ``resp``."""
    limit = call.timeout.first_event
    try:
        if limit is None:
            return await resp.read_chunk()
        return await within(
            resp.read_chunk(),
            call.started + limit - time.monotonic(),
            "first_event",
            f"Stream timed out: no data within first_event={limit} s.",
        )
    except BaseException:
        resp.close()
        raise


def _budget(call: _Call, retries: int) -> float | None:
    """What is left of the call's deadline for the next attempt; raises once it has passed."""
    left = attempt_budget(call.timeout.total, call.deadline, time.monotonic())
    if left is not None and left <= 0:
        err = APITimeoutError("Request timed out: total deadline reached.", timeout="total")
        err.retries = retries
        raise err
    return left


def _first_event_timeout(exc: APIConnectionError) -> bool:
    """``first_event`` is measured from the start of the call: a retry has no time left."""
    return isinstance(exc, APITimeoutError) and exc.timeout == "first_event"
