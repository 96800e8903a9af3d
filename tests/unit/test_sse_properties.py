"""Property tests for rawllm.sse: chunking invariance, a literal spec oracle, fast == general path.

The oracle below is a deliberately naive transcription of WHATWG HTML
9.2.6 (decode everything, drop one leading U+FEFF, split on CRLF/CR/LF, walk
the lines); the decoder must agree with it on generated streams fed in any
chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rawllm.sse import BytesEvent, ServerSentEvent, SSEDecoder, bytes_decoder

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_LINE_END = re.compile(r"\r\n|\r|\n")


def reference(stream: bytes) -> tuple[list[ServerSentEvent], str | None]:
    """The WHATWG event stream interpretation, step by step, on the whole input."""
    text = stream.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _LINE_END.split(text)[:-1]  # the piece after the last line end is discarded
    events: list[ServerSentEvent] = []
    data_buffer = ""
    event_type = ""
    id_buffer: str | None = None
    last_event_id: str | None = None
    retry: int | None = None
    for line in lines:
        if line == "":
            last_event_id = id_buffer
            if data_buffer != "":
                if data_buffer.endswith("\n"):
                    data_buffer = data_buffer[:-1]
                events.append(
                    ServerSentEvent(event_type or "message", data_buffer, id_buffer, retry)
                )
            data_buffer = ""
            event_type = ""
            retry = None
            continue
        if line.startswith(":"):
            continue
        if ":" in line:
            name, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            name, value = line, ""
        if name == "event":
            event_type = value
        elif name == "data":
            data_buffer += value + "\n"
        elif name == "id":
            if "\x00" not in value:
                id_buffer = value
        elif name == "retry":
            if value != "" and all(c in "0123456789" for c in value):
                retry = int(value)
    return events, last_event_id


def decode(chunks: Iterable[bytes]) -> tuple[list[ServerSentEvent], str | None]:
    dec = SSEDecoder()
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out += dec.feed(chunk)
    out += dec.close()
    return out, dec.last_event_id


def split_at(stream: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
    return [stream[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


# --- Strategies ------------------------------------------------------------------

_VALUE_CHARS = st.sampled_from(
    list("ab z09:+-._ ") + ["\x00", "\t", "\u00e9", "\u65e5", "\U0001f680", "\ufeff", "\uff15"]
)
_values = st.text(alphabet=_VALUE_CHARS, max_size=12)
_names = st.sampled_from(
    ["data", "data", "data", "event", "id", "retry", "foo", "Data", "", " data", "\ufeffdata"]
)
_field_lines = st.builds(
    lambda name, sep, value: name + sep + value,
    _names,
    st.sampled_from([": ", ":", ":  ", ""]),
    _values,
)
_retry_lines = st.builds(
    lambda digits, sep: "retry" + sep + digits,
    st.text(alphabet="0123456789", min_size=0, max_size=6),
    st.sampled_from([": ", ":"]),
)
_shapes = st.builds(  # the shapes the block-level fast path takes
    lambda event, value: (f"event: {event}\n" if event is not None else "") + f"data: {value}\n",
    st.one_of(st.none(), _values),
    _values,
)
_lines = st.one_of(
    _shapes,
    _field_lines,
    _retry_lines,
    st.builds(lambda v: ":" + v, _values),  # comment
    st.just(""),  # blank line: dispatch
    st.just(""),
)
_endings = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def streams(draw: st.DrawFn, line_ends: st.SearchStrategy[str] = _endings) -> bytes:
    """A generated event stream: optional BOM(s), fields, comments, blank lines, any line ends."""
    bom = draw(st.sampled_from(["", "", "\ufeff", "\ufeff\ufeff"]))
    body = "".join(line + draw(line_ends) for line in draw(st.lists(_lines, max_size=25)))
    tail = draw(st.sampled_from(["", "", "data: cut", ":", "\r"]))
    raw = (bom + body + tail).encode("utf-8")
    if draw(st.booleans()):  # sprinkle invalid UTF-8
        junk = draw(st.sampled_from([b"\xff", b"\xe2\x82", b"\xf0\x9f", b"\x80", b"\xef\xbb"]))
        pos = draw(st.integers(0, len(raw)))
        raw = raw[:pos] + junk + raw[pos:]
    return raw


_atoms = st.sampled_from(
    [b"\n", b"\r", b"\r\n", b"data", b"event", b"id", b"retry", b":", b" ", b"x", b"5",
     b"\x00", b"\xef\xbb\xbf", b"\xef", b"\xff", b"\xe2\x82\xac", b"\xe2\x82", b"\xc3"]
)  # fmt: skip
raw_streams = st.lists(_atoms, max_size=60).map(b"".join)


# --- Properties ------------------------------------------------------------------


@SETTINGS
@given(stream=st.one_of(streams(), raw_streams), cuts=st.lists(st.integers(0, 10_000)))
def test_any_chunking_gives_the_same_events(stream: bytes, cuts: list[int]) -> None:
    assert decode(split_at(stream, cuts)) == decode([stream])


@SETTINGS
@given(stream=st.one_of(streams(), raw_streams))
def test_matches_the_spec_oracle(stream: bytes) -> None:
    assert decode([stream]) == reference(stream)


@SETTINGS
@given(stream=streams(), cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_chunked_matches_the_spec_oracle(stream: bytes, cuts: list[int]) -> None:
    assert decode(split_at(stream, cuts)) == reference(stream)


def _without_cr(stream: bytes) -> bytes:
    return stream.replace(b"\r", b"")


def _feed_general(dec: SSEDecoder, chunk: bytes) -> list[ServerSentEvent]:
    """Feed through the CR-handling path only, as if every chunk held a CR."""
    if dec._slow:
        chunk = dec._prefix(chunk)
    return dec._feed_cr(chunk) if chunk else []


def _forbidden(self: SSEDecoder, *args: object) -> None:
    raise AssertionError("left the fast path")


def _state(dec: SSEDecoder) -> tuple[object, ...]:
    pending = b"".join(dec._pending)
    return (pending, dec._data, dec._more, dec._event, dec._retry, dec._id, dec.last_event_id)


@SETTINGS
@given(
    stream=st.one_of(streams(line_ends=st.just("\n")), raw_streams).map(_without_cr),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
)
def test_fast_path_equals_general_path(stream: bytes, cuts: list[int]) -> None:
    """LF-only input: the LF fast path == the CR-normalising path, chunk by chunk."""
    assert b"\r" not in stream
    chunks = split_at(stream, cuts)
    general = SSEDecoder()
    general_events = [_feed_general(general, chunk) for chunk in chunks]
    with mock.patch.object(SSEDecoder, "_feed_cr", _forbidden):
        fast = SSEDecoder()
        fast_events = [fast.feed(chunk) for chunk in chunks]
    assert fast_events == general_events
    assert _state(fast) == _state(general)


def test_oracle_itself_is_sane() -> None:
    # Guards the oracle against drifting into agreement with a broken decoder.
    events, last = reference(
        b"\xef\xbb\xbfid: 1\r\nevent: e\rretry: 5\ndata: a\ndata\n\nevent: p\n\n"
    )
    assert events == [ServerSentEvent("e", "a\n", "1", 5)]
    assert last == "1"
    assert reference(b"data: x\n")[0] == []


def _decode_bytes(chunks: Iterable[bytes], *, names: bool) -> list[object]:
    dec = bytes_decoder(names=names)
    out: list[object] = []
    for chunk in chunks:
        out += dec.feed(chunk)
    out += dec.close()
    return out


@SETTINGS
@given(stream=st.one_of(streams(), raw_streams), cuts=st.lists(st.integers(0, 10_000)))
def test_byte_modes_frame_exactly_as_the_text_decoder(stream: bytes, cuts: list[int]) -> None:
    """bytes_decoder hands out the same events, data left as bytes (decoded: equal)."""
    events, _ = decode([stream])
    chunks = split_at(stream, cuts)
    data_only = _decode_bytes(chunks, names=False)
    named = _decode_bytes(chunks, names=True)
    assert all(type(d) is bytes for d in data_only)
    assert [d.decode("utf-8", "replace") for d in data_only] == [e.data for e in events]  # type: ignore[attr-defined]
    assert [type(n) for n in named] == [BytesEvent] * len(events)
    assert [(n.event, n.data.decode("utf-8", "replace")) for n in named] == [  # type: ignore[attr-defined]
        (e.event, e.data) for e in events
    ]
