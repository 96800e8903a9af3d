"""Fold typed stream events into the final result: Anthropic ``Message``, OpenAI ``Response``.

Spec: the Anthropic streaming page (https://docs.anthropic.com/en/docs/build-with-claude/streaming)
and the Responses streaming events
(https://platform.openai.com/docs/api-reference/responses-streaming).

Invariants:

- ``add()`` is O(1) per event and keeps delta pieces in lists; text and
  tool-input JSON are joined once, in ``result()``, so a long answer costs
  linear time, never quadratic.
- Tool input JSON (``input_json_delta``) is parsed only when complete, so a
  piece may split a string, an escape or a multi-byte character anywhere.  A
  joined input that is not a JSON object raises ``APIResponseValidationError``.
- Anthropic: blocks come out in ``index`` order; ``message_delta`` usage
  counts are cumulative, so they replace (not add to) the ``message_start``
  ones; a delta whose type does not match its block is ignored (as the
  official SDK does), a delta for a block that never started is an error.
- Where a stream ends, and whether it was whole, is not decided here:
  ``StreamReader`` (``_reader.py``) owns that rule and calls ``result()`` only
  for a whole stream.  ``snapshot()`` gives what arrived so far, for
  diagnostics.
- Pure: no IO, no clock, no asyncio.  Inputs are the typed events of
  ``rawllm.types.anthropic`` / ``rawllm.types.responses``.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from ._exceptions import APIResponseValidationError
from .types.anthropic import (
    CitationsDelta,
    ContentBlock,
    InputJSONDelta,
    Message,
    MessageStreamEvent,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    ServerToolUseBlock,
    SignatureDelta,
    TextBlock,
    TextCitation,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
    UnknownContentBlock,
    UnknownDelta,
    Usage,
)
from .types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseIncompleteEvent,
    ResponseInProgressEvent,
    ResponseQueuedEvent,
    ResponseStreamEvent,
)

__all__ = ["MessageAccumulator", "ResponseAccumulator"]

_json_decoder: Final = msgspec.json.Decoder(dict[str, Any])
_replace: Final = msgspec.structs.replace


class _Block:
    """Pieces of one content block while it streams."""

    __slots__ = ("block", "citations", "pieces", "signature", "fields")

    def __init__(self, block: ContentBlock) -> None:
        self.block = block
        self.pieces: list[str] = []
        self.signature: str | None = None
        self.citations: list[TextCitation] | None = None
        # Unknown blocks: what their deltas add, by field name, in arrival order.
        self.fields: dict[str, list[Any]] | None = None

    def add_unknown(self, delta: Any) -> None:
        """Fold a delta into a block of a type rawllm does not know (or an unknown delta in).

        The deltas the API documents keep their meaning whatever the block:
        ``input_json_delta`` pieces make the block's ``input``, ``text_delta``
        / ``thinking_delta`` extend ``text`` / ``thinking``, ``signature_delta``
        sets ``signature``, ``citations_delta`` appends to ``citations``.  A
        delta of an unknown type appends each of its string fields to the
        block's field of the same name, and sets any other value.
        """
        fields = self.fields
        if fields is None:
            fields = self.fields = {}
        cls = type(delta)
        if cls is InputJSONDelta:
            self.pieces.append(delta.partial_json)
        elif cls is TextDelta:
            fields.setdefault("text", []).append(delta.text)
        elif cls is ThinkingDelta:
            fields.setdefault("thinking", []).append(delta.thinking)
        elif cls is SignatureDelta:
            fields["signature"] = [delta.signature]
        elif cls is CitationsDelta:
            fields.setdefault("citations", []).append(delta.citation.to_dict())
        elif cls is UnknownDelta:
            for key, value in delta.items():
                if key != "type":
                    fields.setdefault(key, []).append(value)

    def _build_unknown(self, block: UnknownContentBlock, strict: bool) -> ContentBlock:
        out = UnknownContentBlock(block)
        for key, values in (self.fields or {}).items():
            if key == "citations":
                out[key] = [*(block.get(key) or ()), *values]
            elif key != "signature" and all(isinstance(v, str) for v in values):
                before = block.get(key)
                out[key] = (before if isinstance(before, str) else "") + "".join(values)
            else:  # a signature, or a value that is not text: the last one sent wins
                out[key] = values[-1]
        if self.pieces:
            try:
                out["input"] = _parse_input("".join(self.pieces), str(block.get("id")))
            except APIResponseValidationError:
                if strict:
                    raise
        return out

    def build(self, strict: bool) -> ContentBlock:
        block = self.block
        if type(block) is UnknownContentBlock:
            return self._build_unknown(block, strict)
        pieces = self.pieces
        if type(block) is TextBlock:
            citations = block.citations
            if self.citations is not None:
                citations = [*(citations or ()), *self.citations]
            if not pieces and citations is block.citations:
                return block
            return _replace(block, text=block.text + "".join(pieces), citations=citations)
        if type(block) is ToolUseBlock or type(block) is ServerToolUseBlock:
            if not pieces:
                return block
            try:
                return _replace(block, input=_parse_input("".join(pieces), block.id))
            except APIResponseValidationError:
                if strict:
                    raise
                return block  # a snapshot mid-stream: the input is not complete yet
        if type(block) is ThinkingBlock:
            signature = block.signature if self.signature is None else self.signature
            return _replace(block, thinking=block.thinking + "".join(pieces), signature=signature)
        return block


def _parse_input(text: str, tool_use_id: str) -> dict[str, Any]:
    if not text.strip():  # a tool without arguments may stream "" (the SDK gives {})
        return {}
    try:
        value: dict[str, Any] = _json_decoder.decode(text)
    except msgspec.DecodeError as exc:
        raise APIResponseValidationError(
            f"tool_use {tool_use_id}: the streamed input is not a JSON object ({exc})", body=text
        ) from exc
    return value


# Blocks whose input streams as input_json_delta pieces.
_JSON_BLOCKS: Final = frozenset((ToolUseBlock, ServerToolUseBlock))


class MessageAccumulator:
    """Builds the final Anthropic ``Message`` from a stream's events.

    Feed every event the stream yields to ``add()``; at the end of a whole
    stream, ``result()`` is the ``Message`` the non-streaming
    call would have returned: text joined, tool input JSON joined and parsed,
    thinking and signature kept, citations appended, stop reason and usage
    from ``message_delta``.

    Example:
        >>> acc = MessageAccumulator()
        >>> for event in events:
        ...     acc.add(event)
        >>> acc.result().content[0].text
        'Hello!'
    """

    __slots__ = ("_blocks", "_delta", "_message", "_usage")

    def __init__(self) -> None:
        self._message: Message | None = None
        self._blocks: dict[int, _Block] = {}
        self._delta: RawMessageDeltaEvent | None = None
        self._usage: Usage | None = None

    def add(self, event: MessageStreamEvent) -> None:
        """Fold one event in.

        Args:
            event: a decoded stream event (``decode_event`` never passes ``None`` on).

        Raises:
            APIResponseValidationError: a delta for a block index that never started.
        """
        if type(event) is RawContentBlockDeltaEvent:  # by far the most common: checked first
            state = self._blocks.get(event.index)
            if state is None:
                raise APIResponseValidationError(
                    f"content_block_delta for index {event.index}, which never started"
                )
            delta = event.delta
            # A delta that does not match its block is ignored (as the SDK does),
            # unless the block is of a type rawllm does not know: then it is folded in.
            if type(delta) is TextDelta:
                if type(state.block) is TextBlock:
                    state.pieces.append(delta.text)
                elif type(state.block) is UnknownContentBlock:
                    state.add_unknown(delta)
            elif type(delta) is InputJSONDelta:
                if type(state.block) in _JSON_BLOCKS:
                    state.pieces.append(delta.partial_json)
                elif type(state.block) is UnknownContentBlock:
                    state.add_unknown(delta)
            elif type(delta) is ThinkingDelta:
                if type(state.block) is ThinkingBlock:
                    state.pieces.append(delta.thinking)
                elif type(state.block) is UnknownContentBlock:
                    state.add_unknown(delta)
            elif type(delta) is SignatureDelta:
                if type(state.block) is ThinkingBlock:
                    state.signature = delta.signature
                elif type(state.block) is UnknownContentBlock:
                    state.add_unknown(delta)
            elif type(delta) is CitationsDelta:
                if type(state.block) is TextBlock:
                    if state.citations is None:
                        state.citations = []
                    state.citations.append(delta.citation)
                elif type(state.block) is UnknownContentBlock:
                    state.add_unknown(delta)
            elif type(state.block) is UnknownContentBlock:
                state.add_unknown(delta)  # a delta type rawllm does not know either
        elif type(event) is RawContentBlockStartEvent:
            self._blocks[event.index] = _Block(event.content_block)
        elif type(event) is RawMessageDeltaEvent:
            self._message_delta(event)
        elif type(event) is RawMessageStartEvent:
            self._message = event.message
            self._usage = event.message.usage
            for i, block in enumerate(event.message.content):  # normally none yet
                self._blocks.setdefault(i, _Block(block))
        # content_block_stop and message_stop carry nothing to keep.

    def _message_delta(self, event: RawMessageDeltaEvent) -> None:
        if self._delta is None:
            self._delta = event
        else:  # more than one message_delta: later values win, None keeps earlier ones
            d = event.delta
            old = self._delta.delta
            merged = _replace(
                old,
                stop_reason=d.stop_reason if d.stop_reason is not None else old.stop_reason,
                stop_sequence=d.stop_sequence if d.stop_sequence is not None else old.stop_sequence,
                container=d.container if d.container is not None else old.container,
                stop_details=d.stop_details if d.stop_details is not None else old.stop_details,
            )
            self._delta = _replace(event, delta=merged)
        u = event.usage
        usage = self._usage
        if usage is None:
            usage = Usage(input_tokens=0, output_tokens=0)
        changes: dict[str, Any] = {"output_tokens": u.output_tokens}  # cumulative: replace
        if u.input_tokens is not None:
            changes["input_tokens"] = u.input_tokens
        if u.cache_creation_input_tokens is not None:
            changes["cache_creation_input_tokens"] = u.cache_creation_input_tokens
        if u.cache_read_input_tokens is not None:
            changes["cache_read_input_tokens"] = u.cache_read_input_tokens
        if u.server_tool_use is not None:
            changes["server_tool_use"] = u.server_tool_use
        if u.output_tokens_details is not None:
            changes["output_tokens_details"] = u.output_tokens_details
        self._usage = _replace(usage, **changes)

    def snapshot(self) -> Message | None:
        """The message as far as it arrived (complete or not), or None before ``message_start``.

        For diagnostics after a failure: a tool input whose JSON is still
        incomplete keeps the input its ``content_block_start`` had (``{}``).
        """
        return self._build(strict=False)

    def _build(self, strict: bool) -> Message | None:
        message = self._message
        if message is None:
            return None
        blocks = self._blocks
        content = [blocks[i].build(strict) for i in sorted(blocks)]
        changes: dict[str, Any] = {"content": content}
        if self._usage is not None:
            changes["usage"] = self._usage
        if self._delta is not None:
            d = self._delta.delta
            changes["stop_reason"] = d.stop_reason
            changes["stop_sequence"] = d.stop_sequence
            if d.container is not None:
                changes["container"] = d.container
            if d.stop_details is not None:
                changes["stop_details"] = d.stop_details
        return _replace(message, **changes)

    def result(self) -> Message:
        """The final ``Message``.

        Returns:
            The message, as the non-streaming call would have returned it.

        Raises:
            APIResponseValidationError: no ``message_start``, or a tool input
                that is not a JSON object.
        """
        message = self._build(strict=True)
        if message is None:
            raise APIResponseValidationError("The stream had no message_start.")
        return message


_SNAPSHOT_EVENTS: Final = (ResponseCreatedEvent, ResponseQueuedEvent, ResponseInProgressEvent)
_FINAL_EVENTS: Final = (ResponseCompletedEvent, ResponseIncompleteEvent)


class ResponseAccumulator:
    """Keeps the final OpenAI ``Response`` of a Responses stream.

    The Responses API sends the whole response in its terminal event, so
    nothing needs joining: ``result()`` is the ``response`` of
    ``response.completed``, or of ``response.incomplete`` (then
    ``status == "incomplete"`` and ``incomplete_details.reason`` says why).

    Example:
        >>> acc = ResponseAccumulator()
        >>> for event in events:
        ...     acc.add(event)
        >>> acc.result().output_text
        'Hello!'
    """

    __slots__ = ("_latest", "_response")

    def __init__(self) -> None:
        self._response: Response | None = None
        self._latest: Response | None = None

    def add(self, event: ResponseStreamEvent) -> None:
        """Fold one event in (only the lifecycle events matter).

        Args:
            event: a decoded stream event.
        """
        cls = type(event)
        if cls in _FINAL_EVENTS:
            self._response = self._latest = event.response  # type: ignore[union-attr]
        elif cls in _SNAPSHOT_EVENTS:
            self._latest = event.response  # type: ignore[union-attr]

    def snapshot(self) -> Response | None:
        """The latest response object seen (from ``response.created`` on), or None."""
        return self._latest

    def result(self) -> Response:
        """The final ``Response``.

        Raises:
            APIResponseValidationError: no ``response.completed`` /
                ``response.incomplete`` event was added (``StreamReader`` folds
                only a whole stream, which ends with one).
        """
        if self._response is None:
            raise APIResponseValidationError(
                "The stream had no response.completed or response.incomplete event."
            )
        return self._response
