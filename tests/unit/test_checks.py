"""Configuration mistakes are ValueErrors, raised early, that never show the key."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

import rawllm
from rawllm._checks import check_base_url, check_headers
from rawllm.testing import RecordedRequest

KEY = "sk-proj-secretvalue1234567890"


@pytest.mark.parametrize(
    "value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b", "a\x7fb", "tab\tis\x0bnot"]
)
def test_bad_header_values(value: str) -> None:
    with pytest.raises(ValueError, match="header 'X-A' has an invalid character") as info:
        check_headers({"X-A": value}, "default_headers")
    assert value not in str(info.value)


@pytest.mark.parametrize("name", ["", "X A", "X:A", "X\r\nB", "é", "X-A\n"])
def test_bad_header_names(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid HTTP header name"):
        check_headers({name: "v"}, "extra_headers")


def test_good_headers_pass() -> None:
    check_headers(
        {"X-A": "plain value\twith tab", "X-Utf8": "café ✓", "a!#$%&'*+-.^_`|~9": ""}, "x"
    )
    check_headers(None, "x")


def test_non_str_value() -> None:
    with pytest.raises(ValueError, match="must be a str, got int"):
        check_headers({"X-N": 1}, "default_headers")  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "url",
    [
        "api.openai.com/v1",
        "ftp://api.openai.com",
        "http://",
        "https:///v1",
        "http://host:99999/v1",
        "http://host:port/v1",
        "http://ho st/v1",
        "http://host/v1\r\nX: 1",
        "",
    ],
)
def test_bad_base_urls(url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        check_base_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "https://api.openai.com/v1",
        "HTTPS://X.example",
        "http://[::1]:80",
    ],
)
def test_good_base_urls(url: str) -> None:
    check_base_url(url)


def test_client_construction_rejects_each_mistake_without_showing_the_key() -> None:
    cases = [
        dict(api_key=KEY + "\n"),
        dict(api_key=KEY, default_headers={"X-A": "1\r\n2"}),
        dict(api_key=KEY, organization="org\nx"),
        dict(api_key=KEY, project="p\r"),
        dict(api_key=KEY, base_url="localhost:8000/v1"),
        dict(api_key=KEY, base_url="http://x/v1", proxy="proxy.internal:3128"),
        dict(api_key=KEY, ssl=False, session=object()),
    ]
    for kwargs in cases:
        with pytest.raises(ValueError) as info:
            rawllm.OpenAI(**kwargs)  # type: ignore[arg-type]
        assert KEY not in str(info.value) and "secretvalue" not in str(info.value), kwargs
    with pytest.raises(ValueError, match="x-api-key"):
        rawllm.Anthropic(api_key=KEY + "\r\n")
    with pytest.raises(ValueError, match="Authorization"):
        rawllm.Anthropic(auth_token="tok\nen")
    with pytest.raises(ValueError, match="base_url must start with http"):
        rawllm.Anthropic(api_key=KEY, base_url="api.anthropic.com")


def test_recorded_request_repr_redacts_credentials() -> None:
    headers = CIMultiDictProxy(
        CIMultiDict(
            {"Authorization": f"Bearer {KEY}", "x-api-key": KEY, "api-key": KEY, "X-Other": "fine"}
        )
    )
    req = RecordedRequest("POST", "/v1/chat/completions", headers, {"model": "m"}, 1.0)
    text = repr(req)
    assert KEY not in text and "secretvalue" not in text
    assert text.count("[REDACTED]") == 3 and "fine" in text and "/v1/chat/completions" in text
    # The test itself still reads the values.
    assert req.headers["authorization"] == f"Bearer {KEY}" and req.headers["X-API-KEY"] == KEY
