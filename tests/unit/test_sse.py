"""rawllm.sse against the WHATWG rules: JSON vectors fed at every chunking, plus edge cases.

Each vector in ``vectors/sse_*.json`` (one file per group of rules) is fed
whole, one byte at a time, one byte at a time with empty chunks in between,
and split in two at every offset (h11's ``tr()`` idea, generalised); every
way must give the same events.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
import pytest

import rawllm
from rawllm.sse import ServerSentEvent, SSEDecoder

VECTORS = pathlib.Path(__file__).parent / "vectors"


def _load() -> list[Any]:
    cases = []
    for path in sorted(VECTORS.glob("sse_*.json")):
        group = json.loads(path.read_text("utf-8"))
        for case in group["cases"]:
            cases.append(pytest.param(case, id=f"{path.stem.removeprefix('sse_')}:{case['name']}"))
    return cases


def _input(case: dict[str, Any]) -> bytes:
    if "input_bytes" in case:
        return str(case["input_bytes"]).encode("latin-1")
    return str(case["input"]).encode("utf-8", "surrogatepass")


def _expected(case: dict[str, Any]) -> list[ServerSentEvent]:
    return [
        ServerSentEvent(
            event=e.get("event", "message"),
            data=e["data"],
            id=e.get("id"),
            retry=e.get("retry"),
        )
        for e in case["events"]
    ]


def decode(chunks: Iterable[bytes]) -> tuple[list[ServerSentEvent], str | None]:
    """Feed ``chunks`` to a fresh decoder, then close it."""
    dec = SSEDecoder()
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out += dec.feed(chunk)
    out += dec.close()
    return out, dec.last_event_id


def chunkings(data: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """Every way these tests cut a stream: whole, bytewise, and each two-piece split."""
    yield "whole", [data]
    yield "bytewise", [data[i : i + 1] for i in range(len(data))]
    yield "bytewise+empty", [b""] + [p for i in range(len(data)) for p in (data[i : i + 1], b"")]
    for i in range(len(data) + 1):
        yield f"split@{i}", [data[:i], data[i:]]


def test_vectors_present() -> None:
    names = {p.stem.removeprefix("sse_") for p in VECTORS.glob("sse_*.json")}
    assert {"bom", "data", "fields", "id", "line_endings", "retry", "utf8"} <= names
    assert sum(1 for _ in _load()) >= 100


@pytest.mark.parametrize("case", _load())
def test_vector(case: dict[str, Any]) -> None:
    data = _input(case)
    expected = _expected(case)
    for how, chunks in chunkings(data):
        events, last_event_id = decode(chunks)
        assert events == expected, how
        if "last_event_id" in case:
            assert last_event_id == case["last_event_id"], how


# --- The cases where openai-python and httpx-sse (0.4.x) go wrong -------------
# Both share a dispatch test ("anything set in the block") and parse retry
# with int(); neither strips a BOM.  These pin the WHATWG behaviour.


def test_leading_bom_is_stripped() -> None:
    # httpx-sse/openai: the first field name becomes "\ufeffdata", event lost.
    assert decode([b"\xef\xbb\xbfdata: first\n\n"])[0] == [ServerSentEvent(data="first")]


def test_bom_split_across_chunks_is_stripped() -> None:
    events, _ = decode([b"\xef", b"\xbb", b"\xbf", b"data: x\n\n"])
    assert events == [ServerSentEvent(data="x")]


def test_bom_only_at_stream_start() -> None:
    # A BOM at the start of a later chunk is content, not a stream start.
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n\n") == [ServerSentEvent(data="a")]
    assert dec.feed(b"\xef\xbb\xbfdata: b\n\n") == []


def test_field_only_block_is_not_dispatched() -> None:
    # httpx-sse/openai: `event: ping` alone dispatches an event with data "".
    assert decode([b"event: ping\n\n"])[0] == []


def test_blank_lines_after_id_dispatch_nothing() -> None:
    # httpx-sse/openai: every blank line after an `id:` emits an empty event.
    events, last = decode([b"id: 1\n\n\n\n"])
    assert events == []
    assert last == "1"


def test_bare_data_line_dispatches_empty_string() -> None:
    assert decode([b"data\n\n"])[0] == [ServerSentEvent(data="")]


@pytest.mark.parametrize(
    "value",
    [b"+5", b"-5", b" 5", b"5 ", b"\xef\xbc\x95", b"\xd9\xa5", b"1_0", b"0x10", b""],
    ids=["plus", "minus", "space", "trailing-space", "fullwidth", "arabic", "us", "hex", "empty"],
)
def test_retry_not_all_ascii_digits_is_ignored(value: bytes) -> None:
    # httpx-sse/openai: int() accepts "+5", " 5", "５" and "1_0".
    events, _ = decode([b"retry: " + value + b"\ndata: a\n\n"])
    assert events == [ServerSentEvent(data="a", retry=None)]


def test_retry_absurdly_long_is_ignored_not_raised() -> None:
    digits = b"9" * 10_000  # beyond Python's int-string limit: must not raise
    events, _ = decode([b"retry: " + digits + b"\ndata: a\n\n"])
    assert events == [ServerSentEvent(data="a", retry=None)]
    events, _ = decode([b"retry: " + b"0" * 10_000 + b"42\ndata: a\n\n"])
    assert events == [ServerSentEvent(data="a", retry=42)]


# --- ServerSentEvent -----------------------------------------------------------


def test_event_defaults_equality_repr() -> None:
    ev = ServerSentEvent(data="x")
    assert (ev.event, ev.data, ev.id, ev.retry) == ("message", "x", None, None)
    assert ev == ServerSentEvent("message", "x", None, None)
    assert ev != ServerSentEvent("message", "x", "", None)
    assert ev != ServerSentEvent("other", "x")
    assert repr(ev) == "ServerSentEvent(event='message', data='x', id=None, retry=None)"
    assert hash(ev) == hash(ServerSentEvent(data="x"))


def test_event_is_frozen() -> None:
    ev = ServerSentEvent(data="x")
    with pytest.raises(AttributeError):
        ev.data = "y"  # type: ignore[misc]


def test_event_round_trips_through_msgspec() -> None:
    ev = ServerSentEvent("delta", "{}", "7", 10)
    assert msgspec.json.decode(msgspec.json.encode(ev), type=ServerSentEvent) == ev


# --- Decoder behaviour -----------------------------------------------------------


def test_events_returned_as_soon_as_their_blank_line_arrives() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n") == []
    assert dec.feed(b"\n") == [ServerSentEvent(data="a")]
    # A CR ends the line at once: no waiting to see whether an LF follows.
    assert dec.feed(b"data: b\r") == []
    assert dec.feed(b"\r") == [ServerSentEvent(data="b")]
    assert dec.feed(b"\n") == []  # the LF completing that CRLF, not a blank line
    assert dec.feed(b"data: c\n\n") == [ServerSentEvent(data="c")]


def test_cr_then_empty_chunks_then_lf_is_one_line_end() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.feed(b"") == []
    assert dec.feed(b"") == []
    assert dec.feed(b"\ndata: b\r\n\r\n") == [ServerSentEvent(data="a\nb")]


def test_multibyte_char_split_in_every_place() -> None:
    text = "data: \U0001f680\u00e9\u65e5\n\n".encode()
    for i in range(len(text)):
        for j in range(i, len(text)):
            events, _ = decode([text[:i], text[i:j], text[j:]])
            assert events == [ServerSentEvent(data="\U0001f680\u00e9\u65e5")]


def test_close_discards_and_resets_but_keeps_last_event_id() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"id: 9\nevent: x\nretry: 5\ndata: a\n\nevent: y\ndata: cut") == [
        ServerSentEvent("x", "a", "9", 5)
    ]
    assert dec.close() == []
    assert dec.last_event_id == "9"
    # A new stream (a reconnection): fresh block state, BOM allowed again.
    assert dec.feed(b"\xef\xbb\xbfdata: b\n\n") == [ServerSentEvent("message", "b", "9", None)]


def test_close_drops_pending_cr_state() -> None:
    dec = SSEDecoder()
    dec.feed(b"data: a\r")
    dec.close()
    # The LF starting the next stream is a real (blank) line, not half a CRLF.
    assert dec.feed(b"data: b\n\n") == [ServerSentEvent(data="b")]


def test_realistic_openai_stream_in_odd_pieces() -> None:
    body = (
        b"".join(
            b'data: {"choices":[{"delta":{"content":"' + tok.encode() + b'"}}]}\n\n'
            for tok in ["He", "llo", " w\u00f6rld", "\U0001f600", "!"]
        )
        + b": keep-alive\n\ndata: [DONE]\n\n"
    )
    whole, _ = decode([body])
    assert [e.data for e in whole][-1] == "[DONE]"
    assert len(whole) == 6
    for size in (1, 2, 3, 5, 7, 11, 64, 1024):
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        assert decode(pieces)[0] == whole, size


# --- Linear time ---------------------------------------------------------------
# Structural checks: the decoder keeps the pieces of an incomplete line as the
# very objects it was given (no re-copy of a growing prefix) and data lines of
# one event as separate pieces, and joins each once.


def test_long_line_pieces_are_kept_not_recopied() -> None:
    dec = SSEDecoder()
    pieces = [bytes([97 + i % 26]) * 1024 for i in range(8 * 1024)]  # 8 MiB line
    assert dec.feed(b"data: ") == []
    for piece in pieces:
        assert dec.feed(piece) == []
    held = dec._pending
    assert len(held) == len(pieces) + 1
    assert all(a is b for a, b in zip(held[1:], pieces, strict=True))  # nothing copied
    events = dec.feed(b"\n\n")
    assert len(events) == 1 and len(events[0].data) == 8 * 1024 * 1024
    assert events[0].data == b"".join(pieces).decode()
    assert dec._pending == []


def test_long_line_with_crlf_ends_is_kept_not_recopied() -> None:
    dec = SSEDecoder()
    pieces = [b"x" * 1024] * 4096
    dec.feed(b"data: ")
    for piece in pieces:
        dec.feed(piece)
    assert all(a is b for a, b in zip(dec._pending[1:], pieces, strict=True))
    events = dec.feed(b"\r\n\r\n")
    assert [len(e.data) for e in events] == [4 * 1024 * 1024]


def test_many_data_lines_are_kept_as_pieces() -> None:
    dec = SSEDecoder()
    n = 100_000
    for i in range(n):
        assert dec.feed(b"data: %d\n" % i) == []
    assert dec._more is not None and len(dec._more) == n  # one piece per line, joined once
    (event,) = dec.feed(b"\n")
    assert event.data == "\n".join(str(i) for i in range(n))


def test_removeprefix_gives_an_unprefixed_line_back_itself() -> None:
    """The decoder tells data lines by identity: CPython returns exact bytes without
    the prefix unchanged, and a line that has it as a new object (even when empty)."""
    line = b"event: ping"
    assert line.removeprefix(b"data: ") is line
    for data_line in (b"data: x", b"data: "):
        assert data_line.removeprefix(b"data: ") is not data_line
    events = SSEDecoder().feed(b"event: ping\ndata: \n\ndata:x\ndata: y\n\n")
    assert [(e.event, e.data) for e in events] == [("ping", ""), ("message", "x\ny")]


@pytest.mark.parametrize("chunks", [1, 2, 3])
def test_max_event_bytes_counts_data_as_received(chunks: int) -> None:
    """Five invalid bytes are five bytes of data, though their text (U+FFFD each) is
    15 in UTF-8: a cap of 11 (the longest line) holds them, whole or split."""
    body = b"event: x\ndata: \x80\x80\x80\x80\x80\n\ndata: ok\n\n"
    step = -(-len(body) // chunks)
    dec = SSEDecoder(max_event_bytes=11)
    events = [e for i in range(0, len(body), step) for e in dec.feed(body[i : i + step])]
    assert [e.data for e in events] == ["\ufffd" * 5, "ok"]


def test_max_event_bytes_refuses_data_over_it_as_received() -> None:
    body = b"data: \x80\x80\x80\x80\x80\ndata: \x80\x80\x80\x80\x80\n\n"  # 11 bytes of data
    assert SSEDecoder(max_event_bytes=11).feed(body)[0].data == "\ufffd" * 5 + "\n" + "\ufffd" * 5
    with pytest.raises(
        rawllm.APIResponseValidationError, match="data is larger than max_event_bytes=10"
    ):
        SSEDecoder(max_event_bytes=10).feed(body)
