"""The OpenAI Structs: SDK attribute paths, provider extensions, tolerance, to_dict()."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

import rawllm.types as public_types
from rawllm.types import openai as t
from rawllm.types._base import Result, StreamItem, attach

PAYLOADS = Path(__file__).parent / "payloads"


def load(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def chat(name: str) -> t.ChatCompletion:
    return msgspec.json.decode(load(name), type=t.ChatCompletion)


# -- chat completions, provider by provider ------------------------------------------


def test_openai_tool_calls_usage_and_top_level_fields() -> None:
    resp = chat("openai_chat_completion.json")
    assert resp.id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert resp.object == "chat.completion"
    assert resp.created == 1741570283
    assert resp.model == "gpt-4o-2024-08-06"
    assert resp.service_tier == "default"
    assert resp.system_fingerprint == "fp_fc9f1d7035"
    choice = resp.choices[0]
    assert choice.index == 0 and choice.finish_reason == "tool_calls" and choice.logprobs is None
    msg = choice.message
    assert msg.role == "assistant" and msg.content is None and msg.refusal is None
    assert msg.annotations == []
    calls = msg.tool_calls
    assert calls is not None and len(calls) == 2
    assert calls[0].id == "call_Xo8rZ0cBHkUyCq4bfxu3hYbN"
    assert calls[0].type == "function"
    assert calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"location": "Paris, France"}
    assert calls[1].function is not None
    assert json.loads(calls[1].function.arguments) == {"location": "Bogotá, Colombia"}
    usage = resp.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (82, 51, 133)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 0
    assert usage.completion_tokens_details.rejected_prediction_tokens == 0
    assert usage.prompt_cache_hit_tokens is None


def test_logprobs_and_url_citation_annotations() -> None:
    resp = chat("openai_chat_completion_logprobs.json")
    choice = resp.choices[0]
    assert choice.message.content == "Hello!"
    ann = choice.message.annotations
    assert ann is not None and ann[0].type == "url_citation"
    assert ann[0].url_citation is not None
    assert ann[0].url_citation.url == "https://example.com/hello?utm_source=openai"
    assert (ann[0].url_citation.start_index, ann[0].url_citation.end_index) == (0, 6)
    assert ann[0].url_citation.title == "Greetings"
    lp = choice.logprobs
    assert lp is not None and lp.refusal is None and lp.content is not None
    first, second = lp.content
    assert first.token == "Hello" and first.logprob == pytest.approx(-0.31725305)
    assert first.bytes == [72, 101, 108, 108, 111]
    assert [top.token for top in first.top_logprobs] == ["Hello", "Hi"]
    # An integer logprob (0) is a float; "bytes": null is None.
    assert isinstance(second.logprob, float) and second.logprob == 0.0
    assert second.top_logprobs[0].bytes is None
    assert resp.system_fingerprint is None


def test_refusal() -> None:
    msg = chat("openai_chat_completion_refusal.json").choices[0].message
    assert msg.content is None
    assert msg.refusal == "I'm sorry, I can't assist with that request."


def test_azure_filter_results() -> None:
    resp = chat("openai_chat_completion_azure.json")
    assert resp.prompt_filter_results is not None
    prompt = resp.prompt_filter_results[0]
    assert prompt["prompt_index"] == 0
    assert prompt["content_filter_results"]["jailbreak"] == {"filtered": False, "detected": False}
    choice = resp.choices[0]
    assert choice.content_filter_results is not None
    assert choice.content_filter_results["hate"]["severity"] == "safe"
    assert choice.message.content == "Azure says hi."
    assert resp.usage is not None and resp.usage.total_tokens == 23


def test_vllm_reasoning_content_stop_reason_and_missing_fields() -> None:
    resp = chat("openai_chat_completion_vllm.json")
    msg = resp.choices[0].message
    assert msg.reasoning_content == "The user greets me. I should greet back."
    assert msg.content == "Hello! How can I help?"
    assert msg.tool_calls == []
    assert msg.reasoning is None
    assert resp.choices[0].stop_reason is None
    assert resp.system_fingerprint is None and resp.service_tier is None
    assert resp.usage is not None and resp.usage.prompt_tokens_details is None


def test_ollama_tool_call_with_extra_index_field() -> None:
    resp = chat("openai_chat_completion_ollama.json")
    msg = resp.choices[0].message
    assert msg.content == ""
    assert msg.tool_calls is not None
    call = msg.tool_calls[0]
    assert call.id == "call_r2m9k1xq" and call.function is not None
    assert call.function.name == "get_current_weather"
    assert json.loads(call.function.arguments) == {"format": "celsius", "location": "Paris"}
    assert resp.system_fingerprint == "fp_ollama"


def test_groq_body_without_created_object_fingerprint_logprobs() -> None:
    resp = chat("openai_chat_completion_groq.json")
    assert resp.created is None and resp.object is None and resp.system_fingerprint is None
    assert resp.choices[0].logprobs is None
    assert resp.choices[0].message.content == "Fast inference matters."
    assert resp.usage is not None and resp.usage.total_tokens == 22  # timing fields ignored


def test_deepseek_reasoning_and_cache_counters() -> None:
    resp = chat("openai_chat_completion_deepseek.json")
    msg = resp.choices[0].message
    assert msg.reasoning_content is not None and msg.reasoning_content.startswith("Compare 9.11")
    assert msg.content == "9.11 is smaller than 9.8."
    usage = resp.usage
    assert usage is not None
    assert (usage.prompt_cache_hit_tokens, usage.prompt_cache_miss_tokens) == (0, 17)
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 229


def test_openrouter_reasoning_details_and_cost() -> None:
    resp = chat("openai_chat_completion_openrouter.json")
    choice = resp.choices[0]
    assert choice.native_finish_reason == "end_turn"
    assert choice.message.reasoning == "Let me think about life, the universe and everything."
    assert choice.message.reasoning_details is not None
    assert choice.message.reasoning_details[0]["signature"] == "ErUBCkYIBRgCIkA"
    assert resp.usage is not None and resp.usage.cost == pytest.approx(0.00096)


# -- tolerance ---------------------------------------------------------------------------


def test_minimal_body_defaults() -> None:
    resp = msgspec.json.decode(
        b'{"model": "m", "choices": [{"message": {}}]}', type=t.ChatCompletion
    )
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.finish_reason is None
    assert choice.message.role == "assistant"
    for name in ("content", "refusal", "tool_calls", "reasoning_content", "reasoning", "audio"):
        assert getattr(choice.message, name) is None, name
    for name in ("id", "object", "created", "usage", "service_tier", "system_fingerprint"):
        assert getattr(resp, name) is None, name


def test_unknown_fields_everywhere_are_ignored() -> None:
    body = {
        "model": "m",
        "new_top": {"a": [1, {"b": None}]},
        "choices": [
            {
                "index": 0,
                "new_choice": 1,
                "finish_reason": "brand_new_reason",
                "message": {
                    "role": "assistant",
                    "content": "x",
                    "new_msg": [],
                    "tool_calls": [
                        {"id": "c", "type": "function", "x": 1, "function": {"name": "f", "y": 2}}
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 1, "new_usage": 3},
    }
    resp = msgspec.json.decode(json.dumps(body), type=t.ChatCompletion)
    assert resp.choices[0].finish_reason == "brand_new_reason"
    calls = resp.choices[0].message.tool_calls
    assert calls is not None and calls[0].function is not None
    assert calls[0].function.name == "f" and calls[0].function.arguments == ""
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (1, 0)


@pytest.mark.parametrize(
    "body",
    [
        b'{"choices": []}',  # no model
        b'{"model": "m"}',  # no choices
        b'{"model": "m", "choices": [{"index": 0}]}',  # a choice without message
        b'{"model": "m", "choices": "x"}',
        b'{"model": 5, "choices": []}',
    ],
)
def test_chat_completion_requires_what_it_cannot_live_without(body: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(body, type=t.ChatCompletion)


def test_custom_tool_call() -> None:
    body = b"""{"model": "m", "choices": [{"message": {"tool_calls": [
        {"id": "c1", "type": "custom", "custom": {"name": "grammar", "input": "x = 1"}}]}}]}"""
    call = msgspec.json.decode(body, type=t.ChatCompletion).choices[0].message.tool_calls
    assert call is not None
    assert call[0].type == "custom" and call[0].function is None
    assert call[0].custom is not None and call[0].custom.input == "x = 1"


def test_audio_message() -> None:
    body = b"""{"model": "m", "choices": [{"message": {"role": "assistant", "content": null,
        "audio": {"id": "audio_1", "data": "UklGRg==", "expires_at": 1729018505,
                  "transcript": "Hi"}}}]}"""
    audio = msgspec.json.decode(body, type=t.ChatCompletion).choices[0].message.audio
    assert audio is not None
    assert (audio.id, audio.data, audio.expires_at, audio.transcript) == (
        "audio_1",
        "UklGRg==",
        1729018505,
        "Hi",
    )


# -- chunks ----------------------------------------------------------------------------


def test_chunk_with_empty_choices_and_choice_without_delta() -> None:
    chunk = msgspec.json.decode(
        b'{"id": "", "model": "", "created": 0, "choices": [], "prompt_filter_results": []}',
        type=t.ChatCompletionChunk,
    )
    assert chunk.choices == [] and chunk.prompt_filter_results == []
    chunk = msgspec.json.decode(
        b'{"model": "m", "choices": [{"index": 0, "content_filter_results": {"a": 1}}]}',
        type=t.ChatCompletionChunk,
    )
    choice = chunk.choices[0]
    assert choice.delta.content is None and choice.delta.tool_calls is None
    assert choice.content_filter_results == {"a": 1}
    # The default delta is a fresh object per choice, never a shared one.
    other = msgspec.json.decode(b'{"choices": [{}]}', type=t.ChatCompletionChunk).choices[0]
    assert other.delta is not choice.delta


def test_chunk_tool_call_without_index() -> None:
    chunk = msgspec.json.decode(
        b'{"choices": [{"delta": {"tool_calls": [{"id": "c", "function": {"name": "f"}}]}}]}',
        type=t.ChatCompletionChunk,
    )
    calls = chunk.choices[0].delta.tool_calls
    assert calls is not None and calls[0].index is None and calls[0].id == "c"


def test_chunk_reasoning_fields() -> None:
    chunk = msgspec.json.decode(
        b'{"choices": [{"index": 0, "delta": {"reasoning_content": "a", "reasoning": "b"}}]}',
        type=t.ChatCompletionChunk,
    )
    delta = chunk.choices[0].delta
    assert (delta.reasoning_content, delta.reasoning) == ("a", "b")


# -- embeddings and models -------------------------------------------------------------


def test_embeddings_floats_base64_and_missing_usage() -> None:
    resp = msgspec.json.decode(load("openai_embeddings.json"), type=t.CreateEmbeddingResponse)
    assert [e.index for e in resp.data] == [0, 1]
    vec = resp.data[1].embedding
    assert isinstance(vec, list) and vec[2:] == [0.0, -1.0]
    assert all(isinstance(x, float) for x in vec)
    assert (
        resp.usage is not None
        and resp.usage.prompt_tokens == 8
        and resp.model == ("text-embedding-3-small")
    )
    b64 = msgspec.json.decode(load("openai_embeddings_base64.json"), type=t.CreateEmbeddingResponse)
    assert b64.data[0].embedding == "AACAPwAAAEAAAEBA"
    ollama = msgspec.json.decode(
        load("openai_embeddings_ollama.json"), type=t.CreateEmbeddingResponse
    )
    assert ollama.usage is None and len(ollama.data[0].embedding) == 3
    assert t.Usage is t.EmbeddingUsage


def test_models_openai_vllm_ollama() -> None:
    models = msgspec.json.decode(load("openai_models.json"), type=t.ModelList)
    assert [m.id for m in models] == ["gpt-4o-mini", "text-embedding-3-small"]
    assert models.data[0].owned_by == "system" and models.data[0].created == 1721172741
    vllm = msgspec.json.decode(load("openai_models_vllm.json"), type=t.ModelList)
    assert vllm.data[0].id == "Qwen/Qwen2.5-7B-Instruct" and vllm.data[0].owned_by == "vllm"
    ollama = msgspec.json.decode(load("openai_models_ollama.json"), type=t.ModelList)
    assert [m.owned_by for m in ollama.data] == ["library", "library"]
    bare = msgspec.json.decode(b'{"data": [{"id": "x"}]}', type=t.ModelList)
    assert bare.data[0].created is None and bare.object is None
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"data": [{"object": "model"}]}', type=t.ModelList)


# -- to_dict(), results, structure -------------------------------------------------------


def test_to_dict_returns_unknown_fields_after_attach() -> None:
    raw = load("openai_chat_completion.json")
    resp = chat("openai_chat_completion.json")
    attach(resp, raw, "req_123")
    assert resp._request_id == "req_123"
    full = resp.to_dict()
    assert full["x_future_field"] == {"nested": [1, 2, 3]}
    assert full == json.loads(raw)


def test_request_id_is_read_from_the_kept_headers_when_asked() -> None:
    """The call path keeps the answer's headers; the id is looked up on first read."""
    from multidict import CIMultiDict, CIMultiDictProxy

    for name, value in (("x-request-id", "req_abc"), ("Request-Id", "req_011x")):
        resp = chat("openai_chat_completion.json")
        resp.__dict__["_http"] = (200, CIMultiDictProxy(CIMultiDict({name: value})))
        assert resp._request_id == value
        assert resp.__dict__["_request_id"] == value  # read once, then kept
    resp = chat("openai_chat_completion.json")
    assert resp._request_id is None  # no headers kept, none attached
    resp.__dict__["_http"] = (200, CIMultiDictProxy(CIMultiDict({"x-request-id": "h"})))
    attach(resp, None, "attached")
    assert resp._request_id == "attached"  # an attached id wins


def test_to_dict_without_raw_and_nested_to_dict() -> None:
    resp = chat("openai_chat_completion_refusal.json")
    plain = resp.to_dict()
    assert plain["choices"][0]["message"]["refusal"].startswith("I'm sorry")
    assert "usage" in plain and "x_future_field" not in plain
    assert resp.choices[0].message.to_dict() == {
        "role": "assistant",
        "refusal": "I'm sorry, I can't assist with that request.",
    }


def test_top_level_results_derive_from_result_nested_are_untracked() -> None:
    for cls in (t.ChatCompletion, t.CreateEmbeddingResponse, t.ModelList):
        assert issubclass(cls, Result)
    # Stream chunks are created once per event: untracked, no __dict__.
    assert issubclass(t.ChatCompletionChunk, StreamItem)
    chunk = msgspec.json.decode(
        b'{"choices": [{"delta": {"content": "x"}}]}', type=t.ChatCompletionChunk
    )
    assert not gc.is_tracked(chunk)
    assert chunk._request_id is None
    resp = chat("openai_chat_completion.json")
    # gc=False on nested Structs: they never enter the cyclic collector.
    assert not gc.is_tracked(resp.choices[0])
    assert not gc.is_tracked(resp.choices[0].message)


def test_every_nested_struct_is_gc_false_and_tolerant() -> None:
    for name in t.__all__:
        cls = getattr(t, name)
        assert issubclass(cls, msgspec.Struct)
        config = cls.__struct_config__
        assert config.forbid_unknown_fields is False, name
        if not issubclass(cls, Result):
            assert config.gc is False, name


def test_public_reexports() -> None:
    assert public_types.__all__ == sorted(public_types.__all__)
    for name in t.__all__:
        assert getattr(public_types, name) is getattr(t, name)
        assert name in public_types.__all__


def test_message_encodes_back_without_none_fields() -> None:
    # A message from a response can go back into `messages` of the next request.
    msg = chat("openai_chat_completion.json").choices[0].message
    sent: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(msg))
    assert set(sent) == {"role", "tool_calls", "annotations"}
    assert sent["role"] == "assistant"
    assert sent["tool_calls"][0] == {
        "id": "call_Xo8rZ0cBHkUyCq4bfxu3hYbN",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"location":"Paris, France"}'},
    }
    # Fields the API requires are sent even when they hold the default.
    built = t.ChatCompletionMessage(
        tool_calls=[t.ChatCompletionMessageToolCall(id="c", function=t.Function(name="f"))],
        function_call=t.FunctionCall(),
    )
    assert msgspec.json.decode(msgspec.json.encode(built)) == {
        "role": "assistant",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}],
        "function_call": {"name": "", "arguments": ""},
    }
    custom = t.ChatCompletionMessageToolCall(id="c", custom=t.Custom(name="g", input="x"))
    assert custom.type == "custom"
