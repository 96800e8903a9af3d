"""MockServer: an aiohttp.web server that speaks the OpenAI and Anthropic wire formats.

Shape of one request (``MockServer._handle``)::

    read + decode body -> record -> pick fault step -> latency -> fault
        -> strict budget -> plan the reply -> render bytes -> send

The reply is a pure function of the request (:func:`~._planning.plan_reply`),
so tests can compute what the server will say.  Each answer is rendered
once per distinct request body (per second, for the ``created`` time) and
cached with a mark where the response id goes (``_render``); a request then
costs one ``bytes.join``, and the common case (no fault, no pacing) one write.

This module is the aiohttp layer only: routing, auth, fault steps, the strict
budget's 429s and the enforcement modes' answers.  The bytes come from
``_render`` and the per-API renderers, the errors from ``_errors``, the
rate-limit arithmetic from ``_strict`` and ``_enforce``; a reply that is
paced, cut, stalled or reset is written by ``_send``.

Wire formats followed: OpenAI Chat Completions (objects ``chat.completion``
and ``chat.completion.chunk``, ``data: [DONE]``), Embeddings, Models,
Responses (``event:``-named semantic events with ``sequence_number``, ended
by ``response.completed``), Anthropic Messages (``message_start`` ...
``message_stop``, ``ping``, ``event: error``) and ``count_tokens``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping
from typing import Any

import msgspec
from aiohttp import web
from multidict import CIMultiDictProxy

from . import _faults, _lookup, _send, _strict
from ._batch_routes import answer_line, is_batch_route, serve_batch_route
from ._batch_store import BatchStore
from ._enforce import Budget, Enforcement, Enforcer, make_budget
from ._errors import (
    BADSHAPE_JSON,
    HTML_502,
    MALFORMED_JSON,
    bad_frame,
    error_body,
    model_not_found,
)
from ._faults import FaultPlan, Step
from ._planning import DEFAULT_TOKENS, reply_text
from ._recording import RecordedRequest
from ._render import CACHE_ENTRIES, CACHE_MAX_BODY, BadRequest, Rendered, render, unknown_model
from ._render_common import JSON, SSE, decode
from ._thread import LoopThread

_NO_ENFORCEMENT = Enforcement()

__all__ = ["MockServer"]

MAX_BODY = 32_000_000


# -- the server ----------------------------------------------------------------


class MockServer:
    """An OpenAI- and Anthropic-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

    Args:
        host: interface to bind (default ``127.0.0.1``).
        port: TCP port; ``0`` (default) picks a free one.
        latency: seconds to wait before sending the response headers.
        tokens: words per answer (one stream delta each) when the request
            sets no ``x-mock-tokens`` header; ``max_tokens`` lowers it.
        tokens_per_second: stream pacing; ``None`` sends every event at once.
        keepalive_every: send a ``: keep-alive`` comment after every N events (0: never).
        big_event: bytes of one extra text delta appended to every answer (0: none).
        faults: a fault script such as ``"429:retry-after=1,500,ok"`` (see docs/testing.md).
        rpm: strict-provider requests-per-minute budget (``None``: unlimited).
        tpm: strict-provider tokens-per-minute budget (``None``: unlimited).
        window: enforce ``rpm``/``tpm`` over fixed windows of this many seconds
            (as OpenAI and Azure enforce per-minute limits per 1 s or 10 s),
            still advertising per-minute headers; ``None``: a bucket with one
            second of burst.
        charge_rejected: refused requests count against the budget too (OpenAI).
        gateway_429: probability of a 429 without rate headers (a gateway, vLLM, Ollama).
        gateway_retry_after: ``Retry-After`` seconds of those 429s (``None``: none).
        max_concurrency: requests in flight above this get 429 "too many
            concurrent requests" (Anthropic routes: 529 ``overloaded_error``).
        concurrency_retry_after: refuse those as a LiteLLM proxy does
            (``max_parallel_requests``): 429 on every route, with this
            ``Retry-After`` (LiteLLM: its 60 s rate window) and
            ``rate_limit_type: max_parallel_requests``; ``None``: no header.
        concurrency_headers: state ``max_concurrency`` on non-streaming
            successes as LiteLLM v3 does
            (``x-ratelimit-api_key-limit-max_parallel_requests`` and
            ``-remaining-``).
        queue_503: refuse the overflow as Ollama does when its queue is full:
            503 ``server busy, please try again.  maximum pending requests
            exceeded``, no ``Retry-After``.
        change_after: seconds after the first request when ``rpm``/``tpm`` change ...
        change_factor: ... by this factor (0.5: the budget halves mid-run).
        seed: seed of the random ``gateway_429`` refusals.
        api_key: when set, requests without this key get a 401.
        strict_models: answer 404 (as the providers do) for a model that this
            provider's ``/v1/models`` does not list; by default any model is served.
        record: keep every request in :attr:`requests` (turn off for long benchmarks).
        batch_phase: seconds each Batch API phase lasts (validating, in progress,
            finalizing; see ``docs/testing.md``): the 24 h lifecycle, compressed.
        batch_window: seconds standing for the 24 h completion window; a batch
            whose work outlasts it ends ``expired``.

    Raises:
        ValueError: ``faults`` is not a valid script.

    Example:
        >>> async def demo():
        ...     async with MockServer(faults="429,ok") as server:
        ...         ...  # point a client at server.openai_base_url
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        tokens: int = DEFAULT_TOKENS,
        tokens_per_second: float | None = None,
        keepalive_every: int = 0,
        big_event: int = 0,
        faults: str | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        window: float | None = None,
        charge_rejected: bool = False,
        gateway_429: float = 0.0,
        gateway_retry_after: float | None = 0.2,
        max_concurrency: int | None = None,
        concurrency_retry_after: float | None = None,
        concurrency_headers: bool = False,
        queue_503: bool = False,
        change_after: float | None = None,
        change_factor: float = 0.5,
        seed: int = 0,
        api_key: str | None = None,
        strict_models: bool = False,
        record: bool = True,
        batch_phase: float = 0.2,
        batch_window: float = 3600.0,
    ) -> None:
        self.host = host
        self.port = port
        self.latency = latency
        self.tokens = tokens
        self.tokens_per_second = tokens_per_second
        self.keepalive_every = keepalive_every
        self.big_event = big_event
        self.rpm = rpm
        self.tpm = tpm
        self.enforcement = Enforcement(
            window=window,
            charge_rejected=charge_rejected,
            gateway_429=gateway_429,
            gateway_retry_after=gateway_retry_after,
            max_concurrency=max_concurrency,
            concurrency_retry_after=concurrency_retry_after,
            concurrency_headers=concurrency_headers,
            queue_503=queue_503,
            change_after=change_after,
            change_factor=change_factor,
            seed=seed,
        )
        self._enforcer: Enforcer | None = None
        self.api_key = api_key
        self.strict_models = strict_models
        self.record = record
        self._plan = FaultPlan(faults)
        self._stored: OrderedDict[str, bytes] = OrderedDict()
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.status_counts: Counter[int] = Counter()
        self.rate_limited = 0
        self._buckets: tuple[Budget | None, Budget | None] = (None, None)
        self._runner: web.ServerRunner | None = None
        self._sock: socket.socket | None = None
        self._closing: asyncio.Event | None = None
        self._thread: LoopThread | None = None
        self._cache: dict[tuple[str, bool, int, bytes], Rendered] = {}
        self._prefix = os.urandom(5).hex()
        self._counter = 0
        self.batch_store = BatchStore(
            functools.partial(answer_line, self), self._next_id, phase=batch_phase,
            window=batch_window,
        )  # fmt: skip

    # -- lifecycle -------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (valid once started)."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """Base URL for OpenAI clients (``url + "/v1"``)."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for Anthropic clients (no ``/v1``, as the official SDK takes it)."""
        return self.url

    async def start(self) -> MockServer:
        """Bind the socket and start serving in the running loop.

        Returns:
            The server itself, with :attr:`port` set.
        """
        if self._runner is not None:
            raise RuntimeError("MockServer is already started")
        self._closing = asyncio.Event()
        now = time.monotonic()
        window = self.enforcement.window
        if self.enforcement != _NO_ENFORCEMENT:
            self._enforcer = Enforcer(self.enforcement)
        self._buckets = (
            make_budget(self.rpm, now, window),
            make_budget(self.tpm, now, window),
        )
        server = web.Server(self._handle, handler_cancellation=True, access_log=None)
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            site = web.SockSite(runner, sock, backlog=4096)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._sock, self._runner = sock, runner
        self.port = sock.getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop serving: end stalls, drop open connections, close every socket."""
        if self._runner is None:
            return
        assert self._closing is not None
        self._closing.set()
        runner, self._runner = self._runner, None
        await runner.cleanup()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> MockServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start_in_thread(self, timeout: float = 10.0) -> MockServer:
        """Run the server in a background thread with its own event loop.

        For synchronous code, or to keep the server off the loop under test.
        Returns once the port is bound; :meth:`stop_thread` ends it.

        Returns:
            The server itself.

        Example:
            >>> server = MockServer().start_in_thread()
            >>> server.stop_thread()
        """
        if self._thread is not None:
            raise RuntimeError("MockServer thread already running")
        thread = LoopThread(self.start, self.close, "rawllm-mock-server")
        thread.run(timeout)
        self._thread = thread
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        """Stop a server started with :meth:`start_in_thread` and join its thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.stop(timeout)

    def __enter__(self) -> MockServer:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()

    # -- controls and observations --------------------------------------------

    def set_faults(self, script: str | None, key: str | None = None) -> None:
        """Replace the fault script (the global one, or the one for requests with ``x-mock-key``).

        Raises:
            ValueError: the script is not valid.
        """
        self._plan.set(script, key)

    def pending_faults(self, key: str | None = None) -> str:
        """The steps not consumed yet, as a script."""
        return _faults.join_steps(self._plan.pending(key))

    def reply_text(self, body: Mapping[str, Any], api: str = "chat") -> str:
        """The answer text this server sends for ``body`` (its ``tokens``/``big_event`` applied)."""
        return reply_text(body, api, tokens=self.tokens, big_event=self.big_event)

    def reset_stats(self) -> None:
        """Forget recorded requests and counters (in-flight requests are kept counting)."""
        self.requests.clear()
        self.status_counts.clear()
        self.rate_limited = 0
        self.peak_in_flight = self.in_flight

    # -- request handling -------------------------------------------------------

    def _next_id(self) -> str:
        self._counter += 1
        return f"{self._prefix}{self._counter:09x}"

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.in_flight += 1
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight
        try:
            return await self._respond(request)
        finally:
            self.in_flight -= 1

    async def _respond(self, request: web.BaseRequest) -> web.StreamResponse:
        arrived = time.monotonic()
        method, path = request.method, request.path
        headers = request.headers
        api, item_id, azure, anthropic = _lookup.route(method, path, headers)
        if api is None and is_batch_route(path):
            return await serve_batch_route(self, request, arrived)
        # Not request.read(): its 1 MiB cap is far below the providers' (a prompt with
        # images is easily more); the cap here is Anthropic's 32 MB.
        raw = await request.content.read() if method == "POST" else b""
        if len(raw) > MAX_BODY:
            return self._error(self._next_id(), anthropic, 413)
        body: Any = None
        if raw:
            try:
                body = decode(raw)
            except msgspec.DecodeError:
                body = None
        if self.record:
            self.requests.append(
                RecordedRequest(method, path, headers, body, arrived, raw, request.query_string)
            )
        rid = self._next_id()
        enforcer = self._enforcer
        if api is not None and enforcer is not None:
            self._buckets = enforcer.budgets(self._buckets, arrived)
            refusal = enforcer.refusal(self.in_flight, anthropic, time.time())
            if refusal is not None:
                status, message, extra, etype = refusal
                self.rate_limited += status == 429
                return self._error(rid, anthropic, status, message, extra, etype=etype)
            stated = enforcer.stated(self.in_flight)
        else:
            stated = None

        # -- fault step ---------------------------------------------------------
        script = headers.get("x-mock-faults")
        key = headers.get("x-mock-key")
        try:
            if script is not None:
                key = key or script
                self._plan.install(key, script)
            step = self._plan.next(key)
            latency = self.latency
            hdr_latency = headers.get("x-mock-latency")
            if hdr_latency is not None:
                latency = _faults._seconds(hdr_latency, "x-mock-latency")
            tokens = _faults.int_header(headers.get("x-mock-tokens"), "x-mock-tokens")
        except ValueError as exc:
            return self._error(rid, anthropic, 400, f"MockServer: {exc}")
        if latency > 0:
            await asyncio.sleep(latency)
        kind = step.kind
        if kind != "ok":
            early = await self._early_fault(request, step, rid, anthropic)
            if early is not None:
                return early

        if api is None or (azure and "api-version" not in request.query):
            if azure:  # Azure's words for a missing deployment route or api-version
                return self._error(rid, False, 404, "Resource not found")
            return self._error(rid, anthropic, 404, f"Invalid URL ({method} {path})")
        if self.api_key is not None and not self._authorized(headers, anthropic, azure):
            return self._error(rid, anthropic, 401)
        if method == "GET" and (item_id is not None or (anthropic and api == "models")):
            status, out = _lookup.answer(api, item_id, request.query, anthropic, self._stored)
            if isinstance(out, str):
                return self._error(rid, anthropic and api != "response", status, out)
            self.status_counts[200] += 1
            return web.Response(body=out, headers=self._base_headers(rid, anthropic, JSON))
        if method == "POST" and not isinstance(body, dict):
            msg = "We could not parse the JSON body of your request."
            return self._error(rid, anthropic, 400, msg)
        if self.strict_models and api != "models":
            missing = unknown_model(body, anthropic)
            if missing is not None:
                message = model_not_found(missing, anthropic)
                return self._error(rid, anthropic, 404, message, code="model_not_found")
        try:
            return await self._route(
                request, api, raw, body or {}, rid, step, anthropic, tokens, stated
            )
        except BadRequest as exc:
            return self._error(rid, anthropic, exc.status, exc.message)

    def _authorized(
        self, headers: CIMultiDictProxy[str], anthropic: bool, azure: bool = False
    ) -> bool:
        # Anthropic takes x-api-key, and Authorization: Bearer too (the official SDK
        # sends the latter when built with auth_token=).
        if anthropic and headers.get("x-api-key") == self.api_key:
            return True
        if azure and headers.get("api-key") == self.api_key:
            return True
        return headers.get("authorization") == f"Bearer {self.api_key}"

    async def _early_fault(
        self, request: web.BaseRequest, step: Step, rid: str, anthropic: bool
    ) -> web.StreamResponse | None:
        kind = step.kind
        if kind == "status":
            extra = _faults.retry_headers(step, time.time())
            return self._error(rid, anthropic, step.status, extra=extra)
        if kind == "reset":
            return _send.reset(request, hard=True)
        if kind == "html502":
            self.status_counts[502] += 1
            return web.Response(
                status=502, body=HTML_502, headers={"Content-Type": "text/html", "Server": "nginx"}
            )
        if kind == "stall":
            assert self._closing is not None
            if await _send.stall(self._closing, step.seconds):
                return _send.reset(request)
        return None

    def _base_headers(self, rid: str, anthropic: bool, content_type: str) -> dict[str, str]:
        h = {"Content-Type": content_type}
        if anthropic:
            h["request-id"] = "req_011" + rid
        else:
            h["x-request-id"] = "req_" + rid
            h["openai-processing-ms"] = "1"
            h["openai-version"] = "2020-10-01"
        return h

    def _error(
        self,
        rid: str,
        anthropic: bool,
        status: int,
        message: str | None = None,
        extra: list[tuple[str, str]] | None = None,
        code: str | None = None,
        etype: str | None = None,
    ) -> web.Response:
        self.status_counts[status] += 1
        headers = self._base_headers(rid, anthropic, JSON)
        if extra:
            headers.update(extra)
        body = error_body(anthropic, status, message, code, etype)
        return web.Response(status=status, body=body, headers=headers)

    def _rate_limited(
        self, rid: str, anthropic: bool, headers: dict[str, str], wait: float, which: str, cost: int
    ) -> web.Response:
        self.rate_limited += 1
        self.status_counts[429] += 1
        headers = {
            **self._base_headers(rid, anthropic, JSON),
            **headers,
            **_strict.refusal_headers(anthropic, wait),
        }
        bucket = self._buckets[0 if which == "requests" else 1]
        assert bucket is not None
        used = int(bucket.limit) - bucket.remaining(time.monotonic())
        body = _strict.refusal_body(anthropic, which, int(bucket.limit), cost, wait, used)
        return web.Response(status=429, body=body, headers=headers)

    async def _route(
        self,
        request: web.BaseRequest,
        api: str,
        raw: bytes,
        body: dict[str, Any],
        rid: str,
        step: Step,
        anthropic: bool,
        tokens: int | None,
        stated: dict[str, str] | None = None,
    ) -> web.StreamResponse:
        n_tokens = self.tokens if tokens is None else tokens
        cache_key = (api, anthropic, n_tokens, raw)
        entry = self._cache.get(cache_key)
        now = int(time.time())
        if entry is None or entry.created != now:
            entry = render(api, body, n_tokens, anthropic, now, self.big_event)
            if len(raw) <= CACHE_MAX_BODY:
                if len(self._cache) >= CACHE_ENTRIES:
                    self._cache.clear()
                self._cache[cache_key] = entry

        extra: dict[str, str] = {}
        if self._buckets != (None, None):
            extra, wait, which = _strict.debit(
                self._buckets,
                anthropic,
                entry.cost,
                time.monotonic(),
                time.time(),
                self.enforcement.charge_rejected,
            )
            if wait > 0.0:
                return self._rate_limited(rid, anthropic, extra, wait, which, entry.cost)

        rid_b = rid.encode()
        kind = step.kind
        if kind == "nostream" and entry.frames is not None:
            # A proxy that drops "stream": the whole JSON answer to a stream request.
            plain = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
            entry = render(api, plain, n_tokens, anthropic, now, self.big_event)
        if entry.frames is not None:
            if kind == "ok" and not self.tokens_per_second and not self.keepalive_every:
                # Fast path: one pre-rendered body, two byte replaces, one write.
                self.status_counts[200] += 1
                headers = self._base_headers(rid, anthropic, SSE)
                headers["Cache-Control"] = "no-cache"
                if extra:
                    headers.update(extra)
                return web.Response(body=rid_b.join(entry.parts), headers=headers)
            frames = [rid_b.join(f) for f in entry.frames]
            return await self._send_stream(request, api, rid, anthropic, frames, step, extra)

        if kind == "error@":
            return self._error(rid, anthropic, 529 if anthropic else 500)
        if kind == "malformed":
            payload = MALFORMED_JSON
        elif kind == "badshape":
            payload = BADSHAPE_JSON[api]
        else:
            payload = rid_b.join(entry.parts)
            if api == "responses" and body.get("store") is not False:
                _lookup.store(self._stored, "resp_" + rid, payload)
        headers = self._base_headers(rid, anthropic, JSON)
        if extra:
            headers.update(extra)
        if stated:  # LiteLLM v3 states its cap on non-streaming successes only
            headers.update(stated)
        self.status_counts[200] += 1
        if kind in ("reset-after-headers", "cut@", "stall@"):
            assert self._closing is not None
            return await _send.broken(request, kind, step, payload, headers, self._closing)
        return web.Response(body=payload, headers=headers)

    async def _send_stream(
        self,
        request: web.BaseRequest,
        api: str,
        rid: str,
        anthropic: bool,
        frames: list[bytes],
        step: Step,
        extra: dict[str, str],
    ) -> web.StreamResponse:
        headers = self._base_headers(rid, anthropic, SSE)
        headers["Cache-Control"] = "no-cache"
        if extra:
            headers.update(extra)
        kind = step.kind
        if kind == "malformed" or kind == "badshape":
            frames[0] = bad_frame(api, kind == "malformed")
        self.status_counts[200] += 1
        tps, every = self.tokens_per_second, self.keepalive_every
        if kind in ("ok", "malformed", "badshape") and not tps and not every:
            # Fast path: one body, one write.
            return web.Response(body=b"".join(frames), headers=headers)
        assert self._closing is not None
        return await _send.stream(request, api, frames, step, headers, tps, every, self._closing)
