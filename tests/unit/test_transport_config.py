"""Transport set-up that needs no server: proxies from the environment, headers, timeouts."""

from __future__ import annotations

import pytest
from yarl import URL

import rawllm
from rawllm._transport import Transport, client_timeout


def _transport(**kw: object) -> Transport:
    return Transport(pool=rawllm.PoolLimits(), headers={"User-Agent": "rawllm/x"}, **kw)  # type: ignore[arg-type]


def test_env_proxy_is_honoured_and_resolved_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pw@proxy.internal:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    t = _transport()
    proxy, auth = t.proxy_for(URL("https://api.openai.com/v1/chat/completions"))
    assert proxy is not None and proxy.host == "proxy.internal" and proxy.port == 3128
    assert auth is not None and auth.login == "user"
    # Read once per client: a later change of the environment is not re-read per request.
    monkeypatch.delenv("HTTPS_PROXY")
    assert t.proxy_for(URL("https://api.openai.com/v1/models"))[0] == proxy


def test_no_proxy_bypasses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "api.openai.com")
    assert _transport().proxy_for(URL("https://api.openai.com/v1"))[0] is None


def test_no_proxy_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    assert _transport().proxy_for(URL("http://127.0.0.1:8000/v1")) == (None, None)


def test_client_timeout_is_explicit() -> None:
    ct = client_timeout(rawllm.Timeout(connect=2, read=30), None)
    assert (ct.total, ct.sock_connect, ct.sock_read) == (None, 2, 30)
    clipped = client_timeout(rawllm.Timeout(), 1.5)
    assert clipped.total == 1.5


def test_headers_merge_for_borrowed_and_owned_sessions() -> None:
    owned = _transport()
    assert owned.merge_headers(None) is None  # the session carries the defaults
    assert owned.merge_headers({"X-A": "1"}) == {"X-A": "1"}
    borrowed = Transport(
        pool=rawllm.PoolLimits(),
        headers={"User-Agent": "rawllm/x"},
        session=object(),  # type: ignore[arg-type]
    )
    assert borrowed.merge_headers(None) == {"User-Agent": "rawllm/x"}
    assert borrowed.merge_headers({"X-A": "1"}) == {"User-Agent": "rawllm/x", "X-A": "1"}
