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
from typing import Any, Self, TypeVar

from yarl import URL

from ._config import NOT_GIVEN, NotGiven, PoolLimits, RateLimit, Timeout, coerce_timeout
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    make_status_error,
    redact,
    register_secret,
    request_id_from,
)
from ._limiter import Limiter
from ._retry import RetryPolicy
from ._streaming import AsyncStream, StreamSpec
from ._transport import Transport, client_timeout
from ._version import __version__
from .types._base import Result, attach

__all__ = ["BaseClient", "RetryEvent"]

logger = logging.getLogger("rawllm")

R = TypeVar("R", bound=Result)

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
        _shared: _Shared | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        register_secret(api_key)
        self.api_key = api_key
        self.base_url = URL(base_url.rstrip("/"))
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
                Transport(pool=self.pool, headers=headers, session=session),
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
            "on_retry": self.on_retry,
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

    def batch(
        self,
        requests: Any,
        *,
        concurrency: int = 64,
        endpoint: str | None = None,
        **options: Any,
    ) -> Any:
        """Run many calls concurrently; yields one result per input as each completes.

        Args:
            requests: an iterable or async iterable of dicts of ``create()`` keyword
                arguments (consumed lazily, so memory stays bounded).
            concurrency: calls in flight at once.
            endpoint: which call to make (default: chat completions for OpenAI,
                messages for Anthropic); see ``docs/batch.md``.
            **options: further options of ``rawllm._batch.run_batch``.

        Returns:
            An async iterator of ``BatchResult`` (``.index``, ``.custom_id``,
            ``.response``, ``.error``, ``.retries``, ``.latency``).

        Example:
            >>> async for result in client.batch(requests, concurrency=32):
            ...     print(result.index, result.error or result.response)
        """
        from ._batch import run_batch

        return run_batch(self, requests, concurrency=concurrency, endpoint=endpoint, **options)

    def __repr__(self) -> str:
        return redact(
            f"{type(self).__name__}(base_url={self._base_str!r}, api_key='[REDACTED]', "
            f"max_retries={self.max_retries}, timeout={self.timeout!r})"
        )

    # -- request plumbing ----------------------------------------------------

    def _url(self, path: str, query: Mapping[str, Any] | None) -> URL:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = URL(self._base_str + path, encoded=True)
        if query:
            url = url.update_query({k: str(v) for k, v in query.items()})
        return url

    def _timeout_for(self, timeout: Any) -> Timeout:
        if timeout is NOT_GIVEN:
            return self.timeout
        return coerce_timeout(timeout)

    async def _request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        decode: Callable[[bytes], R],
        *,
        tokens: int = 0,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: Any = NOT_GIVEN,
        max_retries: Any = NOT_GIVEN,
    ) -> R:
        """One call with retries: returns the decoded result or raises the final error."""
        policy = self._policy if max_retries is NOT_GIVEN else RetryPolicy(max_retries=max_retries)
        t = self.timeout if timeout is NOT_GIVEN else coerce_timeout(timeout)
        url = self._url(path, extra_query)
        shared = self._shared
        transport = shared.transport
        limiter = shared.limiter
        headers = transport.merge_headers(extra_headers)
        deadline = None if t.total is None else time.monotonic() + t.total
        aio_timeout = self._aio_timeout if timeout is NOT_GIVEN else client_timeout(t, None)
        retries = 0
        while True:
            if deadline is not None:
                aio_timeout = client_timeout(t, self._time_left(deadline, retries))
            permit = await self._acquire(limiter, tokens, deadline, retries)
            status: int | None = None
            rheaders: Mapping[str, str] | None = None
            try:
                status, rheaders, data = await transport.request(
                    method, url, body, headers, aio_timeout
                )
            except APIConnectionError as exc:
                permit.release()
                if transport.closed:  # closed client: retrying cannot help
                    exc.retries = retries
                    raise
                error: APIError = exc
            except BaseException:  # cancellation: give the slot back
                permit.release()
                raise
            else:
                limiter.observe(status, rheaders)
                if status < 300:
                    try:
                        result = decode(data)
                    finally:
                        permit.release()
                    attach(result, data, request_id_from(rheaders))
                    if retries:
                        result.__dict__["_retries"] = retries
                    usage = getattr(result, "usage", None)
                    if usage is not None:
                        permit.settle(_usage_tokens(usage))
                    return result
                permit.release()
                error = make_status_error(status, rheaders, data, url=str(url))
            retries = await self._backoff(
                policy, error, status, rheaders, retries, deadline, method, url
            )

    async def _stream(
        self,
        method: str,
        path: str,
        body: bytes,
        spec: StreamSpec,
        *,
        tokens: int = 0,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: Any = NOT_GIVEN,
        max_retries: Any = NOT_GIVEN,
    ) -> AsyncStream[Any]:
        """Open a stream, retrying until its first body byte has arrived."""
        policy = self._policy if max_retries is NOT_GIVEN else RetryPolicy(max_retries=max_retries)
        t = self.timeout if timeout is NOT_GIVEN else coerce_timeout(timeout)
        url = self._url(path, extra_query)
        shared = self._shared
        transport = shared.transport
        limiter = shared.limiter
        headers = transport.merge_headers(extra_headers)
        if headers is None:
            headers = {"Accept": "text/event-stream"}
        else:
            headers = {**headers, "Accept": "text/event-stream"}
        started = time.monotonic()
        deadline = None if t.total is None else started + t.total
        retries = 0
        while True:
            budget = None if deadline is None else self._time_left(deadline, retries)
            aio_timeout = client_timeout(t, budget)
            permit = await self._acquire(limiter, tokens, deadline, retries)
            status: int | None = None
            rheaders: Mapping[str, str] | None = None
            try:
                resp = await transport.open(method, url, body, headers, aio_timeout)
            except APIConnectionError as exc:
                permit.release()
                if transport.closed:  # closed client: retrying cannot help
                    exc.retries = retries
                    raise
                error: APIError = exc
            except BaseException:  # cancellation: give the slot back
                permit.release()
                raise
            else:
                status = resp.status
                rheaders = resp.headers
                limiter.observe(status, rheaders)
                if status < 300:
                    try:
                        first = await self._first_chunk(resp, t, started)
                    except APIConnectionError as exc:
                        resp.close()
                        permit.release()
                        if isinstance(exc, APITimeoutError) and exc.timeout == "first_event":
                            # Measured from the start of the call: another attempt has no time.
                            exc.retries = retries
                            raise
                        error = exc
                        status = None  # a network failure, not a "200" to judge by status
                    except BaseException:
                        resp.close()
                        permit.release()
                        raise
                    else:
                        return AsyncStream(
                            resp,
                            first,
                            spec,
                            permit=permit,
                            request_id=request_id_from(rheaders),
                            first_event=t.first_event,
                            event_idle=t.event_idle,
                            started=started,
                            retries=retries,
                        )
                else:
                    try:
                        data = await transport.read_rest(resp)
                    except APIConnectionError:
                        data = b""
                    finally:
                        resp.release()
                        permit.release()
                    error = make_status_error(status, rheaders, data, url=str(url))
            retries = await self._backoff(
                policy, error, status, rheaders, retries, deadline, method, url
            )

    @staticmethod
    async def _first_chunk(resp: Any, t: Timeout, started: float) -> bytes:
        """Wait for the first body byte (still inside the retry loop)."""
        if t.first_event is None:
            return await Transport.read_chunk(resp)
        remaining = started + t.first_event - time.monotonic()
        try:
            async with asyncio.timeout(max(remaining, 0.0)):
                return await Transport.read_chunk(resp)
        except TimeoutError as exc:
            if isinstance(exc, APITimeoutError):
                raise
            raise APITimeoutError(
                f"Stream timed out: no data within first_event={t.first_event} s.",
                timeout="first_event",
            ) from None

    @staticmethod
    def _time_left(deadline: float, retries: int) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            err = APITimeoutError("Request timed out: total deadline reached.", timeout="total")
            err.retries = retries
            raise err
        return left

    async def _acquire(
        self, limiter: Limiter, tokens: int, deadline: float | None, retries: int
    ) -> Any:
        if deadline is None:
            return await limiter.acquire(tokens)
        left = self._time_left(deadline, retries)
        try:
            async with asyncio.timeout(left):
                return await limiter.acquire(tokens)
        except TimeoutError as exc:
            if isinstance(exc, APIError):
                raise
            err = APITimeoutError(
                "Request timed out: total deadline reached while waiting for the rate limit.",
                timeout="total",
            )
            err.retries = retries
            raise err from None

    async def _backoff(
        self,
        policy: RetryPolicy,
        error: APIError,
        status: int | None,
        headers: Mapping[str, str] | None,
        retries: int,
        deadline: float | None,
        method: str,
        url: URL,
    ) -> int:
        """Sleep before the next attempt, or raise ``error`` when the policy says stop."""
        time_left = None if deadline is None else deadline - time.monotonic()
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
            raise error
        what = f"HTTP {status}" if status is not None else type(error).__name__
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


def _usage_tokens(usage: Any) -> int:
    """Tokens a response used (OpenAI total_tokens, or input + output)."""
    total = getattr(usage, "total_tokens", None)
    if isinstance(total, int):
        return total
    inp = getattr(usage, "input_tokens", None) or getattr(usage, "prompt_tokens", None) or 0
    out = getattr(usage, "output_tokens", None) or getattr(usage, "completion_tokens", None) or 0
    return int(inp) + int(out)
