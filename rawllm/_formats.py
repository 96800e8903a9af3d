"""One typed ``WireFormat`` per API: everything the shell needs to know about its wire.

A ``WireFormat`` names, for one API (chat completions, embeddings, models,
Responses, Anthropic messages and count_tokens): its method and path, the body
decoder, the usage-to-tokens rule for the rate limiter and, for the APIs that
stream, the event decoder, the end-of-stream rule (``end_types``), the text an
event carries and the accumulator that folds events into the final result.
Request bodies are encoded by the one shared ``encode`` of ``_wire/_common.py``.

``StreamReader`` (``_reader.py``) applies a format's stream rules to bytes;
``BaseClient._request`` (``_client.py``) sends a format's request.  The
Anthropic and Responses formats are built on first use (``messages()``,
``responses()``, ``count_tokens()``): an OpenAI chat user never pays their
import time.

Pure data and pure functions: no IO, no clock, no asyncio.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Protocol, TypeVar

from ._accumulate import ChatCompletionAccumulator, chunk_text
from ._wire import openai as _openai
from ._wire._common import Done, Event
from .types.openai import ChatCompletion, ChatCompletionChunk, CreateEmbeddingResponse, ModelList

if TYPE_CHECKING:
    from .types.anthropic import Message, MessageStreamEvent, MessageTokensCount
    from .types.responses import Response, ResponseStreamEvent

__all__ = [
    "CHAT",
    "EMBEDDINGS",
    "MODELS",
    "Accumulator",
    "WireFormat",
    "count_tokens",
    "messages",
    "responses",
]

R = TypeVar("R")
E = TypeVar("E")
E_contra = TypeVar("E_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)


class Accumulator(Protocol[E_contra, R_co]):
    """Folds a stream's items into its final result (``_accumulate*.py``)."""

    def add(self, item: E_contra) -> None: ...

    def result(self) -> R_co: ...


def _no_usage(result: object) -> None:
    return None


def _no_text(item: object) -> None:
    return None


def _not_a_stream(event: Event) -> NoReturn:
    raise TypeError("this API does not stream")


@dataclass(frozen=True, slots=True, eq=False)
class WireFormat(Generic[R, E]):
    """How one API's calls are sent and its answers (whole or streamed) are read.

    Attributes:
        name: the API, for messages (``"chat.completions"``).
        path: the path under the client's base URL.
        decode: a 2xx body -> the typed result; raises ``APIResponseValidationError``.
        usage_tokens: the tokens a result used (the limiter's ``settle``), or None.
        method: the HTTP method.
        decode_event: one server-sent event -> an item, ``None`` to skip it, or a
            ``Done`` for a terminator that carries no item; raises the
            ``APIStatusError`` of an in-band error.  The stream reader passes
            events whose ``data`` is the raw bytes (``rawllm.sse.BytesEvent``).
        decode_data: optional faster form taking only ``event.data`` (for APIs
            that ignore the ``event:`` field), as text or raw bytes.
        decode_batch: the stream reader's per-chunk form of the above:
            ``(events, out, end_types)`` decodes a network chunk's events
            (data bytes if ``decode_data`` is set, else ``BytesEvent``) into
            ``out`` and returns the first item whose type is in ``end_types``
            (not appended), or None.  The same items as one call per event,
            without a Python call per ordinary event.
        end_types: the end rule: a stream is complete once an item of one of
            these types was decoded (it is handed out unless it is a ``Done``),
            and nothing after it is read.
        terminator: how the end looks on the wire, for messages.
        accumulator: a new accumulator for ``final()`` (None: the API does not stream).
        text_of: the text delta an item carries, or None.
        from_body: a whole 2xx JSON body answering a stream request -> (the
            result, the items of the stream it stands for, terminator last);
            ``_body_reader.BodyReader`` reads such a body with it.
    """

    name: str
    path: str
    decode: Callable[[bytes], R]
    usage_tokens: Callable[[R], int | None] = _no_usage
    method: str = "POST"
    decode_event: Callable[[Event], E | Done | None] = _not_a_stream
    decode_data: Callable[[str | bytes], E | Done | None] | None = None
    decode_batch: Callable[[list[Any], list[E], frozenset[type]], E | Done | None] | None = None
    end_types: frozenset[type] = frozenset()
    terminator: str = ""
    accumulator: Callable[[], Accumulator[E, R]] | None = None
    text_of: Callable[[E], str | None] = _no_text
    from_body: Callable[[bytes], tuple[R, Sequence[E | Done]]] | None = None

    def __repr__(self) -> str:
        return f"<WireFormat {self.name} {self.method} {self.path}>"


def _total_tokens(result: ChatCompletion | CreateEmbeddingResponse | Response) -> int | None:
    usage = result.usage
    return None if usage is None else usage.total_tokens


CHAT: WireFormat[ChatCompletion, ChatCompletionChunk] = WireFormat(
    name="chat.completions",
    path="/chat/completions",
    decode=_openai.decode_chat_completion,
    usage_tokens=_total_tokens,
    decode_event=_openai.decode_event,
    decode_data=_openai.decode_chunk,
    decode_batch=_openai.decode_chunks,
    end_types=frozenset({Done}),
    terminator="data: [DONE]",
    accumulator=ChatCompletionAccumulator,
    text_of=chunk_text,
    from_body=_openai.stream_from_body,
)

EMBEDDINGS: WireFormat[CreateEmbeddingResponse, NoReturn] = WireFormat(
    name="embeddings",
    path="/embeddings",
    decode=_openai.decode_embeddings,
    usage_tokens=_total_tokens,
)

MODELS: WireFormat[ModelList, NoReturn] = WireFormat(
    name="models.list", path="/models", decode=_openai.decode_model_list, method="GET"
)


def _message_tokens(message: Message) -> int:
    usage = message.usage
    return usage.input_tokens + usage.output_tokens


def _message_accumulator() -> Accumulator[MessageStreamEvent, Message]:
    # Imported with the first stream, not the first call: the accumulators'
    # module also loads the Responses types.
    from ._accumulate_events import MessageAccumulator

    return MessageAccumulator()


@functools.cache
def messages() -> WireFormat[Message, MessageStreamEvent]:
    """The Anthropic Messages format (built on first use)."""
    from ._wire import anthropic
    from .types.anthropic import RawMessageStopEvent

    return WireFormat(
        name="messages",
        path="/v1/messages",
        decode=anthropic.decode_message,
        usage_tokens=_message_tokens,
        decode_event=anthropic.decode_event,
        decode_batch=anthropic.decode_events,
        end_types=frozenset({RawMessageStopEvent}),
        terminator="message_stop",
        accumulator=_message_accumulator,
        text_of=anthropic.text_delta,
        from_body=anthropic.stream_from_body,
    )


@functools.cache
def count_tokens() -> WireFormat[MessageTokensCount, NoReturn]:
    """Anthropic ``messages.count_tokens`` (built on first use)."""
    from ._wire import anthropic

    return WireFormat(
        name="messages.count_tokens",
        path="/v1/messages/count_tokens",
        decode=anthropic.decode_count_tokens,
    )


def _response_accumulator() -> Accumulator[ResponseStreamEvent, Response]:
    from ._accumulate_events import ResponseAccumulator  # with the first stream, as above

    return ResponseAccumulator()


@functools.cache
def responses() -> WireFormat[Response, ResponseStreamEvent]:
    """The OpenAI Responses format (built on first use).

    ``response.incomplete`` ends a stream as ``response.completed`` does: the
    answer is whole, cut short by the model (``max_output_tokens``, a content
    filter), not by the network.  ``response.failed`` raises in the decoder.
    """
    from ._wire import responses as wire
    from .types.responses import ResponseCompletedEvent, ResponseIncompleteEvent

    return WireFormat(
        name="responses",
        path="/responses",
        decode=wire.decode_response,
        usage_tokens=_total_tokens,
        decode_event=wire.decode_event,
        decode_batch=wire.decode_events,
        end_types=frozenset({ResponseCompletedEvent, ResponseIncompleteEvent}),
        terminator="response.completed",
        accumulator=_response_accumulator,
        text_of=wire.text_delta,
        from_body=wire.stream_from_body,
    )
