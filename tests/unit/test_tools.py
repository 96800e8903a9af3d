"""rawllm.function_tool: tools entries from functions and types, in each wire form."""

from __future__ import annotations

import dataclasses
from typing import Literal, TypedDict

import msgspec
import pydantic
import pytest

import rawllm
from rawllm._tools import FunctionTool, function_tool, tools_for_anthropic, tools_for_responses


def get_weather(city: str, unit: Literal["c", "f"] = "c", days: int | None = None) -> str:
    """Current weather in a city.

    Longer explanation that is not sent.

    Args:
        city: the city name.
        unit (str): c or f.
    """
    return "sunny"


class Search(msgspec.Struct):
    """Search the catalogue."""

    query: str
    limit: int = 10


@dataclasses.dataclass
class Move:
    x: int


class Note(TypedDict):
    text: str


class Ticket(pydantic.BaseModel):
    title: str


def test_from_a_function() -> None:
    tool = function_tool(get_weather)
    assert isinstance(tool, dict) and isinstance(tool, FunctionTool)
    assert tool["type"] == "function"
    fn = tool["function"]
    assert fn["name"] == "get_weather"
    assert fn["description"] == "Current weather in a city."
    assert fn["strict"] is True
    params = fn["parameters"]
    assert params["required"] == ["city", "unit", "days"]
    assert params["additionalProperties"] is False
    assert params["properties"]["city"] == {"type": "string", "description": "the city name."}
    assert params["properties"]["unit"]["enum"] == ["c", "f"]
    assert params["properties"]["unit"]["description"] == "c or f."
    assert "title" not in params
    assert tool.parse_arguments('{"city": "Oslo", "unit": "f", "days": null}') == {
        "city": "Oslo",
        "unit": "f",
        "days": None,
    }
    assert get_weather(**tool.parse_arguments({"city": "Oslo", "unit": "c", "days": 2})) == "sunny"


def test_name_description_and_non_strict() -> None:
    tool = function_tool(get_weather, name="weather", description="Weather now.", strict=False)
    fn = tool["function"]
    assert fn["name"] == "weather" and fn["description"] == "Weather now." and fn["strict"] is False
    assert fn["parameters"]["required"] == ["city"]  # as msgspec writes it: defaults optional
    assert tool.name == "weather"


@pytest.mark.parametrize(
    ("tp", "args", "expected"),
    [
        (Search, '{"query": "q", "limit": 1}', Search(query="q", limit=1)),
        (Move, '{"x": 1}', Move(x=1)),
        (Note, '{"text": "t"}', {"text": "t"}),
        (Ticket, '{"title": "t"}', Ticket(title="t")),
    ],
)
def test_from_a_type(tp: type, args: str, expected: object) -> None:
    tool = function_tool(tp)
    assert tool["function"]["name"] == tp.__name__
    assert tool["function"]["parameters"]["additionalProperties"] is False
    assert tool.parse_arguments(args) == expected


def test_descriptions_come_from_the_types_own_docstring() -> None:
    assert function_tool(Search)["function"]["description"] == "Search the catalogue."
    assert "description" not in function_tool(Move)["function"]  # dataclass auto-doc skipped
    assert "description" not in function_tool(Ticket)["function"]  # BaseModel's doc skipped


def test_misfit_arguments_raise() -> None:
    with pytest.raises(rawllm.APIResponseValidationError):
        function_tool(Search).parse_arguments('{"limit": 1}')


def test_other_wire_forms() -> None:
    tool = function_tool(get_weather)
    anth = tool.anthropic()
    assert set(anth) == {"name", "description", "input_schema", "strict"}
    assert anth["input_schema"] == tool["function"]["parameters"]
    resp = tool.responses()
    assert resp["type"] == "function" and resp["name"] == "get_weather"
    assert resp["parameters"] == tool["function"]["parameters"] and resp["strict"] is True
    plain = {"name": "x", "input_schema": {"type": "object"}}
    assert tools_for_anthropic([tool, plain]) == [anth, plain]
    assert tools_for_responses([tool]) == [resp]
    same = [plain]
    assert tools_for_anthropic(same) is same  # nothing to convert: no copy


def test_what_cannot_be_a_tool() -> None:
    def variadic(*args: int) -> None: ...

    with pytest.raises(TypeError, match="takes \\*args"):
        function_tool(variadic)
    with pytest.raises(TypeError, match="function or a type"):
        function_tool(42)


def test_encodes_as_the_chat_completions_dict() -> None:
    tool = function_tool(Search)
    assert msgspec.json.decode(msgspec.json.encode([tool])) == [dict(tool)]
