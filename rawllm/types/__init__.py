"""Public typed results (msgspec Structs) with the official SDKs' names and attribute paths."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import openai
from .openai import (
    Annotation,
    AnnotationURLCitation,
    ChatCompletion,
    ChatCompletionAudio,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    ChatCompletionTokenLogprob,
    Choice,
    ChoiceDelta,
    ChoiceDeltaAudio,
    ChoiceDeltaFunctionCall,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
    ChoiceLogprobs,
    ChunkChoice,
    CompletionTokensDetails,
    CompletionUsage,
    CreateEmbeddingResponse,
    Custom,
    Embedding,
    EmbeddingUsage,
    Function,
    FunctionCall,
    Model,
    ModelList,
    PromptTokensDetails,
    TopLogprob,
    Usage,
)

if TYPE_CHECKING:
    from . import anthropic, batches, responses
    from .anthropic import (
        ContentBlock,
        Message,
        MessageStreamEvent,
        MessageTokensCount,
        RawContentBlockDeltaEvent,
        RawContentBlockStartEvent,
        RawContentBlockStopEvent,
        RawMessageDeltaEvent,
        RawMessageStartEvent,
        RawMessageStopEvent,
        RedactedThinkingBlock,
        TextBlock,
        ThinkingBlock,
        ToolUseBlock,
    )
    from .batches import (
        Batch,
        BatchList,
        BatchRequestCounts,
        FileDeleted,
        FileList,
        FileObject,
        MessageBatch,
        MessageBatchIndividualResponse,
        MessageBatchList,
        MessageBatchRequestCounts,
        MessageBatchResult,
    )
    from .responses import (
        Response,
        ResponseFunctionToolCall,
        ResponseOutputMessage,
        ResponseReasoningItem,
        ResponseStreamEvent,
        ResponseUsage,
    )

__all__ = [
    "Annotation",
    "AnnotationURLCitation",
    "Batch",
    "BatchList",
    "BatchRequestCounts",
    "ChatCompletion",
    "ChatCompletionAudio",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "ChatCompletionTokenLogprob",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaAudio",
    "ChoiceDeltaFunctionCall",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChoiceLogprobs",
    "ChunkChoice",
    "CompletionTokensDetails",
    "CompletionUsage",
    "ContentBlock",
    "CreateEmbeddingResponse",
    "Custom",
    "Embedding",
    "EmbeddingUsage",
    "FileDeleted",
    "FileList",
    "FileObject",
    "Function",
    "FunctionCall",
    "Message",
    "MessageBatch",
    "MessageBatchIndividualResponse",
    "MessageBatchList",
    "MessageBatchRequestCounts",
    "MessageBatchResult",
    "MessageStreamEvent",
    "MessageTokensCount",
    "Model",
    "ModelList",
    "PromptTokensDetails",
    "RawContentBlockDeltaEvent",
    "RawContentBlockStartEvent",
    "RawContentBlockStopEvent",
    "RawMessageDeltaEvent",
    "RawMessageStartEvent",
    "RawMessageStopEvent",
    "RedactedThinkingBlock",
    "Response",
    "ResponseFunctionToolCall",
    "ResponseOutputMessage",
    "ResponseReasoningItem",
    "ResponseStreamEvent",
    "ResponseUsage",
    "TextBlock",
    "ThinkingBlock",
    "ToolUseBlock",
    "TopLogprob",
    "Usage",
    "anthropic",
    "batches",
    "openai",
    "responses",
]

# The Anthropic and Responses types are imported on first use, so that
# `import rawllm` does not pay for Structs an OpenAI chat user never decodes.
_LAZY = {
    name: "anthropic"
    for name in (
        "ContentBlock",
        "Message",
        "MessageStreamEvent",
        "MessageTokensCount",
        "RawContentBlockDeltaEvent",
        "RawContentBlockStartEvent",
        "RawContentBlockStopEvent",
        "RawMessageDeltaEvent",
        "RawMessageStartEvent",
        "RawMessageStopEvent",
        "RedactedThinkingBlock",
        "TextBlock",
        "ThinkingBlock",
        "ToolUseBlock",
    )
}
_LAZY.update(
    {
        name: "responses"
        for name in (
            "Response",
            "ResponseFunctionToolCall",
            "ResponseOutputMessage",
            "ResponseReasoningItem",
            "ResponseStreamEvent",
            "ResponseUsage",
        )
    }
)


_LAZY.update(
    {
        name: "batches"
        for name in (
            "Batch",
            "BatchList",
            "BatchRequestCounts",
            "FileDeleted",
            "FileList",
            "FileObject",
            "MessageBatch",
            "MessageBatchIndividualResponse",
            "MessageBatchList",
            "MessageBatchRequestCounts",
            "MessageBatchResult",
        )
    }
)


def __getattr__(name: str) -> Any:
    if name in ("anthropic", "batches", "responses"):
        return importlib.import_module(f"{__name__}.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
