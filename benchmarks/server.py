"""The benchmark server: both wire formats, real providers' response headers, nothing else.

Why not ``rawllm.testing.MockServer``: the benchmark target must be cheap
(it runs on its own core, but must never be what limits a client) and must
send what api.openai.com and api.anthropic.com send, header for header,
independent of the library it measures.  This is a bare ``asyncio.Protocol``
HTTP/1.1 server (keep-alive, ``Content-Length`` request bodies) answering
``POST /v1/chat/completions`` and ``POST /v1/messages`` from pre-rendered
bodies; only the headers that change per response are formatted per call.

Header modes (``--headers``):

``none``
    what vLLM, Ollama and most proxies send: ``date``, ``server``,
    ``content-type``, the length (or chunked framing).
``loose``
    the providers' full header sets (request ids, processing time, API
    version, Cloudflare's ``cf-ray``, ``set-cookie`` and friends, and every
    rate-limit header) with limits far above any load one process can make:
    10,000,000 requests and 10,000,000,000 tokens per minute.
``binding``
    the same set as a large account receives it: OpenAI tier 5
    (``x-ratelimit-limit-requests: 30000``, ``-tokens: 150000000``), and an
    Anthropic account of the same request limit.  A client that follows the
    headers paces itself at 500 starts/s; one that ignores them is not
    stopped (the server does not enforce limits: it only advertises them).

The rate-limit values follow the providers' semantics: a bucket per limit
refilling continuously; OpenAI's ``remaining-*`` is what is left of it and
``reset-*`` the time until it is full again, as a Go duration (``2ms``,
``1.5s``, ``6m0s``); Anthropic's ``-reset`` is the RFC 3339 instant it is
full again.  Header sets come from recorded api.openai.com /
api.anthropic.com responses (see docs/benchmarks.md).

Usage: ``python -m benchmarks.server --headers binding --port 0`` prints its
URL on the first line.  ``BenchServer(record=True)`` keeps every request it
received (for the fairness test).
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import itertools
import json
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.chat_stream import chat_stream

MODES = ("none", "loose", "binding")

# (requests per minute, tokens per minute) advertised in each mode
LIMITS = {
    "loose": {"openai": (10_000_000, 10_000_000_000), "anthropic": (10_000_000, 10_000_000_000)},
    "binding": {"openai": (30_000, 150_000_000), "anthropic": (30_000, 200_000_000)},
}

_STREAM_RE = re.compile(rb'"stream"\s*:\s*true')

# ------------------------------------------------------------------ bodies

CHAT_BODY = json.dumps(
    {
        "id": "chatcmpl-B6HtLSCwFuOEHjtxeGMxgAxqPSx6L",
        "object": "chat.completion",
        "created": 1740838443,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello there, how are you today?",
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 14,
            "completion_tokens": 8,
            "total_tokens": 22,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
    },
    indent=2,  # api.openai.com pretty-prints non-stream bodies
).encode()

MESSAGE_BODY = json.dumps(
    {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5-20251001",
        "content": [{"type": "text", "text": "Hello there, how are you today?"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 14,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 8,
            "service_tier": "standard",
        },
    },
    separators=(",", ":"),
).encode()


def anthropic_events(n_deltas: int) -> list[bytes]:
    """The SSE events of a streamed Anthropic message with ``n_deltas`` text deltas."""

    def ev(kind: str, data: dict[str, Any]) -> bytes:
        text = json.dumps({"type": kind, **data}, separators=(",", ":"), ensure_ascii=False)
        return f"event: {kind}\ndata: {text}\n\n".encode()

    msg = json.loads(MESSAGE_BODY)
    msg["content"], msg["stop_reason"] = [], None
    msg["usage"]["output_tokens"] = 1
    out = [
        ev("message_start", {"message": msg}),
        ev("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ev("ping", {}),
    ]
    words = ("Hello", " there", ",", " how", " are", " you", " today", "?", " caf\u00e9", " \u2014")
    for i in range(n_deltas):
        delta = {"type": "text_delta", "text": words[i % len(words)]}
        out.append(ev("content_block_delta", {"index": 0, "delta": delta}))
    out.append(ev("content_block_stop", {"index": 0}))
    usage = {"output_tokens": n_deltas}
    out.append(ev("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": usage}))
    out.append(ev("message_stop", {}))
    return out


def openai_events(n_chunks: int) -> list[bytes]:
    """The SSE events of a streamed chat completion (``benchmarks.chat_stream``), one per item."""
    return [e + b"\n\n" for e in chat_stream(n_chunks).split(b"\n\n") if e]


# ----------------------------------------------------------------- headers


def go_duration(seconds: float) -> str:
    """OpenAI's reset format (Go's ``time.Duration``): ``2ms``, ``1.5s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    sec = f"{s:.3f}".rstrip("0").rstrip(".") + "s"
    if h:
        return f"{int(h)}h{int(m)}m{sec}"
    if m:
        return f"{int(m)}m{sec}"
    return sec


def rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass
class Bucket:
    """A rate limit as the provider keeps it: ``limit`` per minute, refilled continuously."""

    limit: float
    level: float = -1.0
    at: float = 0.0

    def take(self, n: float, now: float) -> tuple[int, float]:
        """Take ``n``; return (remaining, seconds until full again)."""
        rate = self.limit / 60.0
        if self.level < 0:
            self.level, self.at = self.limit, now
        self.level = min(self.limit, self.level + (now - self.at) * rate) - n
        self.at = now
        return max(0, int(self.level)), (self.limit - self.level) / rate


@dataclass
class HeaderMaker:
    """Response headers of one provider in one mode (everything but framing)."""

    api: str  # "openai" | "anthropic"
    mode: str
    ids: Any = field(default_factory=lambda: itertools.count(0x1CD77762E8DA2615))
    buckets: dict[str, Bucket] = field(default_factory=dict)
    _date: tuple[int, str] = (0, "")

    def __post_init__(self) -> None:
        if self.mode != "none":
            rpm, tpm = LIMITS[self.mode][self.api]
            self.buckets = {"requests": Bucket(rpm), "tokens": Bucket(tpm)}
            if self.api == "anthropic":
                self.buckets["input"] = Bucket(tpm * 0.75)
                self.buckets["output"] = Bucket(tpm * 0.15)

    def date(self) -> str:
        sec = int(time.time())
        if self._date[0] != sec:
            self._date = (sec, email.utils.formatdate(sec, usegmt=True))
        return self._date[1]

    def render(self, tokens_in: int, tokens_out: int) -> str:
        date = self.date()
        if self.mode == "none":
            return f"date: {date}\r\nserver: uvicorn\r\n"
        now = time.monotonic()
        rid = next(self.ids)
        if self.api == "openai":
            return self._openai(date, now, rid, tokens_in + tokens_out)
        return self._anthropic(date, now, rid, tokens_in, tokens_out)

    def _openai(self, date: str, now: float, rid: int, tokens: int) -> str:
        b = self.buckets
        r_left, r_reset = b["requests"].take(1, now)
        t_left, t_reset = b["tokens"].take(tokens, now)
        return (
            f"date: {date}\r\n"
            "access-control-expose-headers: X-Request-ID\r\n"
            "openai-organization: user-bench0organization0000\r\n"
            f"openai-processing-ms: {300 + rid % 200}\r\n"
            "openai-project: proj_bench0project00000000000\r\n"
            "openai-version: 2020-10-01\r\n"
            f"x-envoy-upstream-service-time: {302 + rid % 200}\r\n"
            f"x-ratelimit-limit-requests: {b['requests'].limit:.0f}\r\n"
            f"x-ratelimit-limit-tokens: {b['tokens'].limit:.0f}\r\n"
            f"x-ratelimit-remaining-requests: {r_left}\r\n"
            f"x-ratelimit-remaining-tokens: {t_left}\r\n"
            f"x-ratelimit-reset-requests: {go_duration(r_reset)}\r\n"
            f"x-ratelimit-reset-tokens: {go_duration(t_reset)}\r\n"
            f"x-request-id: req_{rid:032x}\r\n"
            "strict-transport-security: max-age=31536000; includeSubDomains; preload\r\n"
            "cf-cache-status: DYNAMIC\r\n"
            f"set-cookie: __cf_bm=bench{rid:x}-1740838444-1.0.1.1-g4P2pxh9Y6nJ3GmTZgW4LhB; "
            f"path=/; expires={date}; domain=.api.openai.com; HttpOnly; Secure; SameSite=None\r\n"
            f"set-cookie: _cfuvid=bench{rid:x}-1740838444304-0.0.1.1-604800000; path=/; "
            "domain=.api.openai.com; HttpOnly; Secure; SameSite=None\r\n"
            "x-content-type-options: nosniff\r\n"
            "server: cloudflare\r\n"
            f"cf-ray: {rid:016x}-FRA\r\n"
            'alt-svc: h3=":443"; ma=86400\r\n'
        )

    def _anthropic(self, date: str, now: float, rid: int, t_in: int, t_out: int) -> str:
        b = self.buckets
        wall = time.time()
        lines = [f"date: {date}\r\n"]
        for name, key, n in (
            ("input-tokens", "input", t_in),
            ("output-tokens", "output", t_out),
            ("requests", "requests", 1),
            ("tokens", "tokens", t_in + t_out),
        ):
            left, full_in = b[key].take(n, now)
            lines.append(
                f"anthropic-ratelimit-{name}-limit: {b[key].limit:.0f}\r\n"
                f"anthropic-ratelimit-{name}-remaining: {left}\r\n"
                f"anthropic-ratelimit-{name}-reset: {rfc3339(wall + full_in)}\r\n"
            )
        lines.append(
            f"request-id: req_011CSLsW{rid:016x}\r\n"
            "strict-transport-security: max-age=31536000; includeSubDomains; preload\r\n"
            "anthropic-organization-id: 36562039-1ae4-48e6-ae28-000000000000\r\n"
            f"x-envoy-upstream-service-time: {600 + rid % 200}\r\n"
            "via: 1.1 google\r\n"
            "cf-cache-status: DYNAMIC\r\n"
            "x-robots-tag: none\r\n"
            "server: cloudflare\r\n"
            f"cf-ray: {rid:016x}-FRA\r\n"
        )
        return "".join(lines)


# ------------------------------------------------------------------ server


@dataclass
class Recorded:
    """One request as the server received it (for the fairness test)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class BenchServer:
    """The server's state: modes, pre-rendered answers, and (optionally) what it received.

    Args:
        headers: one of ``MODES``.
        chunks: text deltas per streamed answer.
        latency: seconds before each answer starts (0: at once).
        event_gap: seconds between the events of a stream (0: all at once).
        record: keep every request (``.requests``).
    """

    def __init__(
        self,
        headers: str = "none",
        *,
        chunks: int = 200,
        latency: float = 0.0,
        event_gap: float = 0.0,
        record: bool = False,
    ) -> None:
        if headers not in MODES:
            raise ValueError(f"headers must be one of {MODES}")
        self.mode = headers
        self.latency = latency
        self.event_gap = event_gap
        self.record = record
        self.requests: list[Recorded] = []
        self.makers = {api: HeaderMaker(api, headers) for api in ("openai", "anthropic")}
        self.events = {"openai": openai_events(chunks), "anthropic": anthropic_events(chunks)}
        self.bodies = {"openai": CHAT_BODY, "anthropic": MESSAGE_BODY}
        self.server: asyncio.Server | None = None
        self.conns: set[_Protocol] = set()
        self.served = 0

    def answer(self, api: str, stream: bool) -> tuple[bytes, list[bytes]]:
        """(status line + headers, body pieces) of one answer."""
        ctype = "text/event-stream; charset=utf-8" if stream else "application/json"
        head = "HTTP/1.1 200 OK\r\n" + f"content-type: {ctype}\r\n"
        head += self.makers[api].render(14, 8)
        if stream:
            head += "transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
            pieces = [b"%x\r\n%s\r\n" % (len(e), e) for e in self.events[api]]
            pieces.append(b"0\r\n\r\n")
            return head.encode(), pieces
        body = self.bodies[api]
        head += f"content-length: {len(body)}\r\nconnection: keep-alive\r\n\r\n"
        return head.encode(), [body]

    async def start(self, host: str = "127.0.0.1", port: int = 0, backlog: int = 16384) -> str:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _Protocol(self), host, port, backlog=backlog, reuse_address=True
        )
        sock = self.server.sockets[0]
        return f"http://{host}:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for proto in list(self.conns):
                if proto.transport is not None:
                    proto.transport.close()
            await self.server.wait_closed()


class _Protocol(asyncio.Protocol):
    __slots__ = ("buf", "closed", "srv", "transport")

    def __init__(self, srv: BenchServer) -> None:
        self.srv = srv
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.srv.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.srv.conns.discard(self)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].decode("latin-1").split("\r\n")
            length = 0
            headers: dict[str, str] = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if self.srv.record:
                    headers[name] = value.strip()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding":
                    self._fail(b"411 Length Required")
                    return
            if len(buf) < end + 4 + length:
                break
            body = buf[end + 4 : end + 4 + length]
            buf = buf[end + 4 + length :]
            method, path, _ = head[0].split(" ", 2)
            self._handle(method, path, headers, body)
        self.buf = buf

    def _fail(self, status: bytes) -> None:
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\n\r\n")
        self.transport.close()

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        srv = self.srv
        if srv.record:
            srv.requests.append(Recorded(method, path, headers, body))
        srv.served += 1
        if path.startswith("/v1/chat/completions"):
            api = "openai"
        elif path.startswith("/v1/messages"):
            api = "anthropic"
        else:
            self._fail(b"404 Not Found")
            return
        stream = _STREAM_RE.search(body) is not None
        if srv.latency > 0:
            asyncio.get_running_loop().call_later(srv.latency, self._send, api, stream)
        else:
            self._send(api, stream)

    def _send(self, api: str, stream: bool) -> None:
        if self.closed or self.transport is None:
            return
        head, pieces = self.srv.answer(api, stream)
        gap = self.srv.event_gap
        if not stream or gap <= 0:
            self.transport.write(head + pieces[0])
            for piece in pieces[1:]:
                self.transport.write(piece)  # one write per event, as a server flushes them
            return
        self.transport.write(head + pieces[0])
        self._later(pieces, 1, gap)

    def _later(self, pieces: list[bytes], i: int, gap: float) -> None:
        if self.closed or self.transport is None or i >= len(pieces):
            return
        self.transport.write(pieces[i])
        asyncio.get_running_loop().call_later(gap, self._later, pieces, i + 1, gap)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.server", description=__doc__)
    p.add_argument("--headers", choices=MODES, default="none")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--chunks", type=int, default=200, help="text deltas per streamed answer")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    p.add_argument("--event-gap", type=float, default=0.0, help="seconds between stream events")
    p.add_argument("--uvloop", action="store_true", help="serve on uvloop when installed")
    args = p.parse_args(argv)
    srv = BenchServer(
        args.headers, chunks=args.chunks, latency=args.latency, event_gap=args.event_gap
    )

    async def serve() -> None:
        url = await srv.start(args.host, args.port)
        print(url, flush=True)
        await asyncio.Event().wait()

    runner: Any = asyncio.run
    if args.uvloop:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            pass
    try:
        runner(serve())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
