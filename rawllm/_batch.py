"""``client.batch()``: many calls at bounded concurrency, exactly one result per input.

Invariants:
- every input pulled from ``requests`` yields exactly one ``BatchResult``
  (a response or an error), whatever the input or the server did; a bad
  input (not a dict, bad parameters, a 400, a timeout) is one error result
  and the run goes on;
- at most ``concurrency`` calls are in flight, and at most ``concurrency +
  buffer`` inputs have been pulled and not yet handed to the consumer, so
  memory stays bounded for any number of inputs (the iterable is consumed
  lazily, by one feeder task, so async generators are safe);
- results come out as calls complete, not in input order; ``index`` is the
  input's position (0-based) so the set of indices is ``range(n)``;
- closing the iterator (``aclose()``, leaving ``async with``, cancelling the
  consumer) cancels the feeder and every call in flight and waits for them,
  so nothing is left pending and no connection leaks;
- calls go through the client's own ``create()`` methods, so its rate
  limits, retries and timeouts apply unchanged.

If the ``requests`` iterable itself raises, the calls already started are
finished and yielded first, then the exception is raised from the iterator.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from ._exceptions import APIError

__all__ = ["BatchResult", "BatchRun", "InvalidRequestError", "resolve_endpoint", "run_batch"]

DEFAULT_CONCURRENCY = 64

# Endpoint names and the Batch API urls that mean them.
_ENDPOINTS: dict[str, str] = {
    "chat.completions": "chat.completions",
    "chat": "chat.completions",
    "/v1/chat/completions": "chat.completions",
    "/chat/completions": "chat.completions",
    "embeddings": "embeddings",
    "/v1/embeddings": "embeddings",
    "/embeddings": "embeddings",
    "responses": "responses",
    "/v1/responses": "responses",
    "/responses": "responses",
    "messages": "messages",
    "/v1/messages": "messages",
    "/messages": "messages",
}


class InvalidRequestError(APIError):
    """A batch input rawllm could not even send (not a dict, bad or missing parameters).

    The original exception (a ``TypeError`` for a missing ``model``, ...) is
    ``__cause__``.  It is an ``APIError``, so ``except rawllm.APIError``
    catches every batch failure.
    """


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of one batch input.

    Attributes:
        index: position of the input in ``requests`` (0-based).
        custom_id: the input's ``custom_id``, when it had one.
        response: the typed result (``ChatCompletion``, ``Message``, ...), or None.
        error: a ``rawllm.APIError`` (``APIStatusError``, ``APITimeoutError``,
            ``InvalidRequestError``, ...), or None.
        retries: retries the call took.
        latency: seconds from the start of the call (rate-limit waits included)
            to its result.
    """

    index: int
    custom_id: str | None
    response: Any
    error: APIError | None
    retries: int
    latency: float

    @property
    def ok(self) -> bool:
        """True when the call returned a response."""
        return self.error is None


def resolve_endpoint(client: object, name: str | None) -> Callable[..., Awaitable[Any]]:
    """The ``create`` method an endpoint name or Batch API url stands for.

    Args:
        client: a ``rawllm.OpenAI`` or ``rawllm.Anthropic``.
        name: ``chat.completions``, ``embeddings``, ``responses``, ``messages``,
            or a url such as ``/v1/chat/completions``; None for the client's
            default (chat completions for OpenAI, messages for Anthropic).

    Returns:
        The bound ``create`` coroutine function.

    Raises:
        InvalidRequestError: unknown endpoint, or one this client does not have.

    Example:
        >>> create = resolve_endpoint(client, "/v1/embeddings")
    """
    if name is None:
        key = "messages" if hasattr(client, "messages") else "chat.completions"
    else:
        key = _ENDPOINTS.get(name.split("?", 1)[0].rstrip("/"), "")
        if not key:
            raise InvalidRequestError(
                f"unknown endpoint {name!r}; use chat.completions, embeddings, responses, "
                "messages or their /v1/... urls"
            )
    target: Any = client
    for part in key.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise InvalidRequestError(
                f"{type(client).__name__} has no {key!r} endpoint (wrong --provider or client?)"
            )
    create: Callable[..., Awaitable[Any]] = target.create
    return create


def _split(item: Any) -> tuple[str | None, str | None, dict[str, Any]]:
    """An input -> (custom_id, endpoint url or None, create() kwargs)."""
    if not isinstance(item, Mapping):
        raise InvalidRequestError(
            f"batch input must be a dict of create() arguments, got {type(item).__name__}"
        )
    if "body" in item and ("url" in item or "method" in item):  # OpenAI Batch API line
        body = item["body"]
        if not isinstance(body, Mapping):
            raise InvalidRequestError('"body" must be a dict')
        method = item.get("method", "POST")
        if not isinstance(method, str) or method.upper() != "POST":
            raise InvalidRequestError(f'"method" must be "POST", got {method!r}')
        url = item.get("url")
        return (
            _cid(item.get("custom_id")),
            url if isinstance(url, str) and url else None,
            dict(body),
        )
    if "params" in item and "custom_id" in item:  # Anthropic Message Batches request
        params = item["params"]
        if not isinstance(params, Mapping):
            raise InvalidRequestError('"params" must be a dict')
        return _cid(item["custom_id"]), "messages", dict(params)
    kwargs = dict(item)
    cid = kwargs.pop("custom_id", None)
    return _cid(cid), None, kwargs


def _cid(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _local_error(exc: Exception) -> APIError:
    """A typed error for an exception raised before or around a call (never an APIError)."""
    if isinstance(exc, TypeError | ValueError | LookupError):  # bad or missing parameters
        err: APIError = InvalidRequestError(f"invalid request: {type(exc).__name__}: {exc}")
    else:
        err = APIError(f"unexpected error: {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


class _Run:
    """The machinery of one ``run_batch`` call (feeder task, calls, result queue)."""

    __slots__ = (
        "ahead",
        "calls",
        "client",
        "creates",
        "endpoint",
        "feeder",
        "pulled",
        "queue",
        "requests",
        "source_error",
        "tasks",
    )

    def __init__(
        self,
        client: object,
        requests: Iterable[Any] | AsyncIterable[Any],
        concurrency: int,
        buffer: int,
        endpoint: str | None,
    ) -> None:
        self.client = client
        self.requests = requests
        self.endpoint = endpoint
        # create() methods by endpoint name or url, resolved once each.
        self.creates: dict[str | None, Callable[..., Awaitable[Any]]] = {}
        self.calls = asyncio.Semaphore(concurrency)
        self.ahead = asyncio.Semaphore(concurrency + buffer)
        self.queue: asyncio.Queue[BatchResult | None] = asyncio.Queue()
        self.tasks: set[asyncio.Task[None]] = set()
        self.pulled = -1  # set to the input count when the feeder is done
        self.source_error: BaseException | None = None
        self.feeder: asyncio.Task[None] | None = None

    async def feed(self) -> None:
        requests = self.requests
        index = 0
        try:
            if isinstance(requests, AsyncIterable):
                ait = aiter(requests)
                while True:
                    await self.ahead.acquire()
                    await self.calls.acquire()
                    try:
                        item = await anext(ait)
                    except StopAsyncIteration:
                        self._give_back()
                        break
                    except BaseException:
                        self._give_back()
                        raise
                    self._start(index, item)
                    index += 1
            else:
                it = iter(requests)
                while True:
                    await self.ahead.acquire()
                    await self.calls.acquire()
                    try:
                        item = next(it)
                    except StopIteration:
                        self._give_back()
                        break
                    except BaseException:
                        self._give_back()
                        raise
                    self._start(index, item)
                    index += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the input source itself failed: report after the calls
            self.source_error = exc
        self.pulled = index
        self.queue.put_nowait(None)

    def _give_back(self) -> None:
        self.calls.release()
        self.ahead.release()

    def _start(self, index: int, item: Any) -> None:
        task = asyncio.get_running_loop().create_task(self.call(index, item))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def call(self, index: int, item: Any) -> None:
        started = time.monotonic()
        custom_id: str | None = None
        response: Any = None
        error: APIError | None = None
        retries = 0
        try:
            if isinstance(item, Mapping):  # known even when the rest of the item is bad
                custom_id = _cid(item.get("custom_id"))
            custom_id, url, kwargs = _split(item)
            name = url or self.endpoint
            create = self.creates.get(name)
            if create is None:
                create = resolve_endpoint(self.client, name)
                if name is None or name in _ENDPOINTS:  # a bounded set of keys
                    self.creates[name] = create
            if kwargs.get("stream"):
                raise InvalidRequestError("stream=True is not supported in a batch")
            response = await create(**kwargs)
            retries = getattr(response, "_retries", 0)
        except APIError as exc:
            error = exc
            retries = exc.retries
        except Exception as exc:  # bad parameters: a TypeError, a ValueError, ...
            error = _local_error(exc)
        finally:
            self.calls.release()
        self.queue.put_nowait(
            BatchResult(index, custom_id, response, error, retries, time.monotonic() - started)
        )

    async def results(self) -> AsyncIterator[BatchResult]:
        self.feeder = asyncio.get_running_loop().create_task(self.feed())
        yielded = 0
        try:
            while self.pulled < 0 or yielded < self.pulled:
                result = await self.queue.get()
                if result is None:
                    continue
                self.ahead.release()
                yielded += 1
                yield result
            if self.source_error is not None:
                raise self.source_error
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        pending: list[asyncio.Future[None]] = []
        if self.feeder is not None and not self.feeder.done():
            self.feeder.cancel()
            pending.append(self.feeder)
        for task in list(self.tasks):
            task.cancel()
            pending.append(task)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self.feeder is not None and self.feeder.done() and not self.feeder.cancelled():
            self.feeder.exception()  # retrieved, so asyncio never warns about it


class BatchRun:
    """The async iterator ``client.batch()`` returns (also an async context manager).

    Leaving ``async with`` or calling ``aclose()`` cancels the calls still in
    flight; plain ``async for`` to the end needs neither.

    Example:
        >>> async with client.batch(requests, concurrency=32) as results:
        ...     async for r in results:
        ...         print(r.index, r.error or r.response)
    """

    __slots__ = ("_agen",)

    def __init__(self, agen: AsyncIterator[BatchResult]) -> None:
        self._agen = agen

    def __aiter__(self) -> Self:
        return self

    def __anext__(self) -> Awaitable[BatchResult]:
        return self._agen.__anext__()

    async def aclose(self) -> None:
        """Stop: cancel the calls in flight and wait for them."""
        aclose = getattr(self._agen, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def run_batch(
    client: object,
    requests: Iterable[Any] | AsyncIterable[Any],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    endpoint: str | None = None,
    buffer: int | None = None,
) -> BatchRun:
    """Run every request through ``client``, ``concurrency`` at a time.

    Args:
        client: a ``rawllm.OpenAI`` or ``rawllm.Anthropic``.
        requests: an iterable or async iterable (consumed lazily) of dicts of
            ``create()`` keyword arguments (an optional ``custom_id`` key is
            taken out), or of OpenAI Batch API lines (``custom_id``, ``method``,
            ``url``, ``body``; the url picks the endpoint per item), or of
            Anthropic Message Batches requests (``custom_id``, ``params``).
        concurrency: calls in flight at once (>= 1).
        endpoint: ``chat.completions``, ``embeddings``, ``responses`` or
            ``messages`` (or a ``/v1/...`` url); default: chat completions for
            an OpenAI client, messages for an Anthropic one.
        buffer: finished results that may wait for the consumer before no new
            call starts (default ``min(concurrency, 16)``).

    Returns:
        A ``BatchRun``: an async iterator of ``BatchResult`` in completion order.

    Raises:
        ValueError: ``concurrency`` < 1 or ``buffer`` < 0 (at once, not per item).
        InvalidRequestError: ``endpoint`` is unknown or not one this client has.

    Example:
        >>> reqs = ({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": q}]}
        ...         for q in questions)
        >>> async for r in client.batch(reqs, concurrency=32):
        ...     print(r.index, r.error or r.response.choices[0].message.content)
    """
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    if buffer is None:
        buffer = min(concurrency, 16)
    if buffer < 0:
        raise ValueError("buffer must be >= 0")
    if endpoint is not None:
        resolve_endpoint(client, endpoint)  # a wrong endpoint fails now, not once per item
    run = _Run(client, requests, concurrency, buffer, endpoint)
    return BatchRun(run.results())
