"""rawllm's OpenAI types against the official OpenAPI spec (the trimmed copy in openai_spec.json).

Two checks, both mechanical:

- every example response the spec publishes for the endpoints rawllm covers
  decodes on the strict fast path (one msgspec pass: nothing set aside);
- every property of the response schemas has a rawllm field whose type accepts
  every JSON kind the spec allows there (``_compare.Walker``), recursively
  through nested objects, arrays and tagged unions; a mismatch fails naming
  its JSON path.

Refresh the copy with ``python tests/spec/refresh.py openapi.json --commit SHA``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from _compare import Walker, iter_sse

import rawllm
from rawllm import _formats as formats
from rawllm._accumulate import ChatCompletionAccumulator
from rawllm._reader import StreamReader
from rawllm._wire import openai as chat_wire
from rawllm._wire import responses as responses_wire
from rawllm.sse import ServerSentEvent
from rawllm.types import openai as o
from rawllm.types import responses as r

SPEC = json.loads((Path(__file__).parent / "openai_spec.json").read_text(encoding="utf-8"))
SCHEMAS: dict[str, Any] = SPEC["schemas"]

# rawllm type <-> spec schema, the roots of the walk.
PAIRS = [
    (o.ChatCompletion, "CreateChatCompletionResponse"),
    (o.ChatCompletionChunk, "CreateChatCompletionStreamResponse"),
    (o.CreateEmbeddingResponse, "CreateEmbeddingResponse"),
    (o.ModelList, "ListModelsResponse"),
    (o.Model, "Model"),
    (r.Response, "Response"),
    (r.ResponseStreamEvent, "ResponseStreamEvent"),
]

# Fields rawllm leaves to ``to_dict()`` on purpose (request echoes of large
# unions it never reads); each says why.  Everything else in the spec is typed.
UNTYPED: dict[str, str] = {
    "Response.output_text": "an SDK-only convenience in the spec; rawllm computes it (a property)",
}


def _walk() -> tuple[list[str], list[str]]:
    compared: list[str] = []
    walker = Walker(SCHEMAS, UNTYPED, compared.append)
    for typ, name in PAIRS:
        walker.compare(mi.type_info(typ), SCHEMAS[name], f"{name}$")
    return walker.mismatches, compared


def test_rawllm_types_match_the_spec() -> None:
    mismatches, compared = _walk()
    assert not mismatches, "\n".join(mismatches)
    # The walk really went deep (a broken walker would compare nothing and pass).
    assert len(compared) > 300
    assert "Response$.output[]<mcp_call>.error" in compared


def test_the_comparison_can_fail() -> None:
    # The same walk against a schema that disagrees must name the path.
    schemas = {
        "X": {
            "type": "object",
            "properties": {"error": {"type": "object", "properties": {}}, "extra": {}},
        }
    }
    walker = Walker(schemas, {}, lambda _: None)

    class T(msgspec.Struct):
        error: str | None = None

    walker.compare(mi.type_info(T), schemas["X"], "X$")
    assert walker.mismatches == [
        "X$.error: the spec allows object; rawllm accepts null | string",
        "X$.extra: in the spec, not in rawllm's T",
    ]


# -- the spec's own examples ----------------------------------------------------------------


def _examples(operation: str) -> list[dict[str, Any]]:
    return [e for e in SPEC["examples"] if e["operation"] == operation]


def _strict(typ: Any, data: str | bytes) -> Any:
    """The fast path alone: one typed decode, which must not fail."""
    return msgspec.json.decode(data, type=typ)


_ELISION = re.compile(r"^\s*\.{3,}.*$\n?", re.M)  # "    .... (1536 floats total)"
_TRAILING_COMMA = re.compile(r",(\s*[\]}])")


def _clean(text: str) -> str:
    """A documentation example as JSON: elided lines and the commas before them removed."""
    return _TRAILING_COMMA.sub(r"\1", _ELISION.sub("", text))


def _blocks(text: str) -> list[str]:
    """The JSON objects of a chunk-per-paragraph stream example ("...." paragraphs skipped)."""
    return [b for b in text.split("\n\n") if b.strip().startswith("{")]


# Examples in the spec that are wrong by its own schema; each is still decoded
# (through the tolerant path where it is JSON) and the reason is checked.
ERRATA = {
    # a missing comma after "delta": not JSON at all
    "ResponseFunctionCallArgumentsDeltaEvent": "not JSON",
    # "created_at": "2021-01-01T00:00:00Z" where the schema says a number
    "ResponseQueuedEvent": "$.response.created_at",
}


CHAT = _examples("POST /chat/completions")


@pytest.mark.parametrize("example", CHAT, ids=[e["title"] for e in CHAT])
def test_chat_examples_decode_strictly(example: dict[str, Any]) -> None:
    text = example["response"]
    if '"chat.completion.chunk"' in text:
        acc = ChatCompletionAccumulator()
        chunks = _blocks(text)  # the spec elides the middle with "...."
        assert chunks
        for block in chunks:
            chunk = _strict(o.ChatCompletionChunk, block)
            assert chat_wire.decode_chunk(block) == chunk
            acc.add(chunk)
        assert acc.result().choices[0].finish_reason == "stop"
    else:
        resp = _strict(o.ChatCompletion, text)
        assert resp.choices and chat_wire.decode_chat_completion(text).raw_fields == {}


@pytest.mark.parametrize(
    "operation,typ",
    [
        ("POST /embeddings", o.CreateEmbeddingResponse),
        ("GET /models", o.ModelList),
        ("GET /models/{model}", o.Model),
    ],
)
def test_other_examples_decode_strictly(operation: str, typ: Any) -> None:
    examples = _examples(operation)
    assert examples
    for example in examples:
        _strict(typ, _clean(example["response"]))


RESPONSES = _examples("POST /responses") + _examples("GET /responses/{response_id}")


@pytest.mark.parametrize("example", RESPONSES, ids=[e["title"] for e in RESPONSES])
def test_responses_examples_decode_strictly(example: dict[str, Any]) -> None:
    text = example["response"]
    if text.lstrip().startswith("event:"):
        for name, data in iter_sse(text + "\n\n"):  # the excerpt ends without a blank line
            event = responses_wire.decode_event(ServerSentEvent(event=name, data=data))
            if json.loads(data)["type"] in responses_wire._EVENT_TYPES:
                assert event == _strict(r.ResponseStreamEvent, data)
        reader: StreamReader[Any, Any] = StreamReader(formats.responses())
        reader.feed((text + "\n\n").encode())
        reader.eof()
        assert reader.done and reader.final().output_text
    else:
        resp = _strict(r.Response, text)
        assert resp.id and responses_wire.decode_response(text).raw_fields == {}


EVENT_EXAMPLES = sorted(SPEC["schema_examples"].items())


@pytest.mark.parametrize("name,text", EVENT_EXAMPLES, ids=[n for n, _ in EVENT_EXAMPLES])
def test_schema_examples_decode(name: str, text: str) -> None:
    if name in ERRATA:
        _erratum(name, text, ERRATA[name])
        return
    if name == "CreateChatCompletionStreamResponse":
        for block in _blocks(text):
            _strict(o.ChatCompletionChunk, block)
        return
    text = _clean(text)
    data = json.loads(text)
    if name.startswith("Response") and name.endswith("Event"):
        tag = data["type"]
        if tag in ("error", "response.failed"):
            with pytest.raises(Exception, match=".") as info:
                responses_wire.decode_event(ServerSentEvent(data=text))
            assert "APIStatusError" in [c.__name__ for c in type(info.value).__mro__]
        elif tag in responses_wire._EVENT_TYPES:
            assert responses_wire.decode_event(ServerSentEvent(data=text)) == _strict(
                r.ResponseStreamEvent, text
            )
        else:  # an event type rawllm skips
            assert responses_wire.decode_event(ServerSentEvent(data=text)) is None
    elif name == "CreateChatCompletionResponse":
        _strict(o.ChatCompletion, text)
    elif name == "Embedding":
        _strict(o.Embedding, text)
    elif name == "Model":
        _strict(o.Model, text)
    else:
        pytest.fail(f"no rawllm type for the example of {name}")


def _erratum(name: str, text: str, reason: str) -> None:
    sse = ServerSentEvent(data=text)
    if reason == "not JSON":
        with pytest.raises(rawllm.APIResponseValidationError, match="not valid JSON"):
            responses_wire.decode_event(sse)
        return
    with pytest.raises(msgspec.ValidationError, match=re.escape(reason[1:])):
        _strict(r.ResponseStreamEvent, text)
    event = responses_wire.decode_event(sse)  # the tolerant path keeps the answer
    assert event is not None
    response = event.response  # type: ignore[union-attr]
    assert reason.replace("$.response", "$") in response.raw_fields
