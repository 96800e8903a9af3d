"""Hostile servers: protocol garbage is a connection error; oversized replies hit the caps.

Every case runs against a raw socket server on 127.0.0.1 that sends exactly
the bytes given, for a call and for a stream.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib

import pytest
from _raw import raw_server

import rawllm

MSG = [{"role": "user", "content": "hi"}]
OK_BODY = (
    b'{"id":"c","object":"chat.completion","created":1,"model":"m","choices":'
    b'[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}'
)


def _http(body: bytes, *headers: str, status: bytes = b"200 OK") -> bytes:
    head = [b"HTTP/1.1 " + status, *(h.encode() for h in headers)]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


# Each kind of garbage, and words its error message must contain.
GARBAGE = {
    "bad-status-line": (b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}", "status"),
    "not-http": (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "invalid HTTP response"),
    "bad-chunk-size": (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        "chunk",
    ),
    "content-length-abc": (b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}", "Content-Length"),
    "100kb-header-line": (
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 100_000 + b"\r\nContent-Length: 2\r\n\r\n{}",
        "LineTooLong",
    ),
}


@pytest.mark.parametrize("kind", list(GARBAGE))
@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream"])
async def test_protocol_garbage_is_a_retried_connection_error(kind: str, stream: bool) -> None:
    reply, words = GARBAGE[kind]
    async with raw_server(reply) as srv:
        async with rawllm.OpenAI(api_key="sk-x", base_url=srv.url + "/v1", max_retries=1) as c:
            with pytest.raises(rawllm.APIError) as info:
                if stream:
                    s = await c.chat.completions.create(model="m", messages=MSG, stream=True)
                    async with s:
                        await s.get_final()
                else:
                    await c.chat.completions.create(model="m", messages=MSG)
    err = info.value
    assert type(err) is rawllm.APIConnectionError, repr(err)
    assert not isinstance(err, rawllm.APIStatusError)
    assert words.lower() in err.message.lower(), err.message
    assert err.retries == 1 and srv.connections == 2  # retried like any network failure
    assert len(err.message) < 600  # one short line, even for a 100 KB header


async def test_a_proxy_refusing_connect_is_a_connection_error() -> None:
    refusal = _http(b"denied", status=b"407 Proxy Authentication Required")
    async with raw_server(refusal) as proxy:
        async with rawllm.OpenAI(
            api_key="sk-x", base_url="https://api.invalid/v1", proxy=proxy.url, max_retries=0
        ) as c:
            with pytest.raises(rawllm.APIConnectionError, match="proxy refused.*407"):
                await c.chat.completions.create(model="m", messages=MSG)


# -- caps -----------------------------------------------------------------------


def _client(url: str, **kw: object) -> rawllm.OpenAI:
    return rawllm.OpenAI(api_key="sk-x", base_url=url + "/v1", max_retries=0, **kw)  # type: ignore[arg-type]


async def test_body_over_the_cap_with_content_length() -> None:
    async with raw_server(_http(b" " * 5000 + OK_BODY)) as srv:
        async with _client(srv.url, max_response_bytes=4096) as c:
            with pytest.raises(rawllm.APIResponseValidationError, match="max_response_bytes=4096"):
                await c.chat.completions.create(model="m", messages=MSG)
        async with _client(srv.url, max_response_bytes=8192) as c:
            resp = await c.chat.completions.create(model="m", messages=MSG)
            assert resp.choices[0].message.content == "ok"


async def test_endless_chunked_body_stops_at_the_cap() -> None:
    sent = 0

    async def endless(w: asyncio.StreamWriter) -> None:
        nonlocal sent
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        while sent < 50 * 2**20:  # would be 50 MiB; the client stops long before
            w.write(chunk)
            sent += 65536
            await w.drain()

    async with raw_server(endless) as srv:
        async with _client(srv.url, max_response_bytes=2**20) as c:
            with pytest.raises(rawllm.APIResponseValidationError, match="max_response_bytes"):
                await c.chat.completions.create(model="m", messages=MSG)
    assert sent < 20 * 2**20  # the connection was dropped: the server could not go on


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_decompression_bomb_is_counted_after_decompression(encoding: str) -> None:
    raw = b" " * (32 * 2**20) + OK_BODY  # 32 MiB of JSON whitespace: ~32 KiB compressed
    packed = gzip.compress(raw, 9) if encoding == "gzip" else zlib.compress(raw, 9)
    assert len(packed) < 2**20
    reply = _http(packed, f"Content-Encoding: {encoding}", "Content-Type: application/json")
    async with raw_server(reply) as srv:
        async with _client(srv.url, max_response_bytes=4 * 2**20) as c:
            with pytest.raises(rawllm.APIResponseValidationError, match="max_response_bytes"):
                await c.chat.completions.create(model="m", messages=MSG)
        async with _client(srv.url) as c:  # the default cap (64 MiB) lets it through
            resp = await c.chat.completions.create(model="m", messages=MSG)
            assert resp.choices[0].message.content == "ok"


def _sse(*events: bytes) -> bytes:
    body = b"".join(events)
    return _http(body, "Content-Type: text/event-stream")


CHUNK = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}\n\n'
)


async def test_one_sse_event_over_max_event_bytes() -> None:
    big = CHUNK % (b"x" * 3000)
    async with raw_server(_sse(CHUNK % b"a", big, b"data: [DONE]\n\n")) as srv:
        async with _client(srv.url, max_event_bytes=2048) as c:
            s = await c.chat.completions.create(model="m", messages=MSG, stream=True)
            got = []
            with pytest.raises(rawllm.APIResponseValidationError, match="max_event_bytes=2048"):
                async with s:
                    async for chunk in s:
                        got.append(chunk.choices[0].delta.content)
            assert got == ["a"]  # what came before the oversized event was delivered
        async with _client(srv.url, max_event_bytes=4096) as c:
            s = await c.chat.completions.create(model="m", messages=MSG, stream=True)
            async with s:
                final = await s.get_final()
            assert final.choices[0].message.content == "a" + "x" * 3000


async def test_endless_sse_line_stops_at_max_event_bytes() -> None:
    sent = 0

    async def endless(w: asyncio.StreamWriter) -> None:
        nonlocal sent
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: ")
        while sent < 50 * 2**20:
            w.write(b"x" * 65536)
            sent += 65536
            await w.drain()

    async with raw_server(endless) as srv:
        async with _client(srv.url, max_event_bytes=2**20) as c:
            s = await c.chat.completions.create(model="m", messages=MSG, stream=True)
            with pytest.raises(rawllm.APIResponseValidationError, match="max_event_bytes"):
                async with s:
                    await s.get_final()
    assert sent < 20 * 2**20


async def test_a_whole_stream_is_bounded_by_max_response_bytes() -> None:
    events = [CHUNK % b"y" * 1] * 2000  # ~300 KB of small events, no terminator needed
    async with raw_server(_sse(*events, b"data: [DONE]\n\n")) as srv:
        async with _client(srv.url, max_response_bytes=100_000) as c:
            s = await c.chat.completions.create(model="m", messages=MSG, stream=True)
            with pytest.raises(rawllm.APIResponseValidationError, match="stream is larger"):
                async with s:
                    await s.get_final()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "64MB"])
def test_caps_must_be_positive_ints(bad: object) -> None:
    with pytest.raises(ValueError, match="max_response_bytes"):
        rawllm.OpenAI(api_key="sk-x", max_response_bytes=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_event_bytes"):
        rawllm.Anthropic(api_key="sk-x", max_event_bytes=bad)  # type: ignore[arg-type]


async def test_absurdly_nested_json_is_a_validation_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    body = b'{"unknown": ' + deep + b"}"
    async with raw_server(_http(body, "Content-Type: application/json")) as srv:
        async with _client(srv.url) as c:
            with pytest.raises(rawllm.APIResponseValidationError, match="nested too deeply"):
                await c.chat.completions.create(model="m", messages=MSG)
    async with raw_server(_sse(b"data: " + body + b"\n\n", b"data: [DONE]\n\n")) as srv:
        async with _client(srv.url) as c:
            s = await c.chat.completions.create(model="m", messages=MSG, stream=True)
            with pytest.raises(rawllm.APIResponseValidationError, match="nested too deeply"):
                async with s:
                    await s.get_final()
