"""Provider quirks (docs/providers.md): each fixture is what one provider sends, per its docs.

Every fixture goes through the same pure pipeline the client runs (bytes ->
``SSEDecoder`` -> wire decoder -> accumulator), fed in small pieces, and its
``expect`` paths are read off the result.  The same chunks are fed to the
official SDK's pydantic types (validated): where the SDK accepts a shape rawllm
must too, and ``sdk_validates`` records which fixtures only rawllm reads typed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

import rawllm
from rawllm._accumulate import ChatCompletionAccumulator
from rawllm._accumulate_events import MessageAccumulator
from rawllm._wire import anthropic as anthropic_wire
from rawllm._wire import openai as chat_wire
from rawllm.sse import SSEDecoder

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.json"))
IDS = [f.stem for f in FIXTURES]


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def sse_events(text: str, piece: int = 7) -> list[Any]:
    raw = text.encode()
    dec = SSEDecoder()
    events = []
    for i in range(0, len(raw), piece):
        events += dec.feed(raw[i : i + piece])
    return events + dec.close()


def run_stream(fixture: dict[str, Any]) -> tuple[list[Any], Any]:
    """(decoded items, final result) of a stream fixture, as the client folds it."""
    items: list[Any] = []
    if fixture["api"] == "chat":
        acc = ChatCompletionAccumulator()
        done = False
        for sse in sse_events(fixture["sse"]):
            item = chat_wire.decode_event(sse)
            if item is chat_wire.DONE:
                done = True
                break
            if item is not None:
                items.append(item)
                acc.add(item)  # type: ignore[arg-type]
        assert done, "the chat stream ends with [DONE]"
        return items, acc.result()
    macc = MessageAccumulator()
    for sse in sse_events(fixture["sse"]):
        event = anthropic_wire.decode_event(sse)
        if event is not None:
            items.append(event)
            macc.add(event)
    return items, macc.result()


def decode_body(fixture: dict[str, Any], body: Any) -> Any:
    raw = json.dumps(body).encode()
    if fixture["api"] == "chat":
        return chat_wire.decode_chat_completion(raw)
    return anthropic_wire.decode_message(raw)


_STEP = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


def at(obj: Any, path: str) -> Any:
    for name, index in _STEP.findall(path):
        if index:
            obj = obj[int(index)]
        elif isinstance(obj, dict):
            obj = obj[name]
        else:
            obj = getattr(obj, name)
    return obj


def plain(value: Any) -> Any:
    return msgspec.to_builtins(value) if isinstance(value, msgspec.Struct) else value


@pytest.mark.parametrize("path", FIXTURES, ids=IDS)
def test_provider_fixture(path: Path) -> None:
    fixture = load(path)
    if "raises" in fixture:
        with pytest.raises(getattr(rawllm, fixture["raises"])):
            run_stream(fixture)
        return
    if fixture["stream"]:
        _, result = run_stream(fixture)
    else:
        result = decode_body(fixture, fixture["body"])
    assert fixture["expect"] or "non_stream" in fixture
    for where, expected in fixture["expect"].items():
        assert plain(at(result, where)) == expected, where
    if "non_stream" in fixture:  # the same answer, not streamed
        assert result == decode_body(fixture, fixture["non_stream"])


def _sdk_validates(fixture: dict[str, Any]) -> bool:
    """Whether the official SDK's types, validating, accept every object of the fixture."""
    import pydantic

    if fixture["api"] == "chat":
        from openai.types.chat import ChatCompletion, ChatCompletionChunk

        objs = (
            [json.loads(e.data) for e in sse_events(fixture["sse"]) if e.data != "[DONE]"]
            if fixture["stream"]
            else [fixture["body"]]
        )
        typ: Any = ChatCompletionChunk if fixture["stream"] else ChatCompletion
    else:
        from anthropic.types import Message, RawMessageStreamEvent

        objs = (
            [json.loads(e.data) for e in sse_events(fixture["sse"]) if e.event != "ping"]
            if fixture["stream"]
            else [fixture["body"]]
        )
        typ = RawMessageStreamEvent if fixture["stream"] else Message
    adapter = pydantic.TypeAdapter(typ)
    try:
        for obj in objs:
            adapter.validate_python(obj)
    except pydantic.ValidationError:
        return False
    return True


@pytest.mark.parametrize("path", FIXTURES, ids=IDS)
def test_what_the_sdk_accepts_rawllm_accepts(path: Path) -> None:
    pytest.importorskip("openai")
    pytest.importorskip("anthropic")
    fixture = load(path)
    if "raises" in fixture:
        return  # an error stream: nothing for a type to accept
    accepted = _sdk_validates(fixture)
    assert accepted == fixture.get("sdk_validates", accepted), "sdk_validates is out of date"
    # rawllm decodes every fixture (test_provider_fixture), the SDK-accepted ones included.
    if fixture["stream"]:
        items, _ = run_stream(fixture)
        assert items
    else:
        decode_body(fixture, fixture["body"])
