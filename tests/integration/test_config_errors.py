"""Per-call configuration mistakes raise ValueError before any byte is sent."""

from __future__ import annotations

import pytest
from _raw import raw_server

import rawllm

MSG = [{"role": "user", "content": "hi"}]
KEY = "sk-proj-secretvalue1234567890"


@pytest.mark.parametrize(
    "extra", [{"X-A": "1\r\nX-Injected: 2"}, {"X A": "1"}, {"X-A": "\x00"}, {"X-A": 5}]
)
async def test_bad_extra_headers_fail_before_sending(extra: dict[str, object]) -> None:
    async with raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") as srv:
        async with rawllm.OpenAI(api_key=KEY, base_url=srv.url + "/v1") as c:
            with pytest.raises(ValueError, match="extra_headers") as info:
                await c.chat.completions.create(model="m", messages=MSG, extra_headers=extra)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="extra_headers"):
                await c.chat.completions.create(
                    model="m",
                    messages=MSG,
                    stream=True,
                    extra_headers=extra,  # type: ignore[arg-type]
                )
        async with rawllm.Anthropic(api_key=KEY, base_url=srv.url) as a:
            with pytest.raises(ValueError, match="extra_headers"):
                await a.messages.create(
                    model="m",
                    max_tokens=5,
                    messages=MSG,
                    extra_headers=extra,  # type: ignore[arg-type]
                )
    assert srv.connections == 0  # nothing was sent
    assert KEY not in str(info.value)
