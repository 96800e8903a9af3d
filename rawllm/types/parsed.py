"""Results of ``parse()`` calls: the usual types plus the parsed object (the official SDKs' names).

``ParsedChatCompletion[T]`` is a ``ChatCompletion`` whose messages carry
``.parsed`` (a ``T`` or None) and whose tool calls carry
``.function.parsed_arguments``; ``ParsedResponse[T]`` is a ``Response`` with
``.output_parsed``.  The parsed values are kept beside the wire fields, not
among them: sending a parsed message back in ``messages`` sends exactly what
the API returned.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from .openai import ChatCompletion, ChatCompletionMessage, ChatCompletionMessageToolCall, Choice
from .openai import Function as _Function
from .responses import Response, ResponseFunctionToolCall

__all__ = [
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "ParsedFunction",
    "ParsedFunctionToolCall",
    "ParsedResponse",
    "ParsedResponseFunctionToolCall",
]

T = TypeVar("T")


class ParsedFunction(_Function, kw_only=True, omit_defaults=False, gc=True, dict=True):
    """A tool call's function; ``parsed_arguments`` is set when the tool came from
    ``rawllm.function_tool`` (or is a ``strict`` tool: then a dict)."""

    @property
    def parsed_arguments(self) -> Any:
        """The decoded arguments, or None."""
        return self.__dict__.get("_parsed_arguments")


class ParsedFunctionToolCall(ChatCompletionMessageToolCall, kw_only=True, gc=True, dict=True):
    """A tool call whose ``function`` has ``parsed_arguments``."""

    function: ParsedFunction | None = None


class ParsedChatCompletionMessage(
    ChatCompletionMessage, Generic[T], kw_only=True, gc=True, dict=True
):
    """A message with ``.parsed``: the content decoded into ``T`` (None on a refusal)."""

    tool_calls: list[ParsedFunctionToolCall] | None = None  # type: ignore[assignment]

    @property
    def parsed(self) -> T | None:
        """The content as a ``T``; None when the model refused or sent no content."""
        value: T | None = self.__dict__.get("_parsed")
        return value


class ParsedChoice(Choice, Generic[T], kw_only=True, gc=True):
    """A choice whose message is a ``ParsedChatCompletionMessage``."""

    message: ParsedChatCompletionMessage[T]


class ParsedChatCompletion(ChatCompletion, Generic[T], kw_only=True):
    """A ``ChatCompletion`` from ``chat.completions.parse()``.

    Example:
        >>> resp = await client.chat.completions.parse(
        ...     model=..., messages=..., response_format=City)
        >>> resp.choices[0].message.parsed
        City(name='Paris', country='France')
    """

    choices: list[ParsedChoice[T]]  # type: ignore[assignment]


class ParsedResponseFunctionToolCall(
    ResponseFunctionToolCall,
    kw_only=True,
    gc=True,
    dict=True,
    tag_field="type",
    tag="function_call",
):
    """A Responses ``function_call`` item with ``parsed_arguments`` (``function_tool`` tools)."""

    @property
    def parsed_arguments(self) -> Any:
        """The decoded arguments, or None."""
        return self.__dict__.get("_parsed_arguments")


class ParsedResponse(Response, Generic[T], kw_only=True):
    """A ``Response`` from ``responses.parse()``; ``output_parsed`` is the answer as a ``T``."""

    @property
    def output_parsed(self) -> T | None:
        """The output text decoded into ``T``; None when the model refused or sent none."""
        value: T | None = self.__dict__.get("_output_parsed")
        return value
