"""BodyReader: a whole JSON body answering a stream request, read as the stream it stands for.

Some servers ignore ``stream=True`` (LiteLLM's mock mode, gateways and proxies
that drop the flag) and answer ``200 application/json`` with the complete
answer.  That is the answer, deterministically, not a network failure: this
reader collects the body and, at its end, hands out the items of the
equivalent stream (the format's ``stream_from_body``: one chunk and
``[DONE]``, the Anthropic event sequence, text deltas and
``response.completed``), so iteration, ``text_deltas()`` and ``final()`` work
as for a real stream, and ``final()`` is the decoded body itself.

A JSON error body with a 2xx status raises the typed error it describes; a
body that is no answer raises ``APIResponseValidationError``; a body cut off
by the network still raises ``APIConnectionError`` from the transport, as
before.  Same interface as ``StreamReader`` (``feed``, ``eof``, ``done``,
``failed``, ``items``, ``final``); memory is bounded by ``max_bytes``
(the client's ``max_response_bytes``), as for any non-streamed body.

Pure: no IO, no clock, no asyncio.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from ._exceptions import APIConnectionError, APIError, APIResponseValidationError

__all__ = ["BodyReader", "is_json"]

R = TypeVar("R")
E = TypeVar("E")


def is_json(content_type: str | None) -> bool:
    """Whether a response's ``Content-Type`` is JSON (``application/json``, ``...+json``).

    Example:
        >>> is_json("application/json; charset=utf-8"), is_json("text/event-stream")
        (True, False)
    """
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class BodyReader(Generic[E, R]):
    """Read a whole JSON body as a stream: ``feed`` collects, ``eof`` hands out every item.

    Args:
        fmt: the call's wire format (for ``format``).
        convert: body bytes -> (the final result, the stream items it stands
            for, ending with the format's terminator).
        hidden: the types of terminator items that are not handed out
            (chat's ``DONE``); the others (``message_stop``,
            ``response.completed``) are, as a real stream hands them out.
        max_bytes: the cap on the body (``max_response_bytes``); past it,
            ``APIResponseValidationError`` and no more bytes are kept.

    Example:
        >>> reader = BodyReader(CHAT, CHAT.from_body, {Done})
        >>> reader.feed(b'{"model": "m", "choices": [{"message": {"content": "Hi"}}]}')
        []
        >>> [c.choices[0].delta.content for c in reader.eof()], reader.done
        (['Hi'], True)
    """

    __slots__ = (
        "_buf",
        "_convert",
        "_error",
        "_final",
        "_fmt",
        "_hidden",
        "_items",
        "_max_bytes",
        "done",
    )

    def __init__(
        self,
        fmt: Any,
        convert: Callable[[bytes], tuple[R, Sequence[Any]]],
        hidden: frozenset[type] | set[type] = frozenset(),
        max_bytes: int | None = None,
    ) -> None:
        self._fmt = fmt
        self._convert = convert
        self._hidden = frozenset(hidden)
        self._max_bytes = max_bytes
        self._buf = bytearray()
        self._items: list[E] = []
        self._final: R | None = None
        self._error: APIError | None = None
        self.done = False
        """True once the body was read and converted."""

    @property
    def format(self) -> Any:
        """The wire format of the call."""
        return self._fmt

    @property
    def items(self) -> list[E]:
        """Every item handed out so far."""
        return self._items

    @property
    def failed(self) -> bool:
        """An error is waiting: the next ``feed()`` / ``eof()`` raises it."""
        return self._error is not None

    def feed(self, data: bytes) -> list[E]:
        """Collect body bytes; nothing is handed out before the body ends."""
        if self._error is not None:
            raise self._error
        if not self.done:
            self._buf += data
            if self._max_bytes is not None and len(self._buf) > self._max_bytes:
                self._buf = bytearray()
                self._error = APIResponseValidationError(
                    f"The answer is larger than max_response_bytes={self._max_bytes}: "
                    f"rawllm stopped reading it."
                )
                raise self._error
        return []

    def eof(self) -> list[E]:
        """The body ended: the items of the equivalent stream.

        Raises:
            APIStatusError: the body is an error object despite the 2xx status.
            APIResponseValidationError: the body is not an answer of this API.
        """
        if self._error is not None:
            raise self._error
        if self.done:
            return []
        try:
            final, items = self._convert(bytes(self._buf))
        except APIError as exc:
            self._error = exc
            raise
        self._buf = bytearray()
        hidden = self._hidden
        out: list[E] = [item for item in items if type(item) not in hidden]
        self._items.extend(out)
        self._final = final
        self.done = True
        return out

    def final(self) -> R:
        """The decoded body: exactly what the non-streaming call returns.

        Raises:
            APIConnectionError: the body has not been read to its end yet.
        """
        if self._final is None:
            raise APIConnectionError(
                "Stream not complete: the JSON answer has not been read to its end yet."
            )
        return self._final
