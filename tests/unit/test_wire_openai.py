"""rawllm._wire.openai: request bodies, response validation errors, the stream data rules."""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from rawllm._config import NOT_GIVEN
from rawllm._exceptions import (
    APIResponseValidationError,
    APIStatusError,
    BadRequestError,
    InternalServerError,
    OverloadedError,
    RateLimitError,
    register_secret,
)
from rawllm._wire import openai as wire
from rawllm.types import openai as t

PAYLOADS = Path(__file__).parent / "payloads"


def stream_data(name: str) -> list[str]:
    """The exact ``data`` strings of a stored stream, as a server would send them."""
    events = json.loads((PAYLOADS / name).read_text())["events"]
    return [e if isinstance(e, str) else json.dumps(e, ensure_ascii=False) for e in events]


# -- requests --------------------------------------------------------------------------


def test_build_params_drops_none_and_not_given_and_merges_extra_body_last() -> None:
    kwargs = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": None,
        "seed": NOT_GIVEN,
        "top_p": 0,
        "stream": False,
        "tools": [],
        "custom_flag": "x",
    }
    body = wire.build_params(kwargs, {"top_k": 20, "custom_flag": "y", "stop": None})
    assert body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "top_p": 0,  # falsy values other than None are sent
        "stream": False,
        "tools": [],
        "custom_flag": "y",  # extra_body wins
        "top_k": 20,
        "stop": None,  # extra_body is sent as given: an explicit null is possible
    }
    assert list(body)[-2:] == ["top_k", "stop"]
    assert "seed" in kwargs  # the caller's dict is not modified


def test_build_params_without_extra_body() -> None:
    assert wire.build_params({"a": 1, "b": None}, None) == {"a": 1}
    assert wire.build_params({"a": 1}, {}) == {"a": 1}


def test_encode_is_compact_json_and_handles_structs() -> None:
    msg = t.ChatCompletionMessage(content="hi", tool_calls=None)
    raw = wire.encode({"model": "m", "messages": [msg, {"role": "user", "content": "é"}]})
    assert isinstance(raw, bytes)
    assert raw == (
        b'{"model":"m","messages":[{"role":"assistant","content":"hi"},'
        b'{"role":"user","content":"\xc3\xa9"}]}'
    )
    with pytest.raises(TypeError):
        wire.encode({"x": object()})


# -- responses -------------------------------------------------------------------------


def test_decoders_on_payloads() -> None:
    resp = wire.decode_chat_completion((PAYLOADS / "openai_chat_completion.json").read_bytes())
    assert isinstance(resp, t.ChatCompletion) and resp.choices[0].finish_reason == "tool_calls"
    emb = wire.decode_embeddings((PAYLOADS / "openai_embeddings.json").read_bytes())
    assert isinstance(emb, t.CreateEmbeddingResponse) and len(emb.data) == 2
    models = wire.decode_model_list((PAYLOADS / "openai_models.json").read_bytes())
    assert isinstance(models, t.ModelList) and models.data[1].id == "text-embedding-3-small"
    # str bodies are accepted too
    assert wire.decode_chat_completion('{"model": "m", "choices": []}').model == "m"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "not valid JSON"),
        (b'{"model": "m", "choices": [', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'\xff{"model"', "not valid JSON"),
        (b'{"model": "\xff\xfe", "choices": []}', "not valid JSON"),
        (b"[1, 2]", "Expected `object`, got `array`"),
        (b'{"choices": "x"}', "$.choices"),
        (b'{"model": "m", "choices": [{"index": 0}]}', "message"),
    ],
)
def test_chat_completion_validation_errors(body: bytes, reason: str) -> None:
    with pytest.raises(APIResponseValidationError) as info:
        wire.decode_chat_completion(body)
    err = info.value
    assert reason in err.message
    assert err.body == body.decode("utf-8", "replace")
    assert err.status_code == 200
    assert isinstance(err.__cause__, (msgspec.DecodeError, UnicodeDecodeError))


def test_embeddings_and_models_validation_errors() -> None:
    with pytest.raises(APIResponseValidationError, match="CreateEmbeddingResponse"):
        wire.decode_embeddings(b'{"data": [{"embedding": {"a": 1}}]}')
    with pytest.raises(APIResponseValidationError, match=r"\$\.data"):
        wire.decode_model_list(b'{"data": "none"}')
    with pytest.raises(APIResponseValidationError, match="not valid JSON"):
        wire.decode_model_list(b"nope")


def test_validation_error_message_never_holds_the_key() -> None:
    key = "sk-proj-wireTESTabcdefghijklmnop"
    register_secret(key)
    body = json.dumps({"model": key, "choices": "x"}).encode()
    with pytest.raises(APIResponseValidationError) as info:
        wire.decode_chat_completion(body)
    assert key not in info.value.message and key not in str(info.value)
    assert key not in repr(info.value)


# -- stream data -------------------------------------------------------------------------


def test_done_and_empty_payloads() -> None:
    assert wire.decode_chunk("[DONE]") is wire.DONE
    assert wire.decode_chunk(" [DONE] ") is wire.DONE
    assert repr(wire.DONE) == "DONE"
    assert wire.decode_chunk("") is None
    assert wire.decode_chunk(" \n") is None


def test_empty_choices_and_missing_delta_decode() -> None:
    for name in ("openai_stream_azure.json", "openai_stream_tool_calls.json"):
        for data in stream_data(name):
            item = wire.decode_chunk(data)
            assert item is wire.DONE or isinstance(item, t.ChatCompletionChunk)
    azure = [wire.decode_chunk(d) for d in stream_data("openai_stream_azure.json")]
    first = azure[0]
    assert isinstance(first, t.ChatCompletionChunk)
    assert first.choices == [] and first.prompt_filter_results is not None
    no_delta = azure[-3]
    assert isinstance(no_delta, t.ChatCompletionChunk)
    assert no_delta.choices[0].delta.content is None
    assert no_delta.choices[0].content_filter_results is not None
    assert azure[-1] is wire.DONE


@pytest.mark.parametrize(
    ("data", "cls", "status", "message"),
    [
        (
            '{"error": {"message": "Rate limit reached", "type": "rate_limit_error", '
            '"param": null, "code": null}}',
            RateLimitError,
            429,
            "Rate limit reached",
        ),
        (
            '{"error": {"message": "The server had an error", "type": "server_error"}}',
            InternalServerError,
            500,
            "The server had an error",
        ),
        (
            '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}',
            OverloadedError,
            529,
            "Overloaded",
        ),
        (  # older vLLM: a flat error object
            '{"object": "error", "message": "max_tokens is too large", '
            '"type": "BadRequestError", "param": null, "code": 400}',
            BadRequestError,
            400,
            "max_tokens is too large",
        ),
        ('{"error": "model runner crashed"}', InternalServerError, 500, "model runner crashed"),
    ],
)
def test_in_stream_error_objects(
    data: str, cls: type[APIStatusError], status: int, message: str
) -> None:
    with pytest.raises(cls) as info:
        wire.decode_chunk(data)
    assert type(info.value) is cls
    assert info.value.status_code == status
    assert message in info.value.message
    assert info.value.body is not None


def test_openrouter_mid_stream_error_chunk() -> None:
    data = stream_data("openai_stream_openrouter_error.json")
    first = wire.decode_chunk(data[0])
    assert isinstance(first, t.ChatCompletionChunk)
    with pytest.raises(InternalServerError) as info:
        wire.decode_chunk(data[1])
    assert "Provider disconnected unexpectedly" in info.value.message
    assert info.value.body["code"] == "server_error"


def test_the_word_error_in_content_is_not_an_error() -> None:
    for content in ("error", '"error"', "an error occurred"):
        data = json.dumps({"choices": [{"index": 0, "delta": {"content": content}}]})
        chunk = wire.decode_chunk(data)
        assert isinstance(chunk, t.ChatCompletionChunk)
        assert chunk.choices[0].delta.content == content
    # A chunk that carries "error": null is an ordinary chunk.
    chunk = wire.decode_chunk('{"error": null, "choices": []}')
    assert isinstance(chunk, t.ChatCompletionChunk) and chunk.choices == []


@pytest.mark.parametrize(
    "data",
    ["{not json", '{"choices": "x"}', "[1]", '{"choices": [{"delta": {"tool_calls": 3}}]}'],
)
def test_chunk_that_does_not_decode(data: str) -> None:
    with pytest.raises(APIResponseValidationError) as info:
        wire.decode_chunk(data)
    assert info.value.body == data
    assert "ChatCompletionChunk" in info.value.message or "JSON" in info.value.message


def test_malformed_payload_mentioning_error() -> None:
    with pytest.raises(APIResponseValidationError):
        wire.decode_chunk('{"error": {"message": "cut')


def test_error_object_whose_fields_do_not_fit_a_chunk() -> None:
    data = '{"error": {"message": "boom", "type": "server_error"}, "created": "yesterday"}'
    with pytest.raises(InternalServerError, match="boom"):
        wire.decode_chunk(data)
    # An empty error object is no error.
    chunk = wire.decode_chunk('{"error": {}, "choices": [{"delta": {"content": "a"}}]}')
    assert isinstance(chunk, t.ChatCompletionChunk)
    assert chunk.choices[0].delta.content == "a"


@dataclass
class _SSE:
    data: str
    event: str = "message"


def test_decode_event() -> None:
    assert wire.decode_event(_SSE("[DONE]")) is wire.DONE
    chunk = wire.decode_event(_SSE('{"choices": [{"index": 0, "delta": {"content": "a"}}]}'))
    assert isinstance(chunk, t.ChatCompletionChunk)
    with pytest.raises(RateLimitError):
        wire.decode_event(_SSE('{"error": {"type": "rate_limit_error", "message": "x"}}', "error"))
    with pytest.raises(InternalServerError) as info:
        wire.decode_event(_SSE("upstream went away", "error"))
    assert "upstream went away" in info.value.message
    with pytest.raises(InternalServerError):
        wire.decode_event(_SSE("[1, 2]", "error"))


def test_every_stored_stream_decodes() -> None:
    names = sorted(p.name for p in PAYLOADS.glob("openai_stream_*.json"))
    assert len(names) >= 9
    for name in names:
        if "error" in name:
            continue
        items: list[Any] = [wire.decode_chunk(d) for d in stream_data(name)]
        assert items[-1] is wire.DONE, name
        assert all(isinstance(i, t.ChatCompletionChunk) for i in items[:-1]), name


def test_embedding_floats_from_base64() -> None:
    resp = wire.decode_embeddings((PAYLOADS / "openai_embeddings_base64.json").read_bytes())
    data = resp.data[0].embedding
    assert isinstance(data, str)
    assert wire.embedding_floats(data) == [1.0, 2.0, 3.0]
    packed = base64.b64encode(struct.pack("<3f", 0.5, -2.25, 1e-3)).decode()
    assert wire.embedding_floats(packed) == pytest.approx([0.5, -2.25, 1e-3])
    assert wire.embedding_floats("") == []
    with pytest.raises(APIResponseValidationError, match="base64"):
        wire.embedding_floats("not base64!")
    with pytest.raises(APIResponseValidationError, match="float32"):
        wire.embedding_floats(base64.b64encode(b"abcdef").decode())
