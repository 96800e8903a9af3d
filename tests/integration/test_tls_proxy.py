"""ssl= and proxy=, against a local TLS server (trustme certificates) and a local CONNECT proxy."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator

import pytest
from _raw import raw_server

import rawllm

trustme = pytest.importorskip("trustme")

MSG = [{"role": "user", "content": "hi"}]
BODY = (
    b'{"id":"c","object":"chat.completion","created":1,"model":"m","choices":'
    b'[{"index":0,"message":{"role":"assistant","content":"over tls"},"finish_reason":"stop"}]}'
)
REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture
def client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


@pytest.fixture
def no_env_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                 "all_proxy", "NO_PROXY", "no_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    yield


class ConnectProxy:
    """A tiny HTTP CONNECT proxy on 127.0.0.1 that counts the tunnels it opened."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        self.auth: list[str] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
            self.auth += [
                line.split(":", 1)[1].strip()
                for line in head.split("\r\n")
                if line.lower().startswith("proxy-authorization:")
            ]
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            self.tunnels.append(target)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                with contextlib.suppress(ConnectionError):
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                dst.close()

            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def connect_proxy() -> AsyncIterator[ConnectProxy]:
    proxy = ConnectProxy()
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        await server.wait_closed()


async def test_ssl_context_trusting_a_private_ca(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, no_env_proxy: None
) -> None:
    async with raw_server(REPLY, tls=server_ctx) as srv:
        assert srv.url.startswith("https://")
        async with rawllm.OpenAI(api_key="sk-x", base_url=srv.url + "/v1", ssl=client_ctx) as c:
            resp = await c.chat.completions.create(model="m", messages=MSG)
        assert resp.choices[0].message.content == "over tls"


async def test_default_verification_rejects_an_unknown_ca(
    server_ctx: ssl.SSLContext, no_env_proxy: None
) -> None:
    async with raw_server(REPLY, tls=server_ctx) as srv:
        async with rawllm.OpenAI(api_key="sk-x", base_url=srv.url + "/v1", max_retries=0) as c:
            with pytest.raises(rawllm.APIConnectionError, match="(?i)certificate"):
                await c.chat.completions.create(model="m", messages=MSG)


async def test_ssl_false_skips_verification(server_ctx: ssl.SSLContext, no_env_proxy: None) -> None:
    async with raw_server(REPLY, tls=server_ctx) as srv:
        async with rawllm.OpenAI(api_key="sk-x", base_url=srv.url + "/v1", ssl=False) as c:
            resp = await c.chat.completions.create(model="m", messages=MSG)
        assert resp.choices[0].message.content == "over tls"


async def test_proxy_option_tunnels_https(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, no_env_proxy: None
) -> None:
    async with raw_server(REPLY, tls=server_ctx) as srv, connect_proxy() as proxy:
        async with rawllm.OpenAI(
            api_key="sk-x",
            base_url=srv.url + "/v1",
            ssl=client_ctx,
            proxy=proxy.url.replace("http://", "http://user:pw@"),
        ) as c:
            resp = await c.chat.completions.create(model="m", messages=MSG)
        assert resp.choices[0].message.content == "over tls"
        assert proxy.tunnels == [f"127.0.0.1:{srv.port}"]
        assert proxy.auth and proxy.auth[0].startswith("Basic ")  # credentials from the URL


async def test_https_proxy_from_the_environment_and_no_proxy(
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    no_env_proxy: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with raw_server(REPLY, tls=server_ctx) as srv, connect_proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        async with rawllm.OpenAI(api_key="sk-x", base_url=srv.url + "/v1", ssl=client_ctx) as c:
            await c.chat.completions.create(model="m", messages=MSG)
        assert len(proxy.tunnels) == 1
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with rawllm.OpenAI(api_key="sk-x", base_url=srv.url + "/v1", ssl=client_ctx) as c:
            await c.chat.completions.create(model="m", messages=MSG)
        assert len(proxy.tunnels) == 1  # bypassed: still one tunnel


async def test_explicit_proxy_wins_over_no_proxy(
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    no_env_proxy: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_PROXY", "*")
    async with raw_server(REPLY, tls=server_ctx) as srv, connect_proxy() as proxy:
        async with rawllm.OpenAI(
            api_key="sk-x", base_url=srv.url + "/v1", ssl=client_ctx, proxy=proxy.url
        ) as c:
            await c.chat.completions.create(model="m", messages=MSG)
        assert len(proxy.tunnels) == 1
