"""OpenAI Chat Completions / Embeddings / Models wire format: request bodies in, typed results out.

Spec followed: the OpenAI REST API (https://platform.openai.com/docs/api-reference)
as implemented by OpenAI, Azure OpenAI, vLLM, Ollama, Groq, DeepSeek and
OpenRouter; for streams, the ``data:`` payloads of its server-sent events.

Invariants:

- Pure: no IO, no aiohttp, no asyncio, no clock.  Encoders and decoders are
  built once at import; a body is decoded in one typed pass.
- A 2xx body that is not JSON, or not the right shape, raises
  ``APIResponseValidationError`` with the body text in ``.body`` and the
  reason (msgspec's message with the JSON path) in ``.message``.
- Stream data: ``[DONE]`` gives the ``DONE`` sentinel, an error object raises
  the ``APIStatusError`` subclass its type names, an empty payload is skipped
  (``None``), anything else is one ``ChatCompletionChunk``.  An ordinary chunk
  pays one typed decode and two attribute reads, nothing more: the chunk type
  has an ``error`` field, so an error object is found by the same decode.
"""

from __future__ import annotations

import base64
import binascii
import sys
from array import array
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import msgspec

from .._config import NOT_GIVEN
from .._exceptions import APIResponseValidationError, error_from_stream_body
from ..types._base import Result, keep_raw_fields
from ..types.openai import (
    ChatCompletion,
    ChatCompletionChunk,
    ChoiceDelta,
    ChoiceDeltaAudio,
    ChoiceDeltaFunctionCall,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
    ChunkChoice,
    CreateEmbeddingResponse,
    ModelList,
)
from ._common import DONE, Done, Event, any_decoder, as_text, encode, generic, invalid
from ._tolerant import Path, Repair, keep, tolerant

__all__ = [
    "DONE",
    "Done",
    "build_params",
    "decode_chat_completion",
    "decode_chunk",
    "decode_embeddings",
    "decode_event",
    "decode_model_list",
    "embedding_floats",
    "encode",
    "stream_from_body",
]


_chat_decoder: Final = msgspec.json.Decoder(ChatCompletion)
_chunk_decoder: Final = msgspec.json.Decoder(ChatCompletionChunk)
_embeddings_decoder: Final = msgspec.json.Decoder(CreateEmbeddingResponse)
_model_list_decoder: Final = msgspec.json.Decoder(ModelList)

_R = TypeVar("_R", bound=Result)


# -- requests ------------------------------------------------------------------


def build_params(kwargs: Mapping[str, Any], extra_body: Mapping[str, Any] | None) -> dict[str, Any]:
    """The JSON body of a call: ``kwargs`` without unset values, then ``extra_body`` on top.

    ``None`` and ``NOT_GIVEN`` values are dropped (the SDK does not send
    them); ``extra_body`` is merged last and as given, so it can override a
    named argument or send an explicit ``null``.

    Args:
        kwargs: the call's keyword arguments (named and unknown ones alike).
        extra_body: the call's ``extra_body=``, or None.

    Returns:
        A new dict, ready for ``encode()``.

    Example:
        >>> build_params({"model": "m", "top_p": None, "seed": NOT_GIVEN}, {"top_k": 5})
        {'model': 'm', 'top_k': 5}
    """
    body = {k: v for k, v in kwargs.items() if v is not None and v is not NOT_GIVEN}
    if extra_body:
        body.update(extra_body)
    return body


# -- responses -----------------------------------------------------------------


def _decode(
    decoder: msgspec.json.Decoder[_R],
    what: str,
    body: bytes | str,
    repair: Repair | None = None,
) -> _R:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError:
        pass  # a value of an unexpected shape somewhere: the tolerant path below
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise invalid(what, body, exc) from exc
    obj = generic(body, what)
    result: _R
    result, kept = tolerant(obj, decoder.type, what, body, [], repair=repair)
    keep_raw_fields(result, kept)
    return result


def _text_of(value: Any, out: list[str]) -> None:
    """Append the text of a part's ``text`` / ``thinking`` value (a string or a list of parts)."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for part in value:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                _text_of(part.get("text"), out)


def _essential_in_chunk(path: Path) -> bool:
    """What a chunk adds to ``final()``: a stream item keeps no raw values, so these raise."""
    if path == ("choices",):
        return True
    return len(path) == 4 and path[2] == "delta" and path[3] in ("content", "tool_calls")


def _content_parts(path: Path, obj: Any, kept: dict[str, Any]) -> bool:
    """Rewrite a message's (or delta's) ``content`` sent as a list of parts into text.

    Mistral's reasoning models (and servers that copy them) send
    ``[{"type": "thinking", "thinking": [{"type": "text", "text": ...}]},
    {"type": "text", "text": ...}]``: the ``text`` parts become ``content``,
    the ``thinking`` parts ``reasoning_content`` (unless the server sent that
    too), and the list as sent is kept in ``raw_fields``.
    """
    if len(path) != 4 or path[0] != "choices" or path[2] not in ("message", "delta"):
        return False
    if path[3] != "content":
        return False
    message = obj["choices"][path[1]][path[2]]
    parts = message.get("content")
    if not isinstance(parts, list):
        return False
    text: list[str] = []
    thinking: list[str] = []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
        elif isinstance(part, dict):
            kind = part.get("type")
            if kind == "thinking":
                _text_of(part.get("thinking"), thinking)
            elif kind == "text" or kind is None:
                _text_of(part.get("text"), text)
    keep(kept, path, parts)
    message["content"] = "".join(text) if text else None
    if thinking and not isinstance(message.get("reasoning_content"), str):
        message["reasoning_content"] = "".join(thinking)
    return True


def decode_chat_completion(body: bytes | str) -> ChatCompletion:
    """Decode a ``/chat/completions`` response body.

    Args:
        body: the response body.

    Returns:
        The typed ``ChatCompletion`` (call ``attach()`` to keep the body for ``to_dict()``).

    Raises:
        APIResponseValidationError: the body is not JSON or not a chat completion.

    Example:
        >>> decode_chat_completion(b'{"model": "m", "choices": []}').model
        'm'
    """
    return _decode(_chat_decoder, "ChatCompletion", body, _content_parts)


def decode_embeddings(body: bytes | str) -> CreateEmbeddingResponse:
    """Decode an ``/embeddings`` response body.

    Args:
        body: the response body.

    Returns:
        The typed ``CreateEmbeddingResponse``.

    Raises:
        APIResponseValidationError: the body is not JSON or not an embeddings answer.

    Example:
        >>> decode_embeddings(b'{"data": [{"embedding": [0.5], "index": 0}]}').data[0].embedding
        [0.5]
    """
    return _decode(_embeddings_decoder, "CreateEmbeddingResponse", body)


def embedding_floats(data: str) -> list[float]:
    """The floats of a base64 embedding (``encoding_format="base64"``: little-endian float32).

    Base64 is several times smaller than the JSON floats of the same vector
    and decodes at C speed here, which is why the official SDK asks for it
    by default.

    Args:
        data: the ``embedding`` string of one ``Embedding``.

    Returns:
        The vector as Python floats.

    Raises:
        APIResponseValidationError: the text is not base64 of whole float32 values.

    Example:
        >>> embedding_floats("AACAPwAAAEAAAEBA")
        [1.0, 2.0, 3.0]
    """
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise APIResponseValidationError(f"embedding is not valid base64: {exc}") from exc
    if len(raw) % 4:
        raise APIResponseValidationError(
            f"embedding is {len(raw)} bytes, not a whole number of float32 values"
        )
    values = array("f")
    values.frombytes(raw)
    if sys.byteorder == "big":  # pragma: no cover - the wire format is little-endian
        values.byteswap()
    return values.tolist()


def decode_model_list(body: bytes | str) -> ModelList:
    """Decode a ``/models`` response body.

    Args:
        body: the response body.

    Returns:
        The typed ``ModelList``.

    Raises:
        APIResponseValidationError: the body is not JSON or not a model list.

    Example:
        >>> decode_model_list(b'{"object": "list", "data": [{"id": "m"}]}').data[0].id
        'm'
    """
    return _decode(_model_list_decoder, "ModelList", body)


# -- stream events ---------------------------------------------------------------


def _stream_error(obj: Any) -> Any:
    """The error object in a decoded stream payload, or None when it is an ordinary chunk."""
    if not isinstance(obj, dict):
        return None
    err = obj.get("error")
    if err:  # {"error": {...}} (OpenAI, OpenRouter, vLLM >= 0.6) or {"error": "text"}
        return obj
    if obj.get("object") == "error" or obj.get("type") == "error":  # older vLLM, Anthropic shape
        return obj
    return None


def _error_body(obj: dict[str, Any]) -> dict[str, Any]:
    err = obj.get("error")
    if isinstance(err, str):  # {"error": "model crashed"}: give the factory a message
        return {"error": {"message": err}}
    return obj


def decode_chunk(data: str | bytes) -> ChatCompletionChunk | Done | None:
    """Decode the ``data`` of one chat-completion stream event.

    Args:
        data: the event's data (the SSE decoder already joined its lines), as
            text or as the raw bytes (invalid UTF-8 is then replaced, as the
            SSE spec does, before anything is decided).

    Returns:
        ``DONE`` for the ``[DONE]`` terminator, ``None`` for an empty payload
        (skip it), else the typed chunk.  Chunks with empty ``choices`` and
        choices without ``delta`` are ordinary chunks.

    Raises:
        APIStatusError: the payload is an error object (``{"error": {...}}``);
            the subclass follows its type or code (``rate_limit_error`` ->
            ``RateLimitError``), never the stream's 200 status.
        APIResponseValidationError: the payload is not JSON or not a chunk.

    Example:
        >>> chunk = decode_chunk('{"choices": [{"index": 0, "delta": {"content": "Hi"}}]}')
        >>> chunk.choices[0].delta.content
        'Hi'
        >>> decode_chunk("[DONE]") is DONE
        True
    """
    try:
        chunk = _chunk_decoder.decode(data)
    except msgspec.DecodeError as exc:
        # Off the hot path, once per stream at most: "[DONE]" is not JSON, so the
        # terminator lands here rather than costing every chunk a comparison.
        if type(data) is not str:  # raw bytes: the text path decides (invalid UTF-8 replaced)
            return DONE if data == b"[DONE]" else decode_chunk(as_text(data))
        if data == "[DONE]":
            return DONE
        stripped = data.strip()
        if not stripped:
            return None
        if stripped == "[DONE]":
            return DONE
        if not isinstance(exc, msgspec.ValidationError):
            raise invalid("ChatCompletionChunk", data, exc) from exc
        # JSON, but some value does not fit: an error object whose fields clash
        # with the chunk's types, or a chunk with an odd value (the tolerant path).
        _raise_if_error(data)
        obj = generic(data, "ChatCompletionChunk")
        odd: ChatCompletionChunk
        odd, _ = tolerant(
            obj,
            ChatCompletionChunk,
            "ChatCompletionChunk",
            data,
            [],
            repair=_content_parts,
            essential=_essential_in_chunk,
        )
        return odd
    # An error object decodes as a chunk too (unknown fields are ignored), so
    # one attribute read finds {"error": ...}; the flat {"object": "error"}
    # shape (older vLLM) has no choices, which is rare enough to test further.
    if chunk.error is not None or (not chunk.choices and chunk.object == "error"):
        _raise_if_error(as_text(data))
    return chunk


def decode_chunks(
    datas: list[bytes], out: list[ChatCompletionChunk], ends: frozenset[type]
) -> ChatCompletionChunk | Done | None:
    """``decode_chunk`` over a network chunk's events: the stream reader's per-chunk form.

    Decodes into ``out`` and returns the first item whose type is in ``ends``
    (not appended; ``DONE`` for the terminator), or None.  An ordinary chunk
    costs one msgspec decode and no Python call; whatever that decode refuses
    (``[DONE]``, blanks, odd values, invalid UTF-8) goes to ``decode_chunk``,
    and the error test is ``decode_chunk``'s, so the items are those of
    ``decode_chunk`` on each event.
    """
    fast = _chunk_decoder.decode
    for data in datas:
        try:
            chunk = fast(data)
        except msgspec.DecodeError:
            item = decode_chunk(data)
            if item is None:
                continue
        else:
            # decode_chunk's error test, inline (keep the two the same)
            if chunk.error is not None or (not chunk.choices and chunk.object == "error"):
                _raise_if_error(as_text(data))
            item = chunk
        if type(item) in ends:
            return item
        out.append(item)  # type: ignore[arg-type]  # not a Done: its type ends the stream
    return None


def _raise_if_error(data: str) -> None:
    """Raise the APIStatusError of an in-stream error object; return if it is none."""
    try:
        obj = any_decoder.decode(data)
    except msgspec.DecodeError:
        return
    found = _stream_error(obj)
    if found is not None:
        raise error_from_stream_body(_error_body(found))


def decode_event(sse: Event) -> ChatCompletionChunk | Done | None:
    """Decode one server-sent event of a chat-completion stream.

    Like ``decode_chunk(sse.data)``, and an ``event: error`` event raises
    whatever its data holds (an error object, or plain text).

    Args:
        sse: a ``rawllm.sse.ServerSentEvent`` (anything with ``.event`` and ``.data``).

    Returns:
        ``DONE``, ``None`` (skip) or the typed chunk.

    Raises:
        APIStatusError: an error event or an error object.
        APIResponseValidationError: the payload is not a chunk.

    Example:
        >>> decode_event(ServerSentEvent(data="[DONE]")) is DONE
        True
    """
    if sse.event == "error":
        data = as_text(sse.data)
        try:
            obj = any_decoder.decode(data)
        except msgspec.DecodeError:
            obj = {"error": {"message": data or "error event in stream"}}
        if not isinstance(obj, dict):
            obj = {"error": {"message": data}}
        raise error_from_stream_body(_error_body(obj))
    return decode_chunk(sse.data)


# -- a whole body answering a stream request -------------------------------------------------


def stream_from_body(body: bytes | str) -> tuple[ChatCompletion, list[ChatCompletionChunk | Done]]:
    """The stream a complete ``chat.completion`` body stands for: one chunk, then ``DONE``.

    A server or proxy that ignores ``stream=True`` (LiteLLM's mock mode,
    gateways that drop the flag) answers with the whole JSON body.  That is
    the answer, not a broken stream: it becomes one chunk whose deltas hold
    each choice's whole message, so iterating, ``text_deltas()`` and
    ``final()`` work as for a real stream.

    Args:
        body: the 2xx ``application/json`` body.

    Returns:
        (the decoded completion, which is the stream's ``final()``, ``[chunk, DONE]``).

    Raises:
        APIStatusError: the body is an error object (``{"error": {...}}``)
            despite the 2xx status; the subclass its type names.
        APIResponseValidationError: not JSON, or not a chat completion.

    Example:
        >>> final, (chunk, end) = stream_from_body(b'{"model": "m", "choices": [{"message": '
        ...                                        b'{"content": "Hi"}, "finish_reason": "stop"}]}')
        >>> chunk.choices[0].delta.content, end is DONE, final.choices[0].message.content
        ('Hi', True, 'Hi')
    """
    _raise_if_error(body if isinstance(body, str) else body.decode("utf-8", "replace"))
    c = decode_chat_completion(body)
    choices = []
    for choice in c.choices:
        m = choice.message
        calls = None
        if m.tool_calls:
            calls = [
                ChoiceDeltaToolCall(
                    index=i,
                    id=call.id,
                    type=call.type,
                    function=None
                    if call.function is None
                    else ChoiceDeltaToolCallFunction(
                        name=call.function.name, arguments=call.function.arguments
                    ),
                    extra_content=call.extra_content,
                )
                for i, call in enumerate(m.tool_calls)
            ]
        fc = m.function_call
        audio = m.audio
        delta = ChoiceDelta(
            role=m.role,
            content=m.content,
            refusal=m.refusal,
            tool_calls=calls,
            function_call=None
            if fc is None
            else ChoiceDeltaFunctionCall(name=fc.name, arguments=fc.arguments),
            audio=None
            if audio is None
            else ChoiceDeltaAudio(
                id=audio.id,
                data=audio.data,
                expires_at=audio.expires_at,
                transcript=audio.transcript,
            ),
            annotations=m.annotations,
            reasoning_content=m.reasoning_content,
            reasoning=m.reasoning,
            reasoning_details=m.reasoning_details,
        )
        choices.append(
            ChunkChoice(
                delta=delta,
                index=choice.index,
                finish_reason=choice.finish_reason,
                logprobs=choice.logprobs,
                content_filter_results=choice.content_filter_results,
                stop_reason=choice.stop_reason,
                native_finish_reason=choice.native_finish_reason,
            )
        )
    chunk = ChatCompletionChunk(
        choices=choices,
        model=c.model,
        id=c.id,
        object="chat.completion.chunk",
        created=c.created,
        service_tier=c.service_tier,
        system_fingerprint=c.system_fingerprint,
        usage=c.usage,
        prompt_filter_results=c.prompt_filter_results,
    )
    return c, [chunk, DONE]
