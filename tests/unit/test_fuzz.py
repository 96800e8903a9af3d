"""Fuzzing the stream path: the SSE decoder and every stream decoder, on hostile input.

Properties:
- the SSE decoder never raises on any bytes (without a cap), gives the same
  events for any chunking with a cap at least as large as the input, and with
  a smaller cap raises only ``APIResponseValidationError``;
- each API's ``StreamReader`` (its event decoder, end rule and accumulator),
  fed in any chunking, either returns or raises a ``rawllm.APIError``: never a bare ``KeyError``,
  ``TypeError``, ``RecursionError``...;
- work is linear in the input on adversarial shapes (one endless line fed a
  byte at a time, a million CRs, endless data lines): the number of Python
  lines the decoder executes, a deterministic count (no timing), grows in
  proportion to the input.

Short by default; ``RAWLLM_FUZZ_EXAMPLES=20000 pytest tests/unit/test_fuzz.py``
for a long run.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import rawllm
from rawllm import _formats
from rawllm._reader import StreamReader
from rawllm.sse import ServerSentEvent, SSEDecoder, bytes_decoder

EXAMPLES = int(os.environ.get("RAWLLM_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False
)

# -- SSE decoder ------------------------------------------------------------------

sse_bytes = st.lists(
    st.one_of(
        st.sampled_from(
            [b"data: ", b"data:", b"event: ", b"id: ", b"retry: ", b":", b"\n", b"\r", b"\r\n"]
        ),
        st.sampled_from([b"\xef\xbb\xbf", b"\x00", b"\xff", b"\xc3", b"{}", b"[DONE]"]),
        st.binary(max_size=40),
    ),
    max_size=60,
).map(b"".join)


def _feed(dec: SSEDecoder, data: bytes, cuts: list[int]) -> list[ServerSentEvent]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out: list[ServerSentEvent] = []
    last = 0
    for p in [*points, len(data)]:
        out += dec.feed(data[last:p])
        last = p
    return out + dec.close()


@FUZZ
@given(sse_bytes, st.lists(st.integers(min_value=0), max_size=12))
def test_sse_decoder_never_raises_and_a_large_cap_changes_nothing(
    data: bytes, cuts: list[int]
) -> None:
    plain = _feed(SSEDecoder(), data, [])
    assert _feed(SSEDecoder(), data, cuts) == plain
    assert _feed(SSEDecoder(max_event_bytes=len(data) + 1), data, cuts) == plain


@FUZZ
@given(sse_bytes, st.lists(st.integers(min_value=0), max_size=12), st.integers(1, 64))
@example(b"data: data: \x80\x80\x80\x80\x80\n\n", [], 19)  # 11 bytes, 21 once decoded
@example(b"data: data: \x80\x80\x80\x80\x80\n\n", [], 10)
def test_sse_decoder_with_a_small_cap_only_raises_the_typed_error(
    data: bytes, cuts: list[int], cap: int
) -> None:
    plain = _feed(SSEDecoder(), data, [])
    try:
        events = _feed(SSEDecoder(max_event_bytes=cap), data, cuts)
    except rawllm.APIResponseValidationError as exc:
        assert f"max_event_bytes={cap}" in exc.message
        return
    # No error: every event fitted (its data's bytes as received), and the
    # events are the uncapped ones.
    assert events == plain
    received = _feed(bytes_decoder(names=False), data, [])
    assert len(received) == len(events)
    assert all(len(r) <= cap for r in received)


def _outcome(dec: SSEDecoder, data: bytes, cuts: list[int]) -> tuple[list[Any], str | None]:
    """The events handed out (with the cap error's message, if it came), chunk by chunk."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    out: list[Any] = []
    last = 0
    try:
        for p in [*points, len(data)]:
            out += dec.feed(data[last:p])
            last = p
        out += dec.close()
    except rawllm.APIResponseValidationError as exc:
        return out, exc.message
    return out, None


@FUZZ
@given(sse_bytes, st.lists(st.integers(min_value=0), max_size=12), st.integers(1, 64))
@example(b"data: \xff\xff\n\n", [], 4)  # invalid bytes count once each, as received
def test_byte_modes_keep_the_cap_exactly_as_the_text_decoder(
    data: bytes, cuts: list[int], cap: int
) -> None:
    """bytes_decoder: the same events and the same cap error, at the same point."""
    text, error = _outcome(SSEDecoder(max_event_bytes=cap), data, cuts)
    want = [e.data for e in text]
    for names in (False, True):
        raw, raw_error = _outcome(bytes_decoder(names=names, max_event_bytes=cap), data, cuts)
        got = [(e if isinstance(e, bytes) else e.data).decode("utf-8", "replace") for e in raw]
        assert (got, raw_error) == (want, error)


# -- stream decoders ----------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _shaped(types: list[str]) -> st.SearchStrategy[str]:
    """JSON objects that look like real events (a known type, random fields) or random JSON."""
    keys = st.sampled_from(
        [
            "type",
            "index",
            "delta",
            "choices",
            "content_block",
            "message",
            "usage",
            "error",
            "item",
            "output_index",
            "content_index",
            "response",
            "text",
            "id",
            "model",
        ]
    )
    obj = st.fixed_dictionaries({"type": st.sampled_from(types)}, optional={}).flatmap(
        lambda base: st.dictionaries(keys, json_values, max_size=6).map(lambda d: {**d, **base})
    )
    return st.one_of(
        obj.map(json.dumps),
        json_values.map(json.dumps),
        st.text(max_size=30),
        st.just("[" * 5000 + "]" * 5000),  # deep nesting
        st.just("[DONE]"),
    )


CHAT_TYPES = ["chat.completion.chunk", "error"]
ANTHROPIC_TYPES = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
    "new_kind",
]
RESPONSES_TYPES = [
    "response.created",
    "response.output_text.delta",
    "response.output_item.added",
    "response.content_part.added",
    "response.completed",
    "response.failed",
    "error",
    "response.new_kind",
]


def _formats_by_api() -> dict[str, tuple[Any, list[str]]]:
    return {
        "chat": (_formats.CHAT, CHAT_TYPES),
        "anthropic": (_formats.messages(), ANTHROPIC_TYPES),
        "responses": (_formats.responses(), RESPONSES_TYPES),
    }


def _sse_body(events: list[ServerSentEvent]) -> bytes:
    out = []
    for e in events:
        out.append(b"event: " + e.event.encode() + b"\n")
        for line in e.data.split("\n"):
            out.append(b"data: " + line.encode("utf-8", "surrogatepass") + b"\n")
        out.append(b"\n")
    return b"".join(out)


def _run_reader(fmt: Any, events: list[ServerSentEvent], cuts: list[int]) -> None:
    """Feed the events to the real StreamReader (any chunking); fold what it produced."""
    body = _sse_body(events)
    reader: StreamReader[Any, Any] = StreamReader(fmt, max_bytes=1 << 24, max_event_bytes=1 << 20)
    points = sorted({c % (len(body) + 1) for c in cuts})
    last = 0
    try:
        for p in [*points, len(body)]:
            reader.feed(body[last:p])
            last = p
        reader.eof()
    except rawllm.APIError:
        pass
    if reader.done:
        try:
            reader.final()
        except rawllm.APIError:
            pass


@pytest.mark.parametrize("api", ["chat", "anthropic", "responses"])
def test_stream_decoders_raise_only_typed_errors(api: str) -> None:
    fmt, types = _formats_by_api()[api]
    names = st.sampled_from(["message", "error", "ping", *types])

    @FUZZ
    @given(
        st.lists(st.tuples(names, _shaped(types)), max_size=12),
        st.lists(st.integers(min_value=0), max_size=6),
    )
    def run(pairs: list[tuple[str, str]], cuts: list[int]) -> None:
        _run_reader(fmt, [ServerSentEvent(event=name, data=data) for name, data in pairs], cuts)

    run()


# -- linear work on adversarial input ---------------------------------------------------


def _lines_executed(fn: Callable[[], object]) -> int:
    """How many Python lines ``fn`` executes (a deterministic measure of work)."""
    count = 0

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(old)
    return count


ADVERSARIAL: dict[str, Callable[[int], list[bytes]]] = {
    # One endless line, a byte at a time (the incomplete line must not be re-joined per byte).
    "endless-line-bytewise": lambda n: [b"data: "] + [b"x"] * n,
    # Only CRs, in small chunks (each is a line end; a CR at a chunk end defers an LF check).
    "carriage-returns": lambda n: [b"\r" * 7] * (n // 7),
    # Endless data lines of one event, never dispatched.
    "endless-event": lambda n: [b"data: x\n"] * (n // 8),
    # CRLF split across every chunk boundary.
    "split-crlf": lambda n: [b"data: a\r", b"\n\r", b"\n"] * (n // 10),
    # Many empty events and comments.
    "comments": lambda n: [b":\n\n:k\n"] * (n // 6),
}


@pytest.mark.parametrize("shape", list(ADVERSARIAL))
@pytest.mark.parametrize("cap", [None, 1 << 30], ids=["uncapped", "capped"])
def test_sse_work_is_linear_in_the_input(shape: str, cap: int | None) -> None:
    make = ADVERSARIAL[shape]

    def work(n: int) -> int:
        chunks = make(n)

        def run() -> None:
            dec = SSEDecoder(max_event_bytes=cap)
            for c in chunks:
                dec.feed(c)
            dec.close()

        return _lines_executed(run)

    small, large = work(2_000), work(16_000)
    # 8x the input: at most ~8x the work (plus a constant), never 64x.
    assert large <= 8 * small * 1.25 + 200, (shape, small, large)


def test_sse_memory_is_bounded_by_the_cap_on_an_endless_line() -> None:
    dec = SSEDecoder(max_event_bytes=10_000)
    fed = 0
    with pytest.raises(rawllm.APIResponseValidationError, match="max_event_bytes=10000"):
        while fed < 10**6:
            dec.feed(b"x" * 100)
            fed += 100
    assert fed <= 10_100  # stopped at the cap, not at the end of the input
    assert dec.feed(b"data: ok\n\n") == [ServerSentEvent(data="ok")]  # and reusable after
