"""The pure error factory: every status, JSON and non-JSON bodies, stream errors, redaction."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

import rawllm
from rawllm._exceptions import (
    error_from_stream_body,
    make_status_error,
    redact,
    register_secret,
    status_error_class,
)

OPENAI_429 = (
    b'{"error": {"message": "Rate limit reached for gpt-4o-mini in organization org-x on '
    b'requests per min (RPM): Limit 500, Used 500, Requested 1.", "type": "requests", '
    b'"param": null, "code": "rate_limit_exceeded"}}'
)
ANTHROPIC_529 = (
    b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, '
    b'"request_id": "req_011"}'
)
HTML_502 = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    b"</h1></center><hr><center>nginx</center></body></html>"
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, rawllm.BadRequestError),
        (401, rawllm.AuthenticationError),
        (403, rawllm.PermissionDeniedError),
        (404, rawllm.NotFoundError),
        (409, rawllm.ConflictError),
        (413, rawllm.RequestTooLargeError),
        (422, rawllm.UnprocessableEntityError),
        (429, rawllm.RateLimitError),
        (500, rawllm.InternalServerError),
        (502, rawllm.InternalServerError),
        (503, rawllm.InternalServerError),
        (529, rawllm.OverloadedError),
        (418, rawllm.APIStatusError),
        (302, rawllm.APIStatusError),
    ],
)
def test_status_to_class(status: int, cls: type[rawllm.APIStatusError]) -> None:
    err = make_status_error(status, {}, b'{"error": {"message": "boom"}}')
    assert type(err) is cls
    assert err.status_code == status
    assert err.message == f"Error code: {status} - boom"
    assert status_error_class(status) is cls


def test_overloaded_is_internal_server_error() -> None:
    assert issubclass(rawllm.OverloadedError, rawllm.InternalServerError)
    assert issubclass(rawllm.APITimeoutError, rawllm.APIConnectionError)


def test_openai_body_gives_message_code_and_inner_body() -> None:
    headers = CIMultiDictProxy(CIMultiDict({"X-Request-Id": "req_abc"}))
    err = make_status_error(429, headers, OPENAI_429)
    assert isinstance(err, rawllm.RateLimitError)
    assert err.message.startswith("Error code: 429 - Rate limit reached for gpt-4o-mini")
    assert err.request_id == "req_abc"
    assert err.code == "rate_limit_exceeded"
    assert err.type == "requests"
    assert err.param is None
    # Like the official SDK, .body is the inner error object.
    assert err.body["code"] == "rate_limit_exceeded"
    assert err.headers["x-request-id"] == "req_abc"


def test_anthropic_body_keeps_envelope_and_request_id_header() -> None:
    err = make_status_error(529, {"request-id": "req_011"}, ANTHROPIC_529)
    assert isinstance(err, rawllm.OverloadedError)
    assert err.message == "Error code: 529 - Overloaded"
    assert err.body["type"] == "error"
    assert err.type == "overloaded_error"
    assert err.request_id == "req_011"


def test_html_body_gives_right_class_and_text() -> None:
    err = make_status_error(502, {}, HTML_502)
    assert isinstance(err, rawllm.InternalServerError)
    assert err.body == HTML_502.decode()
    assert "502 Bad Gateway" in err.message
    assert "<" not in err.message


def test_empty_and_odd_bodies() -> None:
    assert make_status_error(500, {}, b"").message == "Error code: 500 - HTTP 500"
    assert make_status_error(404, {}, b'{"error": "model not found"}').message.endswith(
        "model not found"
    )
    vllm = (
        b'{"object":"error","message":"max_tokens too large","type":"BadRequestError","code":400}'
    )
    err = make_status_error(400, {}, vllm)
    assert err.message.endswith("max_tokens too large")
    assert make_status_error(400, {}, b'["x"]').body == ["x"]
    invalid_utf8 = make_status_error(500, {}, b"\xff\xfe oops")
    assert "oops" in invalid_utf8.body


@pytest.mark.parametrize(
    ("data", "cls", "status"),
    [
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "x"}},
            rawllm.OverloadedError,
            529,
        ),
        (
            {"type": "error", "error": {"type": "rate_limit_error", "message": "x"}},
            rawllm.RateLimitError,
            429,
        ),
        ({"error": {"type": "invalid_request_error", "message": "x"}}, rawllm.BadRequestError, 400),
        ({"error": {"type": "server_error", "message": "x"}}, rawllm.InternalServerError, 500),
        ({"error": {"message": "x", "code": 429}}, rawllm.RateLimitError, 429),
        ({"error": {"message": "x", "code": "rate_limit_exceeded"}}, rawllm.RateLimitError, 429),
        ({"error": {"message": "x", "type": "something_new"}}, rawllm.InternalServerError, 500),
    ],
)
def test_stream_error_class_follows_type(data: dict, cls: type, status: int) -> None:
    err = error_from_stream_body(data)
    assert type(err) is cls
    assert err.status_code == status
    assert err.message.endswith("x")
    assert err.body is not None


def test_redaction_everywhere() -> None:
    key = "sk-proj-SECRETSECRET1234567890"
    register_secret(key)
    err = make_status_error(
        401, {}, f'{{"error": {{"message": "Incorrect API key: {key}"}}}}'.encode()
    )
    for text in (str(err), repr(err), err.message):
        assert key not in text
        assert "[REDACTED]" in text
    # Unregistered key-shaped tokens are hidden too.
    assert "sk-ant-abcdefghijklmnop" not in redact("key sk-ant-abcdefghijklmnop used")
    assert "abcdefghijkl" not in redact("Authorization: Bearer abcdefghijkl")
    assert redact("nothing to hide") == "nothing to hide"


def test_connection_and_timeout_errors() -> None:
    err = rawllm.APITimeoutError(timeout="read")
    assert err.timeout == "read"
    assert err.retries == 0
    assert isinstance(err, rawllm.APIConnectionError)
    assert str(rawllm.APIConnectionError()) == "Connection error."
