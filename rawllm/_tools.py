"""rawllm.function_tool: a ``tools=[...]`` entry from a function or a type; parsed arguments.

The entry is a ``FunctionTool``: a plain dict in the Chat Completions form
(``{"type": "function", "function": {"name", "description", "parameters",
"strict"}}``, what ``openai.pydantic_function_tool`` returns), so it is sent as
is to any OpenAI-compatible server.  The same object given to
``client.messages.create(tools=[...])`` is sent in the Anthropic form
(``{"name", "description", "input_schema", "strict"}``) and to
``client.responses.create(tools=[...])`` in the Responses form (flat
``{"type": "function", "name", ...}``): the call that sends it picks the form,
so one tool definition serves every client.

Schemas follow the strict-mode rules of ``_structured.strict_schema``.  For a
function, the parameters are its signature's (annotations resolved, defaults
kept as JSON-schema defaults), the description its docstring's first
paragraph, and Google-style ``Args:`` lines describe each parameter.

Pure: no IO.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from ._structured import decoder_for, inline_root, schema_name, schema_of, strict_schema

__all__ = ["FunctionTool", "function_tool", "tools_for_anthropic", "tools_for_responses"]

_ARG_LINE = re.compile(r"^\s{2,}(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")


class FunctionTool(dict[str, Any]):
    """A ``tools=[...]`` entry built by ``function_tool`` (a dict in the Chat Completions form).

    Attributes:
        name: the tool's name.
        schema: the parameters' JSON schema (strict-mode rules when ``strict``).
        description: the description sent, or None.
        strict: whether ``strict: true`` is sent.
        target: the function or type it was built from.
    """

    __slots__ = ("_decode", "_kwargs", "description", "name", "schema", "strict", "target")

    name: str
    schema: dict[str, Any]
    description: str | None
    strict: bool
    target: Any
    _decode: Callable[[str | bytes], Any]
    _kwargs: bool

    def parse_arguments(self, arguments: str | bytes | Mapping[str, Any]) -> Any:
        """The call's arguments decoded in one pass: an instance of the type, or for a
        function a ``dict`` of its keyword arguments (``fn(**args)``).

        Raises:
            APIResponseValidationError: the arguments do not fit the schema.
        """
        if isinstance(arguments, Mapping):
            arguments = msgspec.json.encode(arguments)
        value = self._decode(arguments)
        if self._kwargs:
            return {f: getattr(value, f) for f in value.__struct_fields__}
        return value

    def anthropic(self) -> dict[str, Any]:
        """This tool in the Anthropic Messages form."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["input_schema"] = self.schema
        if self.strict:
            out["strict"] = True
        return out

    def responses(self) -> dict[str, Any]:
        """This tool in the Responses API form."""
        out: dict[str, Any] = {"type": "function", "name": self.name}
        if self.description:
            out["description"] = self.description
        out["parameters"] = self.schema
        out["strict"] = self.strict
        return out


def _doc_parts(doc: str | None) -> tuple[str | None, dict[str, str]]:
    """(first paragraph, {parameter: description}) of a Google-style docstring."""
    if not doc:
        return None, {}
    doc = inspect.cleandoc(doc)
    summary = doc.split("\n\n", 1)[0].strip() or None
    params: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args:
            if line and not line.startswith(" "):
                in_args = False
                continue
            m = _ARG_LINE.match(line)
            if m:
                params[m.group(1).lstrip("*")] = m.group(2).strip()
    return summary, params


def _struct_for(fn: Callable[..., Any], name: str) -> type[msgspec.Struct]:
    """A Struct type whose fields are ``fn``'s parameters."""
    hints = typing.get_type_hints(fn)
    fields: list[Any] = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"function_tool: {name}() takes *{p.name}; list its parameters")
        tp = hints.get(p.name, Any)
        if p.default is p.empty:
            fields.append((p.name, tp))
        else:
            fields.append((p.name, tp, p.default))
    return msgspec.defstruct(name, fields, kw_only=True)


def function_tool(
    fn_or_type: Any,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = True,
) -> FunctionTool:
    """A ``tools=[...]`` entry from a function's signature and docstring, or from a type.

    Args:
        fn_or_type: a function (its parameters become the tool's arguments) or a
            msgspec Struct / dataclass / TypedDict / pydantic model.
        name: the tool's name (default: the function's or type's ``__name__``).
        description: default: the docstring's first paragraph.
        strict: send ``strict: true`` (the schema follows the strict-mode rules either way
            when True; with False it is sent as its library writes it).

    Returns:
        A ``FunctionTool`` (a dict in the Chat Completions form; ``messages.create`` and
        ``responses.create`` send it in their own form).  Tool calls to it made through
        ``chat.completions.parse`` / ``.stream`` carry ``function.parsed_arguments``.

    Example:
        >>> def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
        ...     '''Current weather in a city.'''
        >>> tool = rawllm.function_tool(get_weather)
        >>> tool["function"]["parameters"]["required"]
        ['city', 'unit']
    """
    kwargs = False
    if inspect.isfunction(fn_or_type) or inspect.ismethod(fn_or_type):
        fn = fn_or_type
        tool_name = name or fn.__name__
        summary, arg_docs = _doc_parts(fn.__doc__)
        tp: Any = _struct_for(fn, tool_name)
        raw = schema_of(tp)
        if arg_docs:
            props = raw["$defs"][tp.__name__]["properties"]
            for arg, text in arg_docs.items():
                if arg in props:
                    props[arg] = {**props[arg], "description": text}
        kwargs = True
    elif isinstance(fn_or_type, type) or typing.get_origin(fn_or_type) is not None:
        tp = fn_or_type
        tool_name = name or schema_name(tp)
        # The type's own docstring only (not one inherited from BaseModel, nor the
        # signature dataclasses write when there is none).
        doc = tp.__dict__.get("__doc__") if isinstance(tp, type) else None
        if isinstance(doc, str) and not doc.startswith(f"{getattr(tp, '__name__', '')}("):
            summary = inspect.cleandoc(doc).split("\n\n", 1)[0].strip() or None
        else:
            summary = None
        raw = schema_of(tp)
    else:
        raise TypeError(f"function_tool() takes a function or a type, not {fn_or_type!r}")
    schema = strict_schema(raw) if strict else inline_root(raw)
    if kwargs:
        schema.pop("title", None)  # the generated Struct's name says nothing new
    desc = description if description is not None else summary
    tool = FunctionTool(
        type="function",
        function={
            "name": tool_name,
            **({"description": desc} if desc else {}),
            "parameters": schema,
            "strict": strict,
        },
    )
    tool.name = tool_name
    tool.schema = schema
    tool.description = desc
    tool.strict = strict
    tool.target = fn_or_type
    tool._decode = decoder_for(tp)
    tool._kwargs = kwargs
    return tool


def tools_for_anthropic(tools: Any) -> Any:
    """``tools`` with every ``FunctionTool`` in the Anthropic form (others unchanged)."""
    if not isinstance(tools, list | tuple) or not any(isinstance(t, FunctionTool) for t in tools):
        return tools
    return [t.anthropic() if isinstance(t, FunctionTool) else t for t in tools]


def tools_for_responses(tools: Any) -> Any:
    """``tools`` with every ``FunctionTool`` in the Responses form (others unchanged)."""
    if not isinstance(tools, list | tuple) or not any(isinstance(t, FunctionTool) for t in tools):
        return tools
    return [t.responses() if isinstance(t, FunctionTool) else t for t in tools]
