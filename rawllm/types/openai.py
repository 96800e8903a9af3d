"""Typed OpenAI Chat Completions, Embeddings and Models results (msgspec Structs).

Names and attribute paths follow the official ``openai`` Python SDK, so
``resp.choices[0].message.tool_calls[0].function.arguments`` and
``chunk.choices[0].delta.content`` read the same.  The one renaming: the SDK
calls the streamed choice ``Choice`` in its chunk module; here it is
``ChunkChoice``.

Invariants (the wire format of https://platform.openai.com/docs/api-reference/chat
and of the servers that copy it: Azure, vLLM, Ollama, Groq, DeepSeek, OpenRouter):

- Unknown fields are ignored when decoding; ``Result.to_dict()`` still returns
  them (from the kept body bytes).
- Only what a type cannot live without is required: ``ChatCompletion.choices``
  and ``.model``, ``Choice.message``, ``CreateEmbeddingResponse.data``,
  ``ModelList.data``, ``Model.id``, token text and logprob values.  Every other
  field may be missing and is then ``None``, with three documented exceptions
  whose SDK type is not optional and whose meaning is plain: a missing
  choice ``index`` is ``0``, a missing message ``role`` is ``"assistant"``, a
  missing usage count is ``0``.
- Enumerations the SDK types as ``Literal`` (``finish_reason``, ``role``,
  ``service_tier``, ``object``) are plain ``str`` here: providers add values.
- Nested Structs are ``gc=False`` (they only ever hold JSON data, which cannot
  form reference cycles); top-level results keep a ``__dict__`` for
  ``_request_id`` and the raw body (see ``_base.Result``), which msgspec does
  not allow together with ``gc=False``.  Stream chunks are ``StreamItem``s
  (``gc=False``, no ``__dict__``): they are created once per event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from ._base import BaseModel, Result, StreamItem

__all__ = [
    "Annotation",
    "AnnotationURLCitation",
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
    "CreateEmbeddingResponse",
    "Custom",
    "Embedding",
    "EmbeddingUsage",
    "Function",
    "FunctionCall",
    "Model",
    "ModelList",
    "PromptTokensDetails",
    "TopLogprob",
    "Usage",
]


# -- usage -------------------------------------------------------------------


class CompletionTokensDetails(BaseModel, kw_only=True, gc=False):
    """Breakdown of the completion tokens (reasoning, audio, predicted outputs)."""

    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None
    text_tokens: int | None = None


class PromptTokensDetails(BaseModel, kw_only=True, gc=False):
    """Breakdown of the prompt tokens (cached, audio, images)."""

    cached_tokens: int | None = None
    audio_tokens: int | None = None
    cache_write_tokens: int | None = None
    image_tokens: int | None = None
    text_tokens: int | None = None


class CompletionUsage(BaseModel, kw_only=True, gc=False):
    """Token counts of a chat completion.

    A count the server did not report is ``0``.  DeepSeek's cache counters
    (``prompt_cache_hit_tokens`` / ``prompt_cache_miss_tokens``) and
    OpenRouter's ``cost`` are typed optional fields.

    Example:
        >>> resp.usage.prompt_tokens, resp.usage.completion_tokens
        (19, 10)
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    prompt_cache_hit_tokens: int | None = None
    prompt_cache_miss_tokens: int | None = None
    cost: float | None = None


# -- logprobs ----------------------------------------------------------------


class TopLogprob(BaseModel, kw_only=True, gc=False):
    """One of the most likely tokens at a position, with its log probability."""

    token: str
    logprob: float
    bytes: list[int] | None = None


class ChatCompletionTokenLogprob(BaseModel, kw_only=True, gc=False):
    """A generated token with its log probability and the most likely alternatives.

    ``top_logprobs`` is an empty list when the server left it out.
    """

    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob] = []


class ChoiceLogprobs(BaseModel, kw_only=True, gc=False):
    """Log probabilities of the content tokens and of the refusal tokens."""

    content: list[ChatCompletionTokenLogprob] | None = None
    refusal: list[ChatCompletionTokenLogprob] | None = None


# -- message -----------------------------------------------------------------


# A message may be sent back in the next request's ``messages``.  msgspec omits
# fields equal to their default when encoding, so the fields the API requires
# there (``role``, a tool call's ``type``, a function's ``name`` and
# ``arguments``) must never sit at an omitted default: the call Structs below
# always encode every field, and ``role`` / ``type`` default to "" and are
# filled in by ``__post_init__``.


class Function(BaseModel, kw_only=True, omit_defaults=False, gc=False):
    """The function a tool call invokes; ``arguments`` is the model's JSON text, unparsed."""

    name: str = ""
    arguments: str = ""


class Custom(BaseModel, kw_only=True, omit_defaults=False, gc=False):
    """The input of a custom (free-form) tool call."""

    name: str = ""
    input: str = ""


class ChatCompletionMessageToolCall(BaseModel, kw_only=True, gc=False):
    """A tool call made by the model.

    One Struct covers the SDK's function and custom tool calls: ``type`` says
    which, and ``function`` (or ``custom``) holds the call.

    Example:
        >>> call = resp.choices[0].message.tool_calls[0]
        >>> call.function.name, json.loads(call.function.arguments)
        ('get_weather', {'city': 'Paris'})
    """

    id: str | None = None
    type: str = ""
    function: Function | None = None
    custom: Custom | None = None
    # Gemini's OpenAI-compatible endpoint puts thought signatures here
    # ({"google": {"thought_signature": ...}}); they must be sent back with the call.
    extra_content: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not self.type:
            self.type = "custom" if self.custom is not None else "function"


class FunctionCall(BaseModel, kw_only=True, omit_defaults=False, gc=False):
    """Deprecated ``function_call`` of a message (replaced by ``tool_calls``)."""

    name: str = ""
    arguments: str = ""


class ChatCompletionAudio(BaseModel, kw_only=True, gc=False):
    """Audio output of a message (base64 ``data`` and its ``transcript``)."""

    id: str | None = None
    data: str | None = None
    expires_at: int | None = None
    transcript: str | None = None


class AnnotationURLCitation(BaseModel, kw_only=True, gc=False):
    """A URL cited by a web-search answer, with the character range it supports."""

    url: str | None = None
    title: str | None = None
    start_index: int | None = None
    end_index: int | None = None
    content: str | None = None


class Annotation(BaseModel, kw_only=True, gc=False):
    """An annotation of a message; ``type`` is ``"url_citation"`` today."""

    type: str = "url_citation"
    url_citation: AnnotationURLCitation | None = None


class ChatCompletionMessage(BaseModel, kw_only=True, gc=False):
    """The message a choice generated.

    ``reasoning_content`` (DeepSeek, vLLM, many reasoning servers) and
    ``reasoning`` / ``reasoning_details`` (OpenRouter, Ollama, Groq) carry the
    model's reasoning when the provider returns it.

    Example:
        >>> resp.choices[0].message.content
        'Hello!'
    """

    role: str = ""
    content: str | None = None
    refusal: str | None = None
    annotations: list[Annotation] | None = None
    tool_calls: list[ChatCompletionMessageToolCall] | None = None
    function_call: FunctionCall | None = None
    audio: ChatCompletionAudio | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    reasoning_details: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if not self.role:
            self.role = "assistant"


class Choice(BaseModel, kw_only=True, gc=False):
    """One choice of a ``ChatCompletion``.

    ``content_filter_results`` is Azure's per-choice filter verdict;
    ``stop_reason`` is vLLM's (the stop string or token id that ended it).
    """

    index: int = 0
    message: ChatCompletionMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str | None = None
    content_filter_results: dict[str, Any] | None = None
    stop_reason: str | int | None = None
    native_finish_reason: str | None = None


class ChatCompletion(Result, kw_only=True):
    """A chat completion (``POST /chat/completions`` without streaming).

    ``prompt_filter_results`` is Azure's verdict on the prompt; ``moderation``
    (moderated completions) is kept as plain JSON data.

    Example:
        >>> resp = await client.chat.completions.create(model="gpt-4o-mini", messages=msgs)
        >>> resp.choices[0].message.content, resp.usage.total_tokens
        ('Hello!', 29)
    """

    id: str | None = None
    object: str | None = None
    created: int | None = None
    model: str
    choices: list[Choice]
    usage: CompletionUsage | None = None
    service_tier: str | None = None
    system_fingerprint: str | None = None
    prompt_filter_results: list[dict[str, Any]] | None = None
    metadata: dict[str, str] | None = None
    moderation: dict[str, Any] | None = None


# -- stream chunks -------------------------------------------------------------


class ChoiceDeltaToolCallFunction(BaseModel, kw_only=True, gc=False):
    """A piece of a streamed function call: the name comes first, arguments in pieces."""

    name: str | None = None
    arguments: str | None = None


class ChoiceDeltaToolCall(BaseModel, kw_only=True, gc=False):
    """A piece of a streamed tool call.

    ``index`` says which call the piece belongs to; some providers leave it
    out (then a piece with a new ``id`` starts a call and one without
    continues the last).
    """

    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: ChoiceDeltaToolCallFunction | None = None
    extra_content: dict[str, Any] | None = None


class ChoiceDeltaFunctionCall(BaseModel, kw_only=True, gc=False):
    """A piece of the deprecated streamed ``function_call``."""

    name: str | None = None
    arguments: str | None = None


class ChoiceDeltaAudio(BaseModel, kw_only=True, gc=False):
    """A piece of streamed audio: id, base64 data, transcript text or the expiry."""

    id: str | None = None
    data: str | None = None
    expires_at: int | None = None
    transcript: str | None = None


class ChoiceDelta(BaseModel, kw_only=True, gc=False):
    """What one chunk adds to a choice's message; every field is optional.

    Example:
        >>> chunk.choices[0].delta.content
        'Hel'
    """

    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None
    function_call: ChoiceDeltaFunctionCall | None = None
    audio: ChoiceDeltaAudio | None = None
    annotations: list[Annotation] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    reasoning_details: list[dict[str, Any]] | None = None


class ChunkChoice(BaseModel, kw_only=True, gc=False):
    """One choice of a ``ChatCompletionChunk`` (the SDK's ``chat_completion_chunk.Choice``).

    A choice sent without ``delta`` (Azure's asynchronous content-filter
    chunks) gets an empty ``ChoiceDelta``, so ``choice.delta.content`` is
    always safe to read.
    """

    index: int = 0
    delta: ChoiceDelta = msgspec.field(default_factory=ChoiceDelta)
    logprobs: ChoiceLogprobs | None = None
    finish_reason: str | None = None
    content_filter_results: dict[str, Any] | None = None
    stop_reason: str | int | None = None
    native_finish_reason: str | None = None


class ChatCompletionChunk(StreamItem, kw_only=True):
    """One event of a streamed chat completion.

    ``choices`` may be empty: Azure's first chunk (``prompt_filter_results``
    only) and the usage chunk sent with ``stream_options={"include_usage": True}``.

    Example:
        >>> async for chunk in stream:
        ...     if chunk.choices:
        ...         print(chunk.choices[0].delta.content or "", end="")
    """

    id: str | None = None
    object: str | None = None
    created: int | None = None
    model: str | None = None
    service_tier: str | None = None
    system_fingerprint: str | None = None
    choices: list[ChunkChoice] = []
    usage: CompletionUsage | None = None
    prompt_filter_results: list[dict[str, Any]] | None = None
    obfuscation: str | None = None
    moderation: dict[str, Any] | None = None
    # An error reported inside the stream (OpenRouter sends it in a chunk-shaped
    # object).  Typed here so that finding it costs one attribute read;
    # ``decode_chunk`` raises instead of returning such a chunk.
    error: Any = None


# -- embeddings ----------------------------------------------------------------


class Embedding(BaseModel, kw_only=True, gc=False):
    """One embedding vector.

    ``embedding`` is a list of floats, or a base64 string of little-endian
    float32 values when the request asked for ``encoding_format="base64"``.
    """

    embedding: list[float] | str
    index: int = 0
    object: str | None = None


class EmbeddingUsage(BaseModel, kw_only=True, gc=False):
    """Token counts of an embeddings call (the SDK's ``create_embedding_response.Usage``)."""

    prompt_tokens: int = 0
    total_tokens: int = 0


Usage = EmbeddingUsage


class CreateEmbeddingResponse(Result, kw_only=True):
    """The answer of ``POST /embeddings``.

    Example:
        >>> resp = await client.embeddings.create(model="text-embedding-3-small", input=["hi"])
        >>> len(resp.data[0].embedding)
        1536
    """

    data: list[Embedding]
    model: str | None = None
    object: str | None = None
    usage: EmbeddingUsage | None = None


# -- models ----------------------------------------------------------------------


class Model(Result, kw_only=True):
    """A model the server offers (an item of ``models.list()``, or ``models.retrieve()``)."""

    id: str
    object: str | None = None
    created: int | None = None
    owned_by: str | None = None
    shutdown_date: str | None = None


class ModelList(Result, kw_only=True):
    """The answer of ``GET /models``: ``.data`` is the list of models.

    Example:
        >>> [m.id for m in (await client.models.list()).data]
        ['gpt-4o', 'gpt-4o-mini']
    """

    data: list[Model]
    object: str | None = None

    def __iter__(self) -> Iterator[Model]:
        """Iterate over the models, as the SDK's page object allows."""
        return iter(self.data)
