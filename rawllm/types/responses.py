"""Typed OpenAI Responses API results and stream events (msgspec Structs).

Names and attribute paths follow the official ``openai`` Python SDK
(``resp.output[0].content[0].text``, ``resp.usage.input_tokens_details.cached_tokens``,
``resp.output_text``, ``event.delta``), and ``.type`` reads the wire tag on
every output item, content part and stream event, as it does there.

Spec: https://platform.openai.com/docs/api-reference/responses and its
streaming events (https://platform.openai.com/docs/api-reference/responses-streaming).

Invariants:

- Output items, content parts and stream events are msgspec tagged unions on
  ``"type"``.  The tag is not a Struct field, so each class carries it as a
  ``ClassVar`` named ``type``.
- An output item or content part of an unknown type never fails decoding:
  ``rawllm._wire.responses`` keeps it as ``UnknownOutputItem`` /
  ``UnknownContentPart``: the object's own dict, with ``.type`` and ``.data``.  They
  belong to ``ResponseOutputItem`` / ``ResponseOutputContent`` for type
  checkers only; the decoding unions hold the known types, which keeps the
  common path one decode.
- Annotations have one loose Struct, ``Annotation`` (``type`` a plain field,
  every other field optional), so new annotation kinds decode too.
- ``ResponseFailedEvent`` and ``ResponseErrorEvent`` are defined for
  completeness but a stream never yields them: the wire module raises the
  matching ``APIStatusError`` instead.
- Enumerations the SDK types as ``Literal`` (``status``, ``role``,
  ``service_tier``) are plain ``str``.  Unknown fields are ignored;
  ``Result.to_dict()`` still returns them.  Stream events are ``StreamItem``s
  (no ``__dict__``, not GC-tracked: cheaper per event).  Nested Structs are ``gc=False``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from ._base import BaseModel, Result, StreamItem
from ._responses_items import (
    Annotation,
    ImageGenerationCall,
    IncompleteDetails,
    InputTokensDetails,
    McpApprovalRequest,
    McpCall,
    McpListTools,
    McpToolCallError,
    OutputTokensDetails,
    Reasoning,
    ReasoningContent,
    ResponseCodeInterpreterToolCall,
    ResponseComputerToolCall,
    ResponseCustomToolCall,
    ResponseError,
    ResponseFileSearchToolCall,
    ResponseFunctionToolCall,
    ResponseFunctionWebSearch,
    ResponseOutputContent,
    ResponseOutputItem,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
    ResponseReasoningItem,
    ResponseUsage,
    Summary,
    UnknownContentPart,
    UnknownOutputItem,
)

__all__ = [
    "Annotation",
    "Conversation",
    "ImageGenerationCall",
    "IncompleteDetails",
    "InputTokensDetails",
    "McpApprovalRequest",
    "McpCall",
    "McpListTools",
    "McpToolCallError",
    "OutputTokensDetails",
    "Reasoning",
    "ReasoningContent",
    "Response",
    "ResponseCodeInterpreterToolCall",
    "ResponseCompletedEvent",
    "ResponseComputerToolCall",
    "ResponseContentPartAddedEvent",
    "ResponseContentPartDoneEvent",
    "ResponseCreatedEvent",
    "ResponseCustomToolCall",
    "ResponseError",
    "ResponseErrorEvent",
    "ResponseFailedEvent",
    "ResponseFileSearchToolCall",
    "ResponseFunctionCallArgumentsDeltaEvent",
    "ResponseFunctionCallArgumentsDoneEvent",
    "ResponseFunctionToolCall",
    "ResponseFunctionWebSearch",
    "ResponseInProgressEvent",
    "ResponseIncompleteEvent",
    "ResponseOutputContent",
    "ResponseOutputItem",
    "ResponseOutputItemAddedEvent",
    "ResponseOutputItemDoneEvent",
    "ResponseOutputMessage",
    "ResponseOutputRefusal",
    "ResponseOutputText",
    "ResponseOutputTextAnnotationAddedEvent",
    "ResponseQueuedEvent",
    "ResponseReasoningItem",
    "ResponseReasoningSummaryPartAddedEvent",
    "ResponseReasoningSummaryPartDoneEvent",
    "ResponseReasoningSummaryTextDeltaEvent",
    "ResponseReasoningSummaryTextDoneEvent",
    "ResponseReasoningTextDeltaEvent",
    "ResponseReasoningTextDoneEvent",
    "ResponseRefusalDeltaEvent",
    "ResponseRefusalDoneEvent",
    "ResponseStreamEvent",
    "ResponseTextDeltaEvent",
    "ResponseTextDoneEvent",
    "ResponseUsage",
    "Summary",
    "UnknownContentPart",
    "UnknownOutputItem",
]


# -- the response ---------------------------------------------------------------------------


class Conversation(BaseModel, kw_only=True, gc=False):
    """The conversation a response belongs to."""

    id: str


class Response(Result, kw_only=True):
    """A Responses API response (``POST /v1/responses``).

    Example:
        >>> resp = await client.responses.create(model="gpt-5-mini", input="Say hi")
        >>> resp.output_text, resp.status, resp.usage.output_tokens
        ('Hi!', 'completed', 3)
    """

    id: str
    object: str = "response"
    created_at: float = 0.0
    status: str | None = None
    model: str = ""
    output: list[ResponseOutputItem] = []
    usage: ResponseUsage | None = None
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: Any = None
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    previous_response_id: str | None = None
    reasoning: Reasoning | None = None
    service_tier: str | None = None
    tool_choice: Any = None
    tools: list[dict[str, Any]] = []
    text: dict[str, Any] | None = None
    truncation: str | None = None
    user: str | None = None
    background: bool | None = None
    completed_at: float | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    prompt_cache_retention: str | None = None
    top_logprobs: int | None = None
    max_tool_calls: int | None = None
    prompt: dict[str, Any] | None = None
    prompt_cache_options: dict[str, Any] | None = None
    moderation: dict[str, Any] | None = None
    conversation: Conversation | None = None

    @property
    def output_text(self) -> str:
        """All ``output_text`` parts of all ``message`` items, joined (``""`` if none).

        Example:
            >>> resp.output_text
            'Hello there'
        """
        parts = [
            part.text
            for item in self.output
            if type(item) is ResponseOutputMessage
            for part in item.content
            if type(part) is ResponseOutputText
        ]
        return "".join(parts)


# -- stream events -----------------------------------------------------------------------------


class ResponseCreatedEvent(StreamItem, kw_only=True, tag_field="type", tag="response.created"):
    """First event: the response, ``status`` ``in_progress`` (or ``queued``)."""

    type: ClassVar[Literal["response.created"]] = "response.created"
    response: Response
    sequence_number: int | None = None


class ResponseQueuedEvent(StreamItem, kw_only=True, tag_field="type", tag="response.queued"):
    """The response is queued (background mode)."""

    type: ClassVar[Literal["response.queued"]] = "response.queued"
    response: Response
    sequence_number: int | None = None


class ResponseInProgressEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.in_progress"
):
    """The response is being generated."""

    type: ClassVar[Literal["response.in_progress"]] = "response.in_progress"
    response: Response
    sequence_number: int | None = None


class ResponseCompletedEvent(StreamItem, kw_only=True, tag_field="type", tag="response.completed"):
    """Last event of a complete stream: the whole response."""

    type: ClassVar[Literal["response.completed"]] = "response.completed"
    response: Response
    sequence_number: int | None = None


class ResponseIncompleteEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.incomplete"
):
    """Last event of a stream cut short by the model (``max_output_tokens``, content filter).

    It ends the stream: ``final()`` is this (incomplete) response; read
    ``response.incomplete_details.reason``.
    """

    type: ClassVar[Literal["response.incomplete"]] = "response.incomplete"
    response: Response
    sequence_number: int | None = None


class ResponseFailedEvent(StreamItem, kw_only=True, tag_field="type", tag="response.failed"):
    """The response failed; never yielded (the stream raises from ``response.error``)."""

    type: ClassVar[Literal["response.failed"]] = "response.failed"
    response: Response
    sequence_number: int | None = None


class ResponseErrorEvent(StreamItem, kw_only=True, tag_field="type", tag="error"):
    """An error in the stream; never yielded (the stream raises the matching error)."""

    type: ClassVar[Literal["error"]] = "error"
    message: str = ""
    code: str | None = None
    param: str | None = None
    sequence_number: int | None = None


class ResponseOutputItemAddedEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.output_item.added"
):
    """An output item begins at ``output_index``."""

    type: ClassVar[Literal["response.output_item.added"]] = "response.output_item.added"
    item: ResponseOutputItem
    output_index: int = 0
    sequence_number: int | None = None


class ResponseOutputItemDoneEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.output_item.done"
):
    """The output item at ``output_index`` is complete."""

    type: ClassVar[Literal["response.output_item.done"]] = "response.output_item.done"
    item: ResponseOutputItem
    output_index: int = 0
    sequence_number: int | None = None


class ResponseContentPartAddedEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.content_part.added"
):
    """A content part begins in a message item."""

    type: ClassVar[Literal["response.content_part.added"]] = "response.content_part.added"
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    part: ResponseOutputContent
    sequence_number: int | None = None


class ResponseContentPartDoneEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.content_part.done"
):
    """A content part is complete."""

    type: ClassVar[Literal["response.content_part.done"]] = "response.content_part.done"
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    part: ResponseOutputContent
    sequence_number: int | None = None


class ResponseTextDeltaEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.output_text.delta"
):
    """More output text.

    Example:
        >>> if event.type == "response.output_text.delta":
        ...     print(event.delta, end="")
    """

    type: ClassVar[Literal["response.output_text.delta"]] = "response.output_text.delta"
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    delta: str
    logprobs: list[dict[str, Any]] | None = None
    sequence_number: int | None = None


class ResponseTextDoneEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.output_text.done"
):
    """The full text of an output text part."""

    type: ClassVar[Literal["response.output_text.done"]] = "response.output_text.done"
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    text: str
    logprobs: list[dict[str, Any]] | None = None
    sequence_number: int | None = None


class ResponseOutputTextAnnotationAddedEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.output_text.annotation.added"
):
    """An annotation was added to an output text part."""

    type: ClassVar[Literal["response.output_text.annotation.added"]] = (
        "response.output_text.annotation.added"
    )
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    annotation_index: int = 0
    annotation: Annotation | None = None
    sequence_number: int | None = None


class ResponseRefusalDeltaEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.refusal.delta"
):
    """More refusal text."""

    type: ClassVar[Literal["response.refusal.delta"]] = "response.refusal.delta"
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    delta: str
    sequence_number: int | None = None


class ResponseRefusalDoneEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.refusal.done"
):
    """The full refusal text."""

    type: ClassVar[Literal["response.refusal.done"]] = "response.refusal.done"
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    refusal: str
    sequence_number: int | None = None


class ResponseFunctionCallArgumentsDeltaEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.function_call_arguments.delta"
):
    """A piece of a function call's arguments JSON."""

    type: ClassVar[Literal["response.function_call_arguments.delta"]] = (
        "response.function_call_arguments.delta"
    )
    item_id: str = ""
    output_index: int = 0
    delta: str
    sequence_number: int | None = None


class ResponseFunctionCallArgumentsDoneEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.function_call_arguments.done"
):
    """A function call's complete arguments JSON."""

    type: ClassVar[Literal["response.function_call_arguments.done"]] = (
        "response.function_call_arguments.done"
    )
    item_id: str = ""
    output_index: int = 0
    arguments: str
    name: str | None = None
    sequence_number: int | None = None


class ResponseReasoningSummaryPartAddedEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.reasoning_summary_part.added"
):
    """A reasoning summary part begins."""

    type: ClassVar[Literal["response.reasoning_summary_part.added"]] = (
        "response.reasoning_summary_part.added"
    )
    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0
    part: Summary
    sequence_number: int | None = None


class ResponseReasoningSummaryPartDoneEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.reasoning_summary_part.done"
):
    """A reasoning summary part is complete."""

    type: ClassVar[Literal["response.reasoning_summary_part.done"]] = (
        "response.reasoning_summary_part.done"
    )
    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0
    part: Summary
    sequence_number: int | None = None
    status: str | None = None


class ResponseReasoningSummaryTextDeltaEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.reasoning_summary_text.delta"
):
    """More reasoning summary text."""

    type: ClassVar[Literal["response.reasoning_summary_text.delta"]] = (
        "response.reasoning_summary_text.delta"
    )
    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0
    delta: str
    sequence_number: int | None = None


class ResponseReasoningSummaryTextDoneEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.reasoning_summary_text.done"
):
    """The full text of a reasoning summary part."""

    type: ClassVar[Literal["response.reasoning_summary_text.done"]] = (
        "response.reasoning_summary_text.done"
    )
    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0
    text: str
    sequence_number: int | None = None


class ResponseReasoningTextDeltaEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.reasoning_text.delta"
):
    """More reasoning text (models that return it)."""

    type: ClassVar[Literal["response.reasoning_text.delta"]] = "response.reasoning_text.delta"
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    delta: str
    sequence_number: int | None = None


class ResponseReasoningTextDoneEvent(
    StreamItem, kw_only=True, tag_field="type", tag="response.reasoning_text.done"
):
    """The full reasoning text of a part."""

    type: ClassVar[Literal["response.reasoning_text.done"]] = "response.reasoning_text.done"
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    text: str
    sequence_number: int | None = None


ResponseStreamEvent = (
    ResponseCreatedEvent
    | ResponseQueuedEvent
    | ResponseInProgressEvent
    | ResponseCompletedEvent
    | ResponseIncompleteEvent
    | ResponseOutputItemAddedEvent
    | ResponseOutputItemDoneEvent
    | ResponseContentPartAddedEvent
    | ResponseContentPartDoneEvent
    | ResponseTextDeltaEvent
    | ResponseTextDoneEvent
    | ResponseOutputTextAnnotationAddedEvent
    | ResponseRefusalDeltaEvent
    | ResponseRefusalDoneEvent
    | ResponseFunctionCallArgumentsDeltaEvent
    | ResponseFunctionCallArgumentsDoneEvent
    | ResponseReasoningSummaryPartAddedEvent
    | ResponseReasoningSummaryPartDoneEvent
    | ResponseReasoningSummaryTextDeltaEvent
    | ResponseReasoningSummaryTextDoneEvent
    | ResponseReasoningTextDeltaEvent
    | ResponseReasoningTextDoneEvent
)
"""What ``responses.create(..., stream=True)`` yields; unknown event types are skipped,
``error`` and ``response.failed`` raise."""
