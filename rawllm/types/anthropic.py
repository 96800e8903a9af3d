"""Typed Anthropic Messages results and stream events (msgspec Structs).

Names and attribute paths follow the official ``anthropic`` Python SDK
(``msg.content[0].text``, ``msg.usage.cache_read_input_tokens``,
``event.delta.partial_json``), and ``.type`` reads the wire tag on every
content block, delta and stream event, as it does there.

Spec: the Messages API reference and its streaming page
(https://docs.anthropic.com/en/api/messages, .../en/docs/build-with-claude/streaming).

Invariants:

- Content blocks, deltas and stream events are msgspec tagged unions on
  ``"type"``.  The tag is not a Struct field, so each class carries it as a
  ``ClassVar`` named ``type``: ``block.type == "text"`` costs nothing to decode.
- An unknown content block type never fails decoding: ``rawllm._wire.anthropic``
  keeps it as an ``UnknownContentBlock``: the block's own dict, with ``.type``
  and ``.data``, so it encodes back unchanged.  (``UnknownContentBlock`` is
  part of ``ContentBlock`` for type checkers only; the decoding union holds
  the known blocks, which is what keeps the common path a single decode.)
- Citations have one loose Struct, ``TextCitation``: ``type`` is a plain field
  and every location field is optional, so new citation kinds decode too.
- Enumerations the SDK types as ``Literal`` (``stop_reason``, ``service_tier``,
  tool names) are plain ``str``: the API adds values.
- Unknown fields are ignored; ``Result.to_dict()`` still returns them from the
  kept body bytes.  Stream events are ``StreamItem``s (no ``__dict__``, not
  GC-tracked: cheaper per event), so their ``to_dict()`` gives typed fields.
  Nested Structs are ``gc=False`` (JSON data cannot form cycles).
- Two small departures from the SDK's types: ``Container.expires_at`` is the
  RFC 3339 string as sent (not a ``datetime``), and a server tool result's
  ``content`` is typed only for web search (the others are plain dicts).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ._base import BaseModel, Result, StreamItem, UnknownObject

__all__ = [
    "ModelInfo",
    "ModelInfoPage",
    "BashCodeExecutionToolResultBlock",
    "CacheCreation",
    "CitationsDelta",
    "CodeExecutionToolResultBlock",
    "Container",
    "ContainerUploadBlock",
    "ContentBlock",
    "ContentBlockDeltaEvent",
    "ContentBlockStartEvent",
    "ContentBlockStopEvent",
    "InputJSONDelta",
    "Message",
    "MessageDelta",
    "MessageDeltaEvent",
    "MessageDeltaUsage",
    "MessageStartEvent",
    "MessageStopEvent",
    "MessageStreamEvent",
    "MessageTokensCount",
    "OutputTokensDetails",
    "RawContentBlockDelta",
    "RawContentBlockDeltaEvent",
    "RawContentBlockStartEvent",
    "RawContentBlockStopEvent",
    "RawMessageDeltaEvent",
    "RawMessageStartEvent",
    "RawMessageStopEvent",
    "RawMessageStreamEvent",
    "RedactedThinkingBlock",
    "RefusalStopDetails",
    "ServerToolUsage",
    "ServerToolUseBlock",
    "SignatureDelta",
    "StopReason",
    "TextBlock",
    "TextCitation",
    "TextDelta",
    "TextEditorCodeExecutionToolResultBlock",
    "ThinkingBlock",
    "ThinkingDelta",
    "ToolSearchToolResultBlock",
    "ToolUseBlock",
    "UnknownContentBlock",
    "UnknownDelta",
    "Usage",
    "WebFetchToolResultBlock",
    "WebSearchResultBlock",
    "WebSearchToolResultBlock",
    "WebSearchToolResultError",
]

StopReason = str
"""``end_turn``, ``max_tokens``, ``stop_sequence``, ``tool_use``, ``pause_turn``,
``refusal``, ``model_context_window_exceeded``, or a value added later."""


# -- usage -----------------------------------------------------------------------


class CacheCreation(BaseModel, kw_only=True, gc=False):
    """Cache-write input tokens broken down by cache lifetime."""

    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0


class ServerToolUsage(BaseModel, kw_only=True, gc=False):
    """How many server tool requests (web search, web fetch) the turn made."""

    web_search_requests: int = 0
    web_fetch_requests: int = 0


class OutputTokensDetails(BaseModel, kw_only=True, gc=False):
    """Breakdown of the output tokens (``thinking_tokens``: spent on extended thinking)."""

    thinking_tokens: int = 0


class Usage(BaseModel, kw_only=True, gc=False):
    """Token usage of a message.

    Total input is ``input_tokens + cache_creation_input_tokens +
    cache_read_input_tokens``.

    Example:
        >>> msg.usage.output_tokens, msg.usage.cache_read_input_tokens
        (12, 2048)
    """

    input_tokens: int
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation: CacheCreation | None = None
    output_tokens: int
    server_tool_use: ServerToolUsage | None = None
    service_tier: str | None = None
    inference_geo: str | None = None
    output_tokens_details: OutputTokensDetails | None = None
    speed: str | None = None


class MessageDeltaUsage(BaseModel, kw_only=True, gc=False):
    """Usage carried by ``message_delta``: cumulative counts, not increments."""

    input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens: int
    server_tool_use: ServerToolUsage | None = None
    output_tokens_details: OutputTokensDetails | None = None


class Container(BaseModel, kw_only=True, gc=False):
    """The code-execution container a request used (``expires_at`` as sent, RFC 3339)."""

    id: str
    expires_at: str | None = None
    skills: list[dict[str, Any]] | None = None


class RefusalStopDetails(BaseModel, kw_only=True, gc=False):
    """Why a ``refusal`` stop happened, when the API says."""

    type: str = "refusal"
    category: str | None = None
    explanation: str | None = None


# -- citations -------------------------------------------------------------------


class TextCitation(BaseModel, kw_only=True, gc=False):
    """One citation of a text block, whatever its kind.

    The SDK has one class per kind (``CitationCharLocation``,
    ``CitationPageLocation``, ``CitationContentBlockLocation``,
    ``CitationsWebSearchResultLocation``, ``CitationsSearchResultLocation``);
    here one Struct holds the union of their fields and ``type`` names the
    kind (``char_location``, ``page_location``, ``content_block_location``,
    ``web_search_result_location``, ``search_result_location``, ...), so the
    attribute paths are the same and a new kind still decodes.
    """

    type: str
    cited_text: str = ""
    document_index: int | None = None
    document_title: str | None = None
    file_id: str | None = None
    start_char_index: int | None = None
    end_char_index: int | None = None
    start_page_number: int | None = None
    end_page_number: int | None = None
    start_block_index: int | None = None
    end_block_index: int | None = None
    url: str | None = None
    title: str | None = None
    encrypted_index: str | None = None
    source: str | None = None
    search_result_index: int | None = None


# -- content blocks ----------------------------------------------------------------


class TextBlock(BaseModel, kw_only=True, gc=False, tag_field="type", tag="text"):
    """Generated text, with the citations that back it (when citations are enabled)."""

    type: ClassVar[Literal["text"]] = "text"
    text: str
    citations: list[TextCitation] | None = None


class ToolUseBlock(BaseModel, kw_only=True, gc=False, tag_field="type", tag="tool_use"):
    """A call of one of your tools: ``input`` is the parsed JSON arguments."""

    type: ClassVar[Literal["tool_use"]] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]
    caller: dict[str, Any] | None = None
    toolset_name: str | None = None


class ThinkingBlock(BaseModel, kw_only=True, gc=False, tag_field="type", tag="thinking"):
    """Extended thinking; pass it back unchanged (with ``signature``) in multi-turn tool use."""

    type: ClassVar[Literal["thinking"]] = "thinking"
    thinking: str
    # The stream's content_block_start sends no signature; signature_delta fills it.
    signature: str = ""


class RedactedThinkingBlock(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="redacted_thinking"
):
    """Thinking the safety systems encrypted; ``data`` is opaque and must be passed back."""

    type: ClassVar[Literal["redacted_thinking"]] = "redacted_thinking"
    data: str


class ServerToolUseBlock(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="server_tool_use"
):
    """A call of a tool the API runs itself (``web_search``, ``code_execution``, ...)."""

    type: ClassVar[Literal["server_tool_use"]] = "server_tool_use"
    id: str
    name: str
    input: dict[str, Any]
    caller: dict[str, Any] | None = None


class WebSearchResultBlock(BaseModel, kw_only=True, gc=False):
    """One web search hit."""

    type: str = "web_search_result"
    url: str
    title: str
    encrypted_content: str = ""
    page_age: str | None = None


class WebSearchToolResultError(BaseModel, kw_only=True, gc=False):
    """A failed web search (``error_code``: ``max_uses_exceeded``, ``unavailable``, ...)."""

    type: str = "web_search_tool_result_error"
    error_code: str


class WebSearchToolResultBlock(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="web_search_tool_result"
):
    """The result of a ``web_search`` server tool call: hits, or an error object."""

    type: ClassVar[Literal["web_search_tool_result"]] = "web_search_tool_result"
    tool_use_id: str
    content: list[WebSearchResultBlock] | WebSearchToolResultError
    caller: dict[str, Any] | None = None


class WebFetchToolResultBlock(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="web_fetch_tool_result"
):
    """The result of a ``web_fetch`` server tool call (``content`` as sent)."""

    type: ClassVar[Literal["web_fetch_tool_result"]] = "web_fetch_tool_result"
    tool_use_id: str
    content: dict[str, Any]
    caller: dict[str, Any] | None = None


class CodeExecutionToolResultBlock(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="code_execution_tool_result"
):
    """The result of a ``code_execution`` server tool call (``content`` as sent)."""

    type: ClassVar[Literal["code_execution_tool_result"]] = "code_execution_tool_result"
    tool_use_id: str
    content: dict[str, Any]


class BashCodeExecutionToolResultBlock(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="bash_code_execution_tool_result"
):
    """The result of a ``bash_code_execution`` server tool call (``content`` as sent)."""

    type: ClassVar[Literal["bash_code_execution_tool_result"]] = "bash_code_execution_tool_result"
    tool_use_id: str
    content: dict[str, Any]


class TextEditorCodeExecutionToolResultBlock(
    BaseModel,
    kw_only=True,
    gc=False,
    tag_field="type",
    tag="text_editor_code_execution_tool_result",
):
    """The result of a ``text_editor_code_execution`` server tool call (``content`` as sent)."""

    type: ClassVar[Literal["text_editor_code_execution_tool_result"]] = (
        "text_editor_code_execution_tool_result"
    )
    tool_use_id: str
    content: dict[str, Any]


class ToolSearchToolResultBlock(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="tool_search_tool_result"
):
    """The result of a tool-search server tool call (``content`` as sent)."""

    type: ClassVar[Literal["tool_search_tool_result"]] = "tool_search_tool_result"
    tool_use_id: str
    content: dict[str, Any]


class ContainerUploadBlock(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="container_upload"
):
    """A file uploaded into the code-execution container."""

    type: ClassVar[Literal["container_upload"]] = "container_upload"
    file_id: str


class UnknownContentBlock(UnknownObject):
    """A content block of a type this version of rawllm does not know.

    It is the block object itself, as sent (a ``dict``), with ``.type`` and
    ``.data`` for reading it like the typed blocks: nothing is lost, and
    passing ``msg.content`` back in ``messages`` sends it unchanged.

    Example:
        >>> block.type, block["name"], block.data is block
        ('mcp_tool_use', 'echo', True)
    """


_KnownContentBlock = (
    TextBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | ToolUseBlock
    | ServerToolUseBlock
    | WebSearchToolResultBlock
    | WebFetchToolResultBlock
    | CodeExecutionToolResultBlock
    | BashCodeExecutionToolResultBlock
    | TextEditorCodeExecutionToolResultBlock
    | ToolSearchToolResultBlock
    | ContainerUploadBlock
)

if TYPE_CHECKING:
    ContentBlock = _KnownContentBlock | UnknownContentBlock
else:
    # msgspec decodes the tagged union of known blocks; the wire module puts an
    # UnknownContentBlock in place of a block with an unknown tag.
    ContentBlock = _KnownContentBlock


# -- messages ----------------------------------------------------------------------


class Message(Result, kw_only=True):
    """A Messages API response (``POST /v1/messages``).

    Example:
        >>> msg = await client.messages.create(model="claude-sonnet-4-5", max_tokens=256,
        ...                                    messages=[{"role": "user", "content": "Hi"}])
        >>> msg.content[0].text, msg.stop_reason, msg.usage.output_tokens
        ('Hello!', 'end_turn', 5)
    """

    id: str
    type: str = "message"
    role: str = "assistant"
    model: str
    content: list[ContentBlock]
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: Usage
    container: Container | None = None
    stop_details: RefusalStopDetails | None = None
    diagnostics: dict[str, Any] | None = None


class MessageTokensCount(Result, kw_only=True):
    """The answer of ``POST /v1/messages/count_tokens``.

    Example:
        >>> (await client.messages.count_tokens(model=..., messages=...)).input_tokens
        14
    """

    input_tokens: int


# -- stream deltas -------------------------------------------------------------------


class TextDelta(BaseModel, kw_only=True, gc=False, tag_field="type", tag="text_delta"):
    """More text for a ``text`` block."""

    type: ClassVar[Literal["text_delta"]] = "text_delta"
    text: str


class InputJSONDelta(BaseModel, kw_only=True, gc=False, tag_field="type", tag="input_json_delta"):
    """A piece of a tool call's input JSON; the pieces parse only once joined."""

    type: ClassVar[Literal["input_json_delta"]] = "input_json_delta"
    partial_json: str


class ThinkingDelta(BaseModel, kw_only=True, gc=False, tag_field="type", tag="thinking_delta"):
    """More text for a ``thinking`` block."""

    type: ClassVar[Literal["thinking_delta"]] = "thinking_delta"
    thinking: str


class SignatureDelta(BaseModel, kw_only=True, gc=False, tag_field="type", tag="signature_delta"):
    """The signature of a ``thinking`` block, sent just before it stops."""

    type: ClassVar[Literal["signature_delta"]] = "signature_delta"
    signature: str


class CitationsDelta(BaseModel, kw_only=True, gc=False, tag_field="type", tag="citations_delta"):
    """One more citation for a ``text`` block."""

    type: ClassVar[Literal["citations_delta"]] = "citations_delta"
    citation: TextCitation


class UnknownDelta(UnknownObject):
    """A delta of a type this version of rawllm does not know: its own dict, as sent.

    It is yielded, not dropped, and the stream's ``final()`` folds it into its
    block (string fields appended to the block's field of the same name).
    """


_KnownDelta = TextDelta | InputJSONDelta | CitationsDelta | ThinkingDelta | SignatureDelta

if TYPE_CHECKING:
    RawContentBlockDelta = _KnownDelta | UnknownDelta
else:
    RawContentBlockDelta = _KnownDelta


class MessageDelta(BaseModel, kw_only=True, gc=False):
    """Top-level message changes in ``message_delta`` (the SDK calls this class ``Delta``)."""

    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    container: Container | None = None
    stop_details: RefusalStopDetails | None = None


# -- stream events ---------------------------------------------------------------------


class RawMessageStartEvent(StreamItem, kw_only=True, tag_field="type", tag="message_start"):
    """First event: the message with empty ``content`` and the input usage."""

    type: ClassVar[Literal["message_start"]] = "message_start"
    message: Message


class RawContentBlockStartEvent(
    StreamItem, kw_only=True, tag_field="type", tag="content_block_start"
):
    """A content block begins at ``index`` (text empty, tool ``input`` ``{}``)."""

    type: ClassVar[Literal["content_block_start"]] = "content_block_start"
    index: int
    content_block: ContentBlock


class RawContentBlockDeltaEvent(
    StreamItem, kw_only=True, tag_field="type", tag="content_block_delta"
):
    """A delta for the block at ``index``.

    Example:
        >>> if event.type == "content_block_delta" and event.delta.type == "text_delta":
        ...     print(event.delta.text, end="")
    """

    type: ClassVar[Literal["content_block_delta"]] = "content_block_delta"
    index: int
    delta: RawContentBlockDelta


class RawContentBlockStopEvent(
    StreamItem, kw_only=True, tag_field="type", tag="content_block_stop"
):
    """The block at ``index`` is complete."""

    type: ClassVar[Literal["content_block_stop"]] = "content_block_stop"
    index: int


class RawMessageDeltaEvent(StreamItem, kw_only=True, tag_field="type", tag="message_delta"):
    """Stop reason and cumulative usage, near the end of the stream."""

    type: ClassVar[Literal["message_delta"]] = "message_delta"
    delta: MessageDelta
    usage: MessageDeltaUsage


class RawMessageStopEvent(StreamItem, kw_only=True, tag_field="type", tag="message_stop"):
    """Last event of a complete stream."""

    type: ClassVar[Literal["message_stop"]] = "message_stop"


MessageStreamEvent = (
    RawMessageStartEvent
    | RawMessageDeltaEvent
    | RawMessageStopEvent
    | RawContentBlockStartEvent
    | RawContentBlockDeltaEvent
    | RawContentBlockStopEvent
)
"""What ``messages.create(..., stream=True)`` yields; ``ping`` and unknown events are skipped."""

# The SDK's other names for the same types.
RawMessageStreamEvent = MessageStreamEvent
MessageStartEvent = RawMessageStartEvent
MessageDeltaEvent = RawMessageDeltaEvent
MessageStopEvent = RawMessageStopEvent
ContentBlockStartEvent = RawContentBlockStartEvent
ContentBlockDeltaEvent = RawContentBlockDeltaEvent
ContentBlockStopEvent = RawContentBlockStopEvent


# -- models ------------------------------------------------------------------------


class ModelInfo(Result, kw_only=True):
    """A model of the Anthropic Models API (``models.list()`` item, ``models.retrieve()``).

    Example:
        >>> (await client.models.retrieve("claude-sonnet-4-5")).display_name
        'Claude Sonnet 4.5'
    """

    id: str
    type: str = "model"
    display_name: str | None = None
    created_at: str | None = None


class ModelInfoPage(Result, kw_only=True):
    """One page of ``GET /v1/models``: ``data``, and the cursors to the next page."""

    data: list[ModelInfo]
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None

    def __iter__(self) -> Iterator[ModelInfo]:
        """Iterate over this page's models."""
        return iter(self.data)
