"""The tolerant path: what does not fit is kept as sent, logged, and the answer survives."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import msgspec
import pytest

import rawllm
from rawllm._wire import openai as chat_wire
from rawllm._wire._tolerant import format_path, parse_path, tolerant
from rawllm.types._base import attach

PAYLOADS = Path(__file__).parent / "payloads"


@pytest.mark.parametrize(
    "message,path",
    [
        ("Expected `str | null`, got `object` - at `$.output[0].error`", ("output", 0, "error")),
        ("Object missing required field `text` - at `$.content[12]`", ("content", 12)),
        ("Object missing required field `choices`", ()),
        ("Expected `int`, got `str` - at `$.a[0][1].b_2`", ("a", 0, 1, "b_2")),
    ],
)
def test_paths_from_msgspec_messages(message: str, path: tuple[str | int, ...]) -> None:
    assert parse_path(message) == path
    if path:
        assert format_path(path) == message.rsplit("`", 2)[1]


class Inner(msgspec.Struct):
    x: int


class Outer(msgspec.Struct):
    items: list[Inner]


class Many(msgspec.Struct):
    a: int | None = None


def test_the_real_msgspec_message_names_the_path_we_parse() -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert({"items": [{"x": 1}, {"x": "two"}]}, Outer)
    assert parse_path(str(info.value)) == ("items", 1, "x")


def test_an_odd_field_is_logged_at_debug_with_its_path(caplog: pytest.LogCaptureFixture) -> None:
    body = json.loads((PAYLOADS / "openai_chat_completion.json").read_text("utf-8"))
    body["choices"][0]["logprobs"] = {"content": "not a list"}
    body["usage"]["total_tokens"] = "29"
    raw = json.dumps(body).encode()
    with caplog.at_level(logging.DEBUG, logger="rawllm"):
        resp = chat_wire.decode_chat_completion(raw)
    assert resp.choices[0].message.tool_calls  # the answer is all there
    assert resp.usage is not None and resp.usage.total_tokens == 0  # the default
    assert resp.raw_fields == {
        "$.choices[0].logprobs.content": "not a list",
        "$.usage.total_tokens": "29",
    }
    logged = [r.getMessage() for r in caplog.records if r.name == "rawllm"]
    assert any("$.choices[0].logprobs.content" in m for m in logged)
    assert any("$.usage.total_tokens" in m for m in logged)
    attach(resp, raw, None)
    assert resp.to_dict()["usage"]["total_tokens"] == "29"  # to_dict() is the body as sent


def test_raw_fields_is_empty_on_the_fast_path_and_a_copy() -> None:
    resp = chat_wire.decode_chat_completion((PAYLOADS / "openai_chat_completion.json").read_bytes())
    assert resp.raw_fields == {}
    odd = chat_wire.decode_chat_completion(b'{"model": "m", "choices": [], "created": "x"}')
    odd.raw_fields.clear()
    assert odd.raw_fields == {"$.created": "x"}


def test_a_body_that_lacks_what_the_call_is_for_raises_naming_the_first_odd_value() -> None:
    with pytest.raises(rawllm.APIResponseValidationError) as info:
        chat_wire.decode_chat_completion(b'{"model": "m", "choices": [{"index": 0}]}')
    assert "`message` - at `$.choices[0]`" in info.value.message
    assert "set aside: $.choices" in info.value.message


def test_a_hopeless_body_stops_after_a_bounded_number_of_repairs() -> None:
    obj = {"a": "x"}
    calls = 0

    def repair(path: tuple[str | int, ...], o: object, kept: dict[str, object]) -> bool:
        nonlocal calls
        calls += 1
        return True  # claims a fix but changes nothing

    with pytest.raises(rawllm.APIResponseValidationError, match="more than 64 odd values"):
        tolerant(obj, Many, "Many", b"{}", [], repair=repair)
    assert calls == 64
