"""Responses API output items, content parts and usage (msgspec Structs).

Split out of ``rawllm.types.responses`` (the public module, which re-exports
every name here) to keep each module small; the invariants stated there hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ._base import BaseModel, UnknownObject

# -- usage and status ------------------------------------------------------------------


class InputTokensDetails(BaseModel, kw_only=True, gc=False):
    """Input tokens read from (and, where reported, written to) the prompt cache."""

    cached_tokens: int = 0
    cache_write_tokens: int | None = None


class OutputTokensDetails(BaseModel, kw_only=True, gc=False):
    """Output tokens spent on reasoning."""

    reasoning_tokens: int = 0


class ResponseUsage(BaseModel, kw_only=True, gc=False):
    """Token usage of a response.

    Example:
        >>> resp.usage.input_tokens_details.cached_tokens, resp.usage.total_tokens
        (1024, 1300)
    """

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: InputTokensDetails | None = None
    output_tokens_details: OutputTokensDetails | None = None


class ResponseError(BaseModel, kw_only=True, gc=False):
    """Why a response failed (``code``: ``server_error``, ``rate_limit_exceeded``, ...)."""

    code: str | None = None
    message: str = ""


class IncompleteDetails(BaseModel, kw_only=True, gc=False):
    """Why a response is incomplete (``reason``: ``max_output_tokens``, ``content_filter``)."""

    reason: str | None = None


class Reasoning(BaseModel, kw_only=True, gc=False):
    """The reasoning settings the response ran with."""

    effort: str | None = None
    summary: str | None = None
    generate_summary: str | None = None
    mode: str | None = None
    context: str | None = None


# -- content parts -----------------------------------------------------------------------


class Annotation(BaseModel, kw_only=True, gc=False):
    """One annotation of an output text, whatever its kind.

    ``type`` names the kind (``url_citation``, ``file_citation``,
    ``container_file_citation``, ``file_path``, ...); the fields of every kind
    are here, optional, so the SDK's attribute paths work and new kinds decode.
    """

    type: str
    start_index: int | None = None
    end_index: int | None = None
    url: str | None = None
    title: str | None = None
    file_id: str | None = None
    filename: str | None = None
    index: int | None = None
    container_id: str | None = None


class ResponseOutputText(BaseModel, kw_only=True, gc=False, tag_field="type", tag="output_text"):
    """Text the model wrote, with its annotations."""

    type: ClassVar[Literal["output_text"]] = "output_text"
    text: str
    annotations: list[Annotation] = []
    logprobs: list[dict[str, Any]] | None = None


class ResponseOutputRefusal(BaseModel, kw_only=True, gc=False, tag_field="type", tag="refusal"):
    """A refusal instead of text."""

    type: ClassVar[Literal["refusal"]] = "refusal"
    refusal: str


class UnknownContentPart(UnknownObject):
    """A content part of a type this version of rawllm does not know: its own dict, as sent."""


_KnownOutputContent = ResponseOutputText | ResponseOutputRefusal

if TYPE_CHECKING:
    ResponseOutputContent = _KnownOutputContent | UnknownContentPart
else:
    ResponseOutputContent = _KnownOutputContent


# -- output items -------------------------------------------------------------------------


class ResponseOutputMessage(BaseModel, kw_only=True, gc=False, tag_field="type", tag="message"):
    """An assistant message: ``output_text`` and ``refusal`` parts."""

    type: ClassVar[Literal["message"]] = "message"
    id: str = ""
    role: str = "assistant"
    status: str | None = None
    content: list[ResponseOutputContent] = []
    phase: str | None = None


class ResponseFunctionToolCall(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="function_call"
):
    """A call of one of your functions; ``arguments`` is the JSON text as the model wrote it."""

    type: ClassVar[Literal["function_call"]] = "function_call"
    call_id: str
    name: str
    arguments: str = ""
    id: str | None = None
    status: str | None = None
    namespace: str | None = None
    caller: dict[str, Any] | None = None


class Summary(BaseModel, kw_only=True, gc=False):
    """One part of a reasoning summary."""

    text: str
    type: str = "summary_text"


class ReasoningContent(BaseModel, kw_only=True, gc=False):
    """Reasoning text, where a model returns it (the SDK calls this class ``Content``)."""

    text: str
    type: str = "reasoning_text"


class ResponseReasoningItem(BaseModel, kw_only=True, gc=False, tag_field="type", tag="reasoning"):
    """The model's reasoning: a summary, and ``encrypted_content`` when asked for."""

    type: ClassVar[Literal["reasoning"]] = "reasoning"
    id: str = ""
    summary: list[Summary] = []
    content: list[ReasoningContent] | None = None
    encrypted_content: str | None = None
    status: str | None = None


class ResponseFunctionWebSearch(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="web_search_call"
):
    """A built-in web search the model ran (``action`` as sent)."""

    type: ClassVar[Literal["web_search_call"]] = "web_search_call"
    id: str = ""
    status: str | None = None
    action: dict[str, Any] | None = None


class ResponseFileSearchToolCall(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="file_search_call"
):
    """A built-in file search the model ran (``results`` as sent)."""

    type: ClassVar[Literal["file_search_call"]] = "file_search_call"
    id: str = ""
    status: str | None = None
    queries: list[str] = []
    results: list[dict[str, Any]] | None = None


class ResponseCustomToolCall(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="custom_tool_call"
):
    """A call of one of your custom (free-form input) tools."""

    type: ClassVar[Literal["custom_tool_call"]] = "custom_tool_call"
    call_id: str
    name: str
    input: str = ""
    id: str | None = None
    status: str | None = None
    namespace: str | None = None
    caller: dict[str, Any] | None = None


class ResponseComputerToolCall(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="computer_call"
):
    """A computer-use action the model asks for (``action`` as sent)."""

    type: ClassVar[Literal["computer_call"]] = "computer_call"
    id: str = ""
    call_id: str = ""
    action: dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = None
    pending_safety_checks: list[dict[str, Any]] = []
    status: str | None = None


class ResponseCodeInterpreterToolCall(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="code_interpreter_call"
):
    """Code the built-in code interpreter ran (``outputs`` as sent)."""

    type: ClassVar[Literal["code_interpreter_call"]] = "code_interpreter_call"
    id: str = ""
    code: str | None = None
    container_id: str | None = None
    outputs: list[dict[str, Any]] | None = None
    status: str | None = None


class ImageGenerationCall(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="image_generation_call"
):
    """An image the built-in image tool generated (``result``: base64 image)."""

    type: ClassVar[Literal["image_generation_call"]] = "image_generation_call"
    id: str = ""
    status: str | None = None
    result: str | None = None


class McpToolCallError(BaseModel, kw_only=True, gc=False):
    """Why an MCP tool call failed (the spec's ``MCPToolCallError``).

    ``type`` is ``http_error`` or ``mcp_protocol_error`` (with ``code`` and
    ``message``) or ``mcp_tool_execution_error`` (with the tool's ``content``).
    """

    type: str
    code: int | None = None
    message: str | None = None
    content: Any = None


class McpCall(BaseModel, kw_only=True, gc=False, tag_field="type", tag="mcp_call"):
    """A call of a tool on a remote MCP server, with its output or error.

    ``error`` is an ``McpToolCallError`` object, as the spec and the API send
    it; older answers sent a plain string, which is kept as a string.
    """

    type: ClassVar[Literal["mcp_call"]] = "mcp_call"
    id: str = ""
    name: str
    arguments: str = ""
    server_label: str = ""
    output: str | None = None
    error: McpToolCallError | str | None = None
    status: str | None = None
    approval_request_id: str | None = None


class McpListTools(BaseModel, kw_only=True, gc=False, tag_field="type", tag="mcp_list_tools"):
    """The tools a remote MCP server offers (``tools`` as sent)."""

    type: ClassVar[Literal["mcp_list_tools"]] = "mcp_list_tools"
    id: str = ""
    server_label: str = ""
    tools: list[dict[str, Any]] = []
    error: str | None = None


class McpApprovalRequest(
    BaseModel, kw_only=True, gc=False, tag_field="type", tag="mcp_approval_request"
):
    """The model asks for approval before calling an MCP tool."""

    type: ClassVar[Literal["mcp_approval_request"]] = "mcp_approval_request"
    id: str = ""
    name: str
    arguments: str = ""
    server_label: str = ""


class UnknownOutputItem(UnknownObject):
    """An output item of a type this version of rawllm does not know: its own dict, as sent.

    ``.type`` and ``.data`` read it like the typed items, and passing
    ``resp.output`` back as ``input`` sends it unchanged.

    Example:
        >>> item.type, item["id"]
        ('apply_patch_call', 'apc_1')
    """


_KnownOutputItem = (
    ResponseOutputMessage
    | ResponseFunctionToolCall
    | ResponseReasoningItem
    | ResponseFunctionWebSearch
    | ResponseFileSearchToolCall
    | ResponseCustomToolCall
    | ResponseComputerToolCall
    | ResponseCodeInterpreterToolCall
    | ImageGenerationCall
    | McpCall
    | McpListTools
    | McpApprovalRequest
)

if TYPE_CHECKING:
    ResponseOutputItem = _KnownOutputItem | UnknownOutputItem
else:
    ResponseOutputItem = _KnownOutputItem
