"""Every aiohttp client exception is mapped to a rawllm error at the one boundary."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import client_exceptions as ce
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

import rawllm
from rawllm._transport import AIOHTTP_ERRORS, map_aiohttp_error

_KEY = ConnectionKey("api.example.com", 443, True, True, None, None, None)
_INFO = aiohttp.RequestInfo(
    URL("https://api.example.com/v1/chat/completions"),
    "POST",
    CIMultiDictProxy(CIMultiDict()),
    URL("https://api.example.com/v1/chat/completions"),
)


def _response_error(cls: type[Any], status: int) -> Any:
    return cls(_INFO, (), status=status, message="boom", headers=CIMultiDictProxy(CIMultiDict()))


# How to build each exception (constructors differ); the expected rawllm class.
BUILDERS: dict[str, tuple[Callable[[type[Any]], BaseException], type[rawllm.APIError]]] = {
    "ClientError": (lambda c: c("x"), rawllm.APIConnectionError),
    "ClientConnectionError": (lambda c: c("x"), rawllm.APIConnectionError),
    "ClientConnectionResetError": (lambda c: c("x"), rawllm.APIConnectionError),
    "ClientOSError": (lambda c: c(104, "reset"), rawllm.APIConnectionError),
    "ClientConnectorError": (lambda c: c(_KEY, OSError(111, "refused")), rawllm.APIConnectionError),
    "ClientProxyConnectionError": (
        lambda c: c(_KEY, OSError(111, "refused")),
        rawllm.APIConnectionError,
    ),
    "ClientSSLError": (lambda c: c(_KEY, OSError(1, "ssl")), rawllm.APIConnectionError),
    "ClientConnectorDNSError": (
        lambda c: c(_KEY, OSError(-2, "Name or service not known")),
        rawllm.APIConnectionError,
    ),
    "ClientConnectorSSLError": (
        lambda c: c(_KEY, ssl.SSLError(1, "bad")),
        rawllm.APIConnectionError,
    ),
    "ClientConnectorCertificateError": (
        lambda c: c(_KEY, ssl.SSLCertVerificationError(1, "cert")),
        rawllm.APIConnectionError,
    ),
    "ConnectionTimeoutError": (lambda c: c("connect"), rawllm.APITimeoutError),
    "SocketTimeoutError": (lambda c: c("read"), rawllm.APITimeoutError),
    "ServerConnectionError": (lambda c: c("x"), rawllm.APIConnectionError),
    "ServerTimeoutError": (lambda c: c("read"), rawllm.APITimeoutError),
    "ServerDisconnectedError": (lambda c: c(), rawllm.APIConnectionError),
    "ServerFingerprintMismatch": (
        lambda c: c(b"a", b"b", "api.example.com", 443),
        rawllm.APIConnectionError,
    ),
    # aiohttp raises ClientResponseError (status 400) only when its HTTP parser rejected
    # the reply (we never call raise_for_status): a connection error, not the API's 400.
    "ClientResponseError": (lambda c: _response_error(c, 400), rawllm.APIConnectionError),
    # The proxy refused CONNECT: its status is not the API's answer.
    "ClientHttpProxyError": (lambda c: _response_error(c, 407), rawllm.APIConnectionError),
    "WSServerHandshakeError": (lambda c: _response_error(c, 101), rawllm.APIConnectionError),
    "ContentTypeError": (lambda c: _response_error(c, 200), rawllm.APIResponseValidationError),
    "ClientPayloadError": (lambda c: c("truncated"), rawllm.APIConnectionError),
    "UploadAbortedError": (lambda c: c("aborted"), rawllm.APIConnectionError),
    "InvalidURL": (lambda c: c("::bad"), rawllm.APIConnectionError),
    "InvalidUrlClientError": (lambda c: c("::bad"), rawllm.APIConnectionError),
    "RedirectClientError": (lambda c: c("::bad"), rawllm.APIConnectionError),
    "NonHttpUrlClientError": (lambda c: c("ftp://x"), rawllm.APIConnectionError),
    "InvalidUrlRedirectClientError": (lambda c: c("::bad"), rawllm.APIConnectionError),
    "NonHttpUrlRedirectClientError": (lambda c: c("ftp://x"), rawllm.APIConnectionError),
    "WSMessageTypeError": (lambda c: c("x"), rawllm.APIConnectionError),
}


def test_every_aiohttp_exception_has_a_mapping_case() -> None:
    missing = sorted(set(ce.__all__) - set(BUILDERS))
    assert not missing, f"aiohttp exceptions with no mapping test: {missing}"


@pytest.mark.parametrize("name", sorted(ce.__all__))
def test_aiohttp_exception_is_mapped(name: str) -> None:
    cls = getattr(ce, name)
    build, expected = BUILDERS[name]
    exc = build(cls)
    # The boundary catches it ...
    assert isinstance(exc, AIOHTTP_ERRORS), name
    # ... and maps it to the most specific rawllm class.
    mapped = map_aiohttp_error(exc)
    assert isinstance(mapped, expected), (name, type(mapped))
    assert isinstance(mapped, rawllm.APIError)


def test_timeouts_say_which_fired() -> None:
    assert map_aiohttp_error(ce.ConnectionTimeoutError()).timeout == "connect"  # type: ignore[attr-defined]
    assert map_aiohttp_error(ce.SocketTimeoutError()).timeout == "read"  # type: ignore[attr-defined]
    assert map_aiohttp_error(TimeoutError()).timeout == "total"  # type: ignore[attr-defined]


def test_plain_os_error_is_a_connection_error() -> None:
    assert type(map_aiohttp_error(ConnectionResetError(104, "reset"))) is rawllm.APIConnectionError
