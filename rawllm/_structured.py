"""Structured outputs: a JSON schema from a Python type, made strict; the answer decoded into it.

``T`` may be a msgspec Struct, a dataclass, a TypedDict (schema from
``msgspec.json.schema``), or a pydantic model when pydantic is installed
(its own ``model_json_schema``; pydantic is never imported by rawllm unless
the caller already did).

Strict-mode rules (OpenAI "Structured Outputs", also what Anthropic's
``strict`` tools take), applied by ``strict_schema``:

- the root is an object (msgspec's root ``$ref`` is inlined, ``$defs`` kept
  so every ``$ref`` still resolves);
- every object lists all its properties in ``required`` and has
  ``additionalProperties: false`` unless it says otherwise (a ``dict[str, X]``);
  an optional field stays optional by its type (``anyOf`` with ``null``);
- ``default: null`` is dropped, a one-entry ``allOf`` is merged into its parent,
  ``oneOf`` becomes ``anyOf``, msgspec's ``discriminator`` annotation is dropped,
  a ``$ref`` with siblings is resolved in place.

Decoding is one pass: ``msgspec.json.decode(text, type=T)`` (pydantic:
``T.model_validate_json``); a misfit raises ``APIResponseValidationError``.

Pure: no IO.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from ._exceptions import APIResponseValidationError, LengthFinishReasonError

__all__ = [
    "decoder_for",
    "inline_root",
    "is_pydantic_model",
    "parse_chat_completion",
    "parse_response",
    "response_format_param",
    "schema_of",
    "schema_name",
    "strict_schema",
    "text_format_param",
]

_NAME = re.compile(r"[^a-zA-Z0-9_-]")


def is_pydantic_model(tp: Any) -> bool:
    """True when ``tp`` is a pydantic model class (checked only if pydantic is imported)."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(tp, type):
        return False
    return issubclass(tp, pydantic.BaseModel)


def schema_name(tp: Any) -> str:
    """The schema's name as the API takes it (``^[a-zA-Z0-9_-]{1,64}$``).

    Example:
        >>> schema_name(list)
        'list'
    """
    name = getattr(tp, "__name__", None) or "response"
    return _NAME.sub("_", str(name))[:64]


def schema_of(tp: Any) -> dict[str, Any]:
    """The JSON schema of ``tp`` as its library writes it (not yet strict).

    Raises:
        TypeError: ``tp`` has no JSON schema (an arbitrary class).
    """
    if is_pydantic_model(tp):
        out: dict[str, Any] = tp.model_json_schema()
        return out
    try:
        return msgspec.json.schema(tp)
    except TypeError as exc:
        raise TypeError(
            f"Cannot build a JSON schema for {tp!r}: use a msgspec Struct, a dataclass, "
            f"a TypedDict, or a pydantic model ({exc})"
        ) from None


def _resolve(root: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"Unexpected $ref {ref!r}: only local refs (#/...) are supported")
    node: Any = root
    for key in ref[2:].split("/"):
        node = node[key]
    return node


def _strict(node: Any, root: Mapping[str, Any]) -> Any:
    if isinstance(node, list):
        return [_strict(x, root) for x in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1:
        # A $ref with siblings (a description, a default): resolve it in place.
        merged = {**_resolve(root, ref), **{k: v for k, v in node.items() if k != "$ref"}}
        return _strict(merged, root)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "discriminator":
            continue
        if key == "default" and value is None:
            continue
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {k: _strict(v, root) for k, v in value.items()}
        elif key in ("items", "anyOf", "prefixItems", "additionalProperties", "allOf"):
            out[key] = _strict(value, root)
        elif key == "oneOf":
            out["anyOf"] = _strict(value, root)
        else:
            out[key] = value
    all_of = out.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        del out["allOf"]
        out = {**all_of[0], **out}
    props = out.get("properties")
    if isinstance(props, dict):
        out["required"] = list(props)
    if out.get("type") == "object" and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def inline_root(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` with msgspec's root ``$ref`` replaced by the object it names.

    The entry stays in ``$defs`` only when something refers to it (a recursive type).
    """
    root: dict[str, Any] = dict(schema)
    ref = root.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref[len("#/$defs/") :]
        defs = dict(root.get("$defs") or {})
        body = defs[name]
        if f'"{ref}"' not in msgspec.json.encode(defs).decode():
            del defs[name]
        root = {**body, **({"$defs": defs} if defs else {})}
    return root


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` rewritten to the strict-mode rules (see the module docstring); a new dict.

    Raises:
        TypeError: the root is not an object (strict mode needs one).

    Example:
        >>> strict_schema({"type": "object", "properties": {"a": {"type": "integer"}}})
        {'type': 'object', 'properties': {'a': {'type': 'integer'}}, 'required': ['a'], \
'additionalProperties': False}
    """
    root = inline_root(schema)
    out: dict[str, Any] = _strict(root, root)
    if out.get("type") != "object":
        raise TypeError(
            "Structured outputs need an object at the root of the schema "
            f"(got {out.get('type')!r}): wrap the value in a Struct / dataclass / TypedDict"
        )
    return out


@functools.cache
def _schema_cached(tp: Any) -> tuple[str, dict[str, Any]]:
    return schema_name(tp), strict_schema(schema_of(tp))


def _schema(tp: Any) -> tuple[str, dict[str, Any]]:
    try:
        return _schema_cached(tp)
    except TypeError as exc:
        if "unhashable" not in str(exc):
            raise
        return schema_name(tp), strict_schema(schema_of(tp))


def response_format_param(tp: Any) -> dict[str, Any]:
    """The Chat Completions ``response_format`` for ``tp``, as the official SDK sends it.

    Example:
        >>> class City(msgspec.Struct):
        ...     name: str
        >>> response_format_param(City)["json_schema"]["strict"]
        True
    """
    name, schema = _schema(tp)
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": True},
    }


def text_format_param(tp: Any) -> dict[str, Any]:
    """The Responses API ``text.format`` for ``tp`` (flat: name and schema beside ``type``)."""
    name, schema = _schema(tp)
    return {"type": "json_schema", "name": name, "schema": schema, "strict": True}


def _pydantic_decoder(tp: Any) -> Callable[[str | bytes], Any]:
    pydantic = sys.modules["pydantic"]

    def decode(text: str | bytes) -> Any:
        try:
            return tp.model_validate_json(text)
        except pydantic.ValidationError as exc:
            raise _misfit(tp, text, exc) from exc

    return decode


def _misfit(tp: Any, text: str | bytes, exc: Exception) -> APIResponseValidationError:
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    name = getattr(tp, "__name__", repr(tp))
    return APIResponseValidationError(
        f"The answer does not fit {name}: {'; '.join(str(exc).splitlines()[:3])}", body=body
    )


def _make_decoder(tp: Any) -> Callable[[str | bytes], Any]:
    if is_pydantic_model(tp):
        return _pydantic_decoder(tp)
    dec = msgspec.json.Decoder(tp)

    def decode(text: str | bytes) -> Any:
        try:
            return dec.decode(text)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise _misfit(tp, text, exc) from exc

    return decode


@functools.cache
def _decoder_cached(tp: Any) -> Callable[[str | bytes], Any]:
    return _make_decoder(tp)


def decoder_for(tp: Any) -> Callable[[str | bytes], Any]:
    """``text -> T`` in one pass (built once per type); raises ``APIResponseValidationError``.

    Example:
        >>> decoder_for(dict[str, int])('{"a": 1}')
        {'a': 1}
    """
    try:
        return _decoder_cached(tp)
    except TypeError as exc:
        if "unhashable" not in str(exc):
            raise
        return _make_decoder(tp)


# -- parsed results --------------------------------------------------------------------


def _rebuild(obj: Any, cls: type[Any], **changes: Any) -> Any:
    """``obj``'s fields in an instance of its subclass ``cls`` (no validation, no copy)."""
    fields = {f: getattr(obj, f) for f in obj.__struct_fields__}
    fields.update(changes)
    return cls(**fields)


def _tool_parsers(tools: Any) -> dict[str, Callable[[str], Any]]:
    """name -> argument parser, for ``function_tool`` tools and other ``strict`` tools."""
    from ._tools import FunctionTool

    out: dict[str, Callable[[str], Any]] = {}
    if not isinstance(tools, list | tuple):
        return out
    for tool in tools:
        if isinstance(tool, FunctionTool):
            out[tool.name] = tool.parse_arguments
        elif isinstance(tool, Mapping):
            fn = tool.get("function", tool)  # chat form, or the flat Responses form
            if isinstance(fn, Mapping) and fn.get("strict") and isinstance(fn.get("name"), str):
                out[fn["name"]] = decoder_for(dict[str, Any])
    return out


def parse_chat_completion(completion: Any, tp: Any, tools: Any) -> Any:
    """A ``ChatCompletion`` as a ``ParsedChatCompletion``: content decoded into ``tp``,
    tool calls of known tools with ``parsed_arguments``.

    Raises:
        LengthFinishReasonError: a choice ended by the token limit.
        APIResponseValidationError: content or arguments that do not fit.
    """
    from .types.parsed import (
        ParsedChatCompletion,
        ParsedChatCompletionMessage,
        ParsedChoice,
        ParsedFunction,
        ParsedFunctionToolCall,
    )

    parsers = _tool_parsers(tools)
    decode = decoder_for(tp) if tp is not None else None
    choices = []
    for choice in completion.choices:
        if choice.finish_reason == "length":
            raise LengthFinishReasonError(completion=completion)
        msg = choice.message
        calls = None
        if msg.tool_calls is not None:
            calls = []
            for call in msg.tool_calls:
                fn = call.function
                pfn = None
                if fn is not None:
                    pfn = _rebuild(fn, ParsedFunction)
                    parser = parsers.get(fn.name)
                    if parser is not None:
                        pfn.__dict__["_parsed_arguments"] = parser(fn.arguments)
                calls.append(_rebuild(call, ParsedFunctionToolCall, function=pfn))
        pmsg = _rebuild(msg, ParsedChatCompletionMessage, tool_calls=calls)
        if decode is not None and msg.content and not msg.refusal:
            pmsg.__dict__["_parsed"] = decode(msg.content)
        choices.append(_rebuild(choice, ParsedChoice, message=pmsg))
    out = _rebuild(completion, ParsedChatCompletion, choices=choices)
    out.__dict__.update(completion.__dict__)
    return out


def parse_response(response: Any, tp: Any, tools: Any = None) -> Any:
    """A ``Response`` as a ``ParsedResponse`` with ``output_parsed`` (None on a refusal);
    ``function_call`` items of known tools get ``parsed_arguments``."""
    from .types.parsed import ParsedResponse, ParsedResponseFunctionToolCall
    from .types.responses import ResponseFunctionToolCall

    parsers = _tool_parsers(tools)
    output = response.output
    if parsers:
        output = []
        for item in response.output:
            parser = parsers.get(getattr(item, "name", None) or "")
            if isinstance(item, ResponseFunctionToolCall) and parser is not None:
                item = _rebuild(item, ParsedResponseFunctionToolCall)
                item.__dict__["_parsed_arguments"] = parser(item.arguments)
            output.append(item)
    out = _rebuild(response, ParsedResponse, output=output)
    out.__dict__.update(response.__dict__)
    text = response.output_text
    if tp is not None and text:
        out.__dict__["_output_parsed"] = decoder_for(tp)(text)
    return out
