"""Structured outputs: strict-mode schemas from types, one-pass decoding, parsed results."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, TypedDict

import msgspec
import pydantic
import pytest

import rawllm
from rawllm._structured import (
    decoder_for,
    inline_root,
    parse_chat_completion,
    parse_response,
    response_format_param,
    schema_name,
    strict_schema,
    text_format_param,
)
from rawllm._tools import function_tool
from rawllm._wire.openai import decode_chat_completion
from rawllm._wire.responses import decode_response
from rawllm.testing._schema_sample import sample


class Address(msgspec.Struct):
    """Where someone lives."""

    city: str
    zip: str | None = None


class Person(msgspec.Struct):
    name: str
    age: int = 0
    addresses: list[Address] = []
    kind: Literal["a", "b"] = "a"


class Tree(msgspec.Struct):
    value: int
    children: list[Tree] = []


@dataclasses.dataclass
class Point:
    x: float
    y: float | None = None


class Movie(TypedDict):
    title: str
    year: int


class PydCity(pydantic.BaseModel):
    name: str
    country: str | None = None


class Cat(msgspec.Struct, tag="cat"):
    lives: int


class Dog(msgspec.Struct, tag="dog"):
    good: bool


class Pet(msgspec.Struct):
    pet: Cat | Dog


def _walk(node: Any):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _refs_resolve(schema: dict[str, Any]) -> None:
    for node in _walk(schema):
        ref = node.get("$ref")
        if isinstance(ref, str):
            assert ref.startswith("#/$defs/")
            assert ref[len("#/$defs/") :] in schema.get("$defs", {}), ref


@pytest.mark.parametrize("tp", [Person, Tree, Point, Movie, PydCity, Pet])
def test_schema_is_strict_mode_valid(tp: Any) -> None:
    fmt = response_format_param(tp)
    assert fmt["type"] == "json_schema"
    js = fmt["json_schema"]
    assert js["name"] == tp.__name__ and js["strict"] is True
    schema = js["schema"]
    assert schema["type"] == "object"
    for node in _walk(schema):
        if isinstance(node.get("properties"), dict):
            assert node["required"] == list(node["properties"])
            assert node["additionalProperties"] is False
        assert "discriminator" not in node
        assert "oneOf" not in node
        assert node.get("default", 1) is not None
    _refs_resolve(schema)


def test_defs_kept_and_root_inlined() -> None:
    schema = response_format_param(Person)["json_schema"]["schema"]
    assert "$ref" not in schema
    assert set(schema["$defs"]) == {"Address"}
    assert schema["properties"]["addresses"]["items"] == {"$ref": "#/$defs/Address"}
    # an optional field stays optional by its type, and is required
    zip_ = schema["$defs"]["Address"]["properties"]["zip"]
    assert {"type": "null"} in zip_["anyOf"]


def test_recursive_type_keeps_its_own_definition() -> None:
    schema = response_format_param(Tree)["json_schema"]["schema"]
    assert schema["properties"]["children"]["items"] == {"$ref": "#/$defs/Tree"}
    assert schema["$defs"]["Tree"]["additionalProperties"] is False


def test_strict_rules_on_a_hand_written_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"allOf": [{"$ref": "#/$defs/A"}]},
            "b": {"oneOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "c": {"$ref": "#/$defs/A", "description": "with a sibling"},
            "d": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
        "$defs": {"A": {"type": "object", "properties": {"x": {"type": "integer"}}}},
    }
    out = strict_schema(schema)
    assert out["properties"]["a"] == {"$ref": "#/$defs/A"}
    assert out["properties"]["b"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    c = out["properties"]["c"]
    assert c["description"] == "with a sibling" and c["required"] == ["x"] and "$ref" not in c
    assert out["properties"]["d"]["additionalProperties"] == {"type": "integer"}
    assert out["$defs"]["A"]["required"] == ["x"]
    assert schema["properties"]["b"]["oneOf"]  # the input is not mutated


def test_root_must_be_an_object() -> None:
    with pytest.raises(TypeError, match="object at the root"):
        response_format_param(list[int])
    with pytest.raises(TypeError, match="Cannot build a JSON schema"):
        response_format_param(object)


def test_text_format_is_flat() -> None:
    fmt = text_format_param(Movie)
    assert fmt["type"] == "json_schema" and fmt["name"] == "Movie" and fmt["strict"] is True
    assert fmt["schema"]["required"] == ["title", "year"]


def test_names_are_sanitised() -> None:
    assert schema_name(type("My Type!", (), {})) == "My_Type_"


def test_inline_root_without_ref_is_identity() -> None:
    assert inline_root({"type": "object"}) == {"type": "object"}


@pytest.mark.parametrize("tp", [Person, Tree, Point, Movie, PydCity, Pet])
def test_mock_sample_of_the_strict_schema_decodes_into_the_type(tp: Any) -> None:
    schema = response_format_param(tp)["json_schema"]["schema"]
    value = sample(schema, "Paris", 3)
    decoded = decoder_for(tp)(msgspec.json.encode(value))
    if isinstance(decoded, dict):
        assert set(decoded) == set(schema["properties"])
    else:
        assert decoded is not None


def test_decoder_misfit_raises_validation_error() -> None:
    with pytest.raises(rawllm.APIResponseValidationError, match="does not fit Person") as info:
        decoder_for(Person)('{"name": 5}')
    assert info.value.body == '{"name": 5}'
    with pytest.raises(rawllm.APIResponseValidationError, match="does not fit PydCity"):
        decoder_for(PydCity)('{"country": "x"}')
    with pytest.raises(rawllm.APIResponseValidationError):
        decoder_for(Person)("not json")
    assert decoder_for(PydCity)('{"name": "Oslo", "country": null}') == PydCity(name="Oslo")


def _completion(message: dict[str, Any], finish: str = "stop") -> Any:
    return decode_chat_completion(
        msgspec.json.encode(
            {
                "id": "c1",
                "model": "m",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            }
        )
    )


def test_parse_chat_completion_sets_parsed() -> None:
    content = '{"name": "Ada", "age": 36, "addresses": [], "kind": "b"}'
    out = parse_chat_completion(
        _completion({"role": "assistant", "content": content}), Person, None
    )
    assert type(out).__name__ == "ParsedChatCompletion"
    msg = out.choices[0].message
    assert msg.parsed == Person(name="Ada", age=36, kind="b")
    assert msg.content == content
    assert out.usage.total_tokens == 3
    # the parsed value is not a wire field: sending the message back sends what came
    assert "parsed" not in msgspec.json.decode(msgspec.json.encode(msg))


def test_refusal_leaves_parsed_none() -> None:
    out = parse_chat_completion(
        _completion({"role": "assistant", "content": None, "refusal": "no"}), Person, None
    )
    assert out.choices[0].message.refusal == "no"
    assert out.choices[0].message.parsed is None


def test_length_cut_raises() -> None:
    completion = _completion({"role": "assistant", "content": '{"name": "A'}, "length")
    with pytest.raises(rawllm.LengthFinishReasonError) as info:
        parse_chat_completion(completion, Person, None)
    assert info.value.completion is completion
    assert isinstance(info.value, rawllm.APIError)


def test_tool_calls_of_known_tools_get_parsed_arguments() -> None:
    def lookup(query: str, limit: int = 3) -> None:
        """Search."""

    tool = function_tool(lookup)
    strict_dict = {
        "type": "function",
        "function": {"name": "other", "parameters": {"type": "object"}, "strict": True},
    }
    loose = {"type": "function", "function": {"name": "loose", "parameters": {}}}
    calls = [
        {
            "id": "1",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"query": "q", "limit": 2}'},
        },
        {"id": "2", "type": "function", "function": {"name": "other", "arguments": '{"k": 1}'}},
        {"id": "3", "type": "function", "function": {"name": "loose", "arguments": "{}"}},
    ]
    out = parse_chat_completion(
        _completion({"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"),
        None,
        [tool, strict_dict, loose],
    )
    got = out.choices[0].message.tool_calls
    assert got[0].function.parsed_arguments == {"query": "q", "limit": 2}
    assert got[1].function.parsed_arguments == {"k": 1}
    assert got[2].function.parsed_arguments is None
    assert got[0].function.arguments == '{"query": "q", "limit": 2}'


def test_parse_response_output_parsed() -> None:
    body = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "m",
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": '{"title": "Up", "year": 2009}'}],
            }
        ],
    }
    out = parse_response(decode_response(msgspec.json.encode(body)), Movie)
    assert out.output_parsed == {"title": "Up", "year": 2009}
    assert out.id == "resp_1"
    body["output"][0]["content"] = [{"type": "refusal", "refusal": "no"}]
    assert parse_response(decode_response(msgspec.json.encode(body)), Movie).output_parsed is None


def test_parse_response_function_calls_of_known_tools() -> None:
    def lookup(query: str) -> None:
        """Search."""

    body = {
        "id": "resp_2",
        "object": "response",
        "status": "completed",
        "model": "m",
        "output": [
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "lookup",
                "arguments": '{"query": "q"}',
            },
            {"type": "function_call", "call_id": "c2", "name": "other", "arguments": "{}"},
        ],
    }
    out = parse_response(decode_response(msgspec.json.encode(body)), None, [function_tool(lookup)])
    first, second = out.output
    assert first.parsed_arguments == {"query": "q"} and first.call_id == "c1"
    assert not hasattr(second, "parsed_arguments")
    # sent back as input, the item is exactly the wire object
    assert msgspec.json.decode(msgspec.json.encode(first)) == body["output"][0]
