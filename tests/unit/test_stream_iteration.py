"""AsyncStream's iteration without sockets: one read position, however the items are taken.

``async for`` runs a generator per loop (``__aiter__``) and ``anext()`` takes
one item; both hand out from the stream's own position, so mixing them, or
breaking out and looping again, loses and repeats nothing, chunk boundaries
included.  The generator is kept out of the loop's async-generator hooks, so
an abandoned one drops its stream at once.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import msgspec
import pytest

from rawllm import APIConnectionError, _formats
from rawllm._reader import StreamReader
from rawllm._streaming import AsyncStream

PER_CHUNK = 3


def _chunk(i: int) -> bytes:
    body = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": f"t{i}"}, "finish_reason": None}],
    }
    return b"data: " + msgspec.json.encode(body) + b"\n\n"


def _network_chunks(n: int, done: bool = True) -> list[bytes]:
    """``n`` events, ``PER_CHUNK`` to a network read, then ``[DONE]`` (unless cut)."""
    events = [_chunk(i) for i in range(n)]
    reads = [b"".join(events[i : i + PER_CHUNK]) for i in range(0, n, PER_CHUNK)]
    return reads + [b"data: [DONE]\n\n"] if done else reads


class _Response:
    """What AsyncStream uses of ``_transport.Response``: reads in the given pieces."""

    status = 200
    headers: dict[str, str] = {}

    def __init__(self, reads: list[bytes]) -> None:
        self._reads = list(reads)
        self.reads = 0
        self.closed = False
        self.finished = False

    async def _readany(self) -> bytes:
        await asyncio.sleep(0)
        if self._reads:
            self.reads += 1
            return self._reads.pop(0)
        return b""

    def chunk_reader(self) -> Any:
        return self._readany

    async def read_chunk(self) -> bytes:
        return await self._readany()

    async def finish(self, within: float) -> None:
        self.finished = True  # read to its end: the connection goes back to the pool

    def release(self) -> None:
        self.finished = True

    def close(self) -> None:
        self.closed = True


def _stream(reads: list[bytes]) -> tuple[AsyncStream[Any], _Response]:
    resp = _Response(reads)
    return AsyncStream(resp, b"", StreamReader(_formats.CHAT)), resp  # type: ignore[arg-type]


def _text(chunk: Any) -> str:
    return str(chunk.choices[0].delta.content)


async def test_a_second_loop_goes_on_where_the_first_stopped() -> None:
    stream, resp = _stream(_network_chunks(9))
    got: list[str] = []
    async for chunk in stream:
        got.append(_text(chunk))
        if len(got) == 2:  # mid-chunk: one item of the first read is not handed out
            break
    got.append(_text(await anext(stream)))
    async for chunk in stream:
        got.append(_text(chunk))
    assert got == [f"t{i}" for i in range(9)]
    assert stream.completed and resp.finished and not resp.closed
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_a_held_iterator_and_anext_share_one_position_across_reads() -> None:
    stream, _ = _stream(_network_chunks(9))
    held = aiter(stream)
    got = [_text(await anext(held)) for _ in range(PER_CHUNK)]  # the first read, all of it
    got.append(_text(await anext(stream)))  # reads the second chunk, behind `held`'s back
    got.append(_text(await anext(held)))  # `held` goes on in that chunk, not past it
    got += [_text(chunk) async for chunk in held]
    assert got == [f"t{i}" for i in range(9)]


async def test_every_way_of_taking_items_gives_the_same_sequence() -> None:
    expected = [f"t{i}" for i in range(10)]
    for pattern in ("loop", "anext", "alternate", "break-each"):
        stream, _ = _stream(_network_chunks(10))
        got: list[str] = []
        if pattern == "loop":
            got = [_text(c) async for c in stream]
        elif pattern == "anext":
            while True:
                try:
                    got.append(_text(await anext(stream)))
                except StopAsyncIteration:
                    break
        elif pattern == "alternate":
            held = aiter(stream)
            for i in range(10):
                got.append(_text(await anext(held if i % 2 else stream)))
        else:
            while len(got) < 10:
                async for chunk in stream:
                    got.append(_text(chunk))
                    break
        assert got == expected, pattern


async def test_the_iterator_stays_out_of_the_loops_hooks_and_restores_them() -> None:
    started: list[Any] = []
    loop_hooks = sys.get_asyncgen_hooks()

    def firstiter(agen: Any) -> None:
        started.append(agen)
        if loop_hooks.firstiter is not None:
            loop_hooks.firstiter(agen)

    sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=loop_hooks.finalizer)
    try:
        stream, resp = _stream(_network_chunks(9))
        mine = sys.get_asyncgen_hooks()
        async for _ in stream:
            break
        assert sys.get_asyncgen_hooks() == mine  # put back as they were
        assert started == []  # not handed to the loop: nothing to close it later
        # Nothing refers to the stream now: dropped at once, its connection with it.
        del stream
        assert resp.closed
    finally:
        sys.set_asyncgen_hooks(*loop_hooks)


async def test_a_cut_stream_raises_again_when_looped_over_again() -> None:
    stream, resp = _stream(_network_chunks(6, done=False))
    got: list[str] = []
    with pytest.raises(APIConnectionError):
        async for chunk in stream:
            got.append(_text(chunk))
    assert got == [f"t{i}" for i in range(6)]
    assert resp.closed and not stream.completed
    with pytest.raises(APIConnectionError):  # never a quiet end
        async for _ in stream:
            pass
    with pytest.raises(APIConnectionError):
        await anext(stream)


async def test_unread_counts_items_decoded_but_not_handed_out() -> None:
    stream, _ = _stream(_network_chunks(9))
    await anext(stream)
    assert stream._unread() == PER_CHUNK - 1
    async for _ in stream:
        break
    assert stream._unread() == PER_CHUNK - 2
