"""The early-stop rule of online batch runs: consecutive run-wide failures of one kind."""

from __future__ import annotations

import socket
import ssl

import pytest

from rawllm import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from rawllm._exceptions import make_status_error
from rawllm._stop_rule import FailureStreak, failure_kind


def _conn(cause: BaseException) -> APIConnectionError:
    err = APIConnectionError(f"Connection error: {cause}")
    err.__cause__ = cause
    return err


class ClientConnectorDNSError(OSError):  # named like aiohttp's, which the rule matches by name
    pass


def test_kinds() -> None:
    assert failure_kind(None) is None
    assert failure_kind(_conn(ConnectionRefusedError(111, "refused"))) == "connection_refused"
    assert failure_kind(_conn(socket.gaierror(-2, "Name or service not known"))) == "dns"
    assert failure_kind(_conn(ClientConnectorDNSError("x"))) == "dns"
    assert failure_kind(_conn(ssl.SSLCertVerificationError("bad cert"))) == "tls"
    # A dropped connection, a reset or a timeout can be the item's bad luck: not run-wide.
    assert failure_kind(_conn(ConnectionResetError(104, "reset"))) is None
    assert failure_kind(APITimeoutError("t")) is None
    assert failure_kind(APIConnectionError("server disconnected")) is None


def _status(status: int, body: bytes) -> object:
    return make_status_error(status, {}, body)


def test_status_kinds() -> None:
    e401 = _status(401, b'{"error": {"message": "Incorrect API key"}}')
    e403 = _status(403, b'{"error": {"message": "no access"}}')
    e404 = _status(404, b"<html>Not Found</html>")
    assert isinstance(e401, AuthenticationError) and failure_kind(e401) == "unauthorized"
    assert isinstance(e403, PermissionDeniedError) and failure_kind(e403) == "forbidden"
    assert isinstance(e404, NotFoundError) and failure_kind(e404) == "endpoint_not_found"
    # A model that does not exist is about the item (other lines may name other models).
    openai_model = _status(
        404, b'{"error": {"message": "The model `x` does not exist", "code": "model_not_found"}}'
    )
    anthropic_model = _status(
        404, b'{"type": "error", "error": {"type": "not_found_error", "message": "model: x"}}'
    )
    assert failure_kind(openai_model) is None
    assert failure_kind(anthropic_model) is None
    bad = _status(400, b'{"error": {"message": "bad"}}')
    assert isinstance(bad, BadRequestError) and failure_kind(bad) is None
    assert failure_kind(_status(429, b"{}")) is None
    assert failure_kind(_status(500, b"{}")) is None


def test_streak_needs_consecutive_same_kind() -> None:
    s = FailureStreak(3)
    seq = ["dns", "dns", "connection_refused", "dns", "dns", None, "dns", "dns"]
    assert [s.observe(k) for k in seq] == [False] * len(seq)
    assert s.observe("dns") is True
    assert "3 requests in a row" in s.message() and "does not resolve" in s.message()


def test_streak_threshold_one_and_reset() -> None:
    s = FailureStreak(1)
    assert s.observe(None) is False
    assert s.observe("unauthorized") is True
    assert s.observe(None) is False
    with pytest.raises(ValueError):
        FailureStreak(0)
