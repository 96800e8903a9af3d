"""ChatCompletionAccumulator: real-shaped streams folded into the final ChatCompletion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _stream_payloads import sse_body
from hypothesis import given
from hypothesis import strategies as st

from rawllm._accumulate import ChatCompletionAccumulator, chunk_text
from rawllm._formats import CHAT
from rawllm._reader import StreamReader
from rawllm._wire import openai as wire
from rawllm.types import openai as t

PAYLOADS = Path(__file__).parent / "payloads"


def chunks(name: str) -> list[t.ChatCompletionChunk]:
    """The chunks of a stored stream, as the stream layer hands them out (up to [DONE])."""
    reader = StreamReader(CHAT)
    out = reader.feed(sse_body(name))
    assert reader.eof() == [] and reader.done
    return out


def fold(items: list[t.ChatCompletionChunk]) -> t.ChatCompletion:
    acc = ChatCompletionAccumulator()
    for item in items:
        acc.add(item)
    return acc.result()


def chunk(**fields: Any) -> t.ChatCompletionChunk:
    """A chunk built from plain data, through the real decoder."""
    item = wire.decode_chunk(json.dumps(fields))
    assert isinstance(item, t.ChatCompletionChunk)
    return item


def calls_of(resp: t.ChatCompletion, index: int = 0) -> list[tuple[str | None, str, str, str]]:
    calls = resp.choices[index].message.tool_calls or []
    out = []
    for call in calls:
        assert call.function is not None
        out.append((call.id, call.type, call.function.name, call.function.arguments))
    return out


def test_openai_parallel_tool_calls_and_usage_chunk() -> None:
    resp = fold(chunks("openai_stream_tool_calls.json"))
    assert resp.id == "chatcmpl-BZeP5Hz4FjlcRbXCUWnIGnJtWmWAj"
    assert resp.model == "gpt-4o-2024-08-06"
    assert resp.object == "chat.completion"
    assert resp.created == 1747858387
    assert resp.service_tier == "default"
    assert resp.system_fingerprint == "fp_9bddfca6e2"
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.role == "assistant"
    assert choice.message.content is None and choice.message.refusal is None
    assert calls_of(resp) == [
        (
            "call_pTqeTsrfXKbUkpHuRkkyQg6j",
            "function",
            "get_weather",
            '{"location":"Paris, France \\"old town\\""}',
        ),
        (
            "call_0QSV1fAGoJtqZGpCMQmrbnkd",
            "function",
            "get_weather",
            '{"location": "Bogotá, Colombia"}',
        ),
    ]
    assert json.loads(calls_of(resp)[0][3]) == {"location": 'Paris, France "old town"'}
    usage = resp.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (80, 52, 132)
    assert usage.completion_tokens_details is not None
    assert choice.logprobs is None


def test_azure_empty_first_chunk_filter_results_and_delta_less_choice() -> None:
    resp = fold(chunks("openai_stream_azure.json"))
    # The first chunk's empty id/model/created do not stick.
    assert resp.id == "chatcmpl-BAjF0p9dC8b1eGHGHG4h8ZQVZ0tqd"
    assert resp.model == "gpt-4o-2024-11-20"
    assert resp.created == 1741887622
    assert resp.prompt_filter_results is not None
    assert resp.prompt_filter_results[0]["content_filter_results"]["jailbreak"]["detected"] is False
    choice = resp.choices[0]
    assert choice.message.content == "Azure streams too."
    assert choice.finish_reason == "stop"
    # The last filter verdict wins (the asynchronous-filter chunk).
    assert choice.content_filter_results is not None
    assert "protected_material_text" in choice.content_filter_results
    assert resp.usage is not None and resp.usage.total_tokens == 23


def test_vllm_reasoning_and_interleaved_tool_calls() -> None:
    resp = fold(chunks("openai_stream_vllm.json"))
    msg = resp.choices[0].message
    assert msg.reasoning_content == "The user wants weather for two cities."
    assert msg.content == ""
    assert calls_of(resp) == [
        ("chatcmpl-tool-6b0f2b8b1d2e4c1a", "function", "get_weather", '{"city": "Nice"}'),
        ("chatcmpl-tool-77a1c0e9f3b54d2e", "function", "get_weather", '{"city": "Lyon"}'),
    ]
    assert resp.choices[0].finish_reason == "tool_calls"
    assert resp.choices[0].stop_reason is None
    assert resp.usage is not None and resp.usage.completion_tokens == 61
    assert resp.system_fingerprint is None


def test_ollama_index_less_complete_calls_in_one_delta() -> None:
    resp = fold(chunks("openai_stream_ollama.json"))
    assert calls_of(resp) == [
        ("call_d7rxyx6v", "function", "get_current_weather", '{"location":"Paris"}'),
        ("call_qn3b1f0w", "function", "get_current_time", '{"timezone":"Europe/Paris"}'),
    ]
    assert resp.choices[0].message.content == ""
    assert resp.choices[0].finish_reason == "tool_calls"
    assert resp.usage is None
    assert resp.system_fingerprint == "fp_ollama"


def test_index_less_split_calls_continue_by_position() -> None:
    resp = fold(chunks("openai_stream_indexless.json"))
    assert calls_of(resp) == [
        ("call_1", "function", "search", '{"q": "rust async"}'),
        # The third delta repeats id and name: neither is doubled.
        ("call_2", "function", "search", '{"q": "tokio"}'),
    ]
    assert resp.usage is not None and resp.usage.total_tokens == 50


def test_deepseek_reasoning_then_content() -> None:
    resp = fold(chunks("openai_stream_deepseek.json"))
    msg = resp.choices[0].message
    assert msg.reasoning_content == "Okay, 9.11 vs 9.8."
    assert msg.content == "9.8 is larger."
    assert msg.reasoning is None
    usage = resp.usage
    assert usage is not None and usage.prompt_cache_miss_tokens == 17
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 80


def test_openrouter_reasoning_details_and_trailing_usage() -> None:
    resp = fold(chunks("openai_stream_openrouter.json"))
    choice = resp.choices[0]
    assert choice.message.reasoning == "**Weighing options**"
    assert choice.message.reasoning_details is not None
    # Pieces with the same index are one detail, as the non-streamed message shows it.
    assert choice.message.reasoning_details == [
        {"type": "reasoning.text", "text": "**Weighing options**", "format": "unknown", "index": 0}
    ]
    assert choice.message.content == "Tea wins."
    # A later chunk with finish_reason null does not erase the finish reason.
    assert choice.finish_reason == "stop"
    assert choice.native_finish_reason == "STOP"
    assert resp.usage is not None and resp.usage.cost == pytest.approx(0.000415)


def test_logprobs_concatenated() -> None:
    resp = fold(chunks("openai_stream_logprobs.json"))
    choice = resp.choices[0]
    assert choice.message.content == "Hi there!"
    assert choice.logprobs is not None and choice.logprobs.content is not None
    assert [lp.token for lp in choice.logprobs.content] == ["Hi", " there", "!"]
    assert choice.logprobs.content[1].logprob == pytest.approx(-0.25)
    assert [top.token for top in choice.logprobs.content[2].top_logprobs] == ["!", "x"]
    assert choice.logprobs.refusal is None


def test_refusal_and_refusal_logprobs() -> None:
    resp = fold(chunks("openai_stream_refusal.json"))
    choice = resp.choices[0]
    assert choice.message.refusal == "I'm sorry, I can't help with that."
    assert choice.message.content is None
    assert choice.logprobs is not None and choice.logprobs.content is None
    assert choice.logprobs.refusal is not None
    assert (
        "".join(lp.token for lp in choice.logprobs.refusal) == "I'm sorry, I can't help with that."
    )


def test_several_choices_in_index_order() -> None:
    resp = fold(chunks("openai_stream_n2.json"))
    assert [c.index for c in resp.choices] == [0, 1]
    assert [c.message.content for c in resp.choices] == ["Red", "Blue"]
    assert [c.finish_reason for c in resp.choices] == ["stop", "length"]


def test_reused_index_with_a_new_id_starts_a_new_call() -> None:
    def call(**fields: Any) -> t.ChatCompletionChunk:
        return chunk(choices=[{"index": 0, "delta": {"tool_calls": [fields]}}])

    resp = fold(
        [
            call(index=0, id="a", type="function", function={"name": "f", "arguments": "{}"}),
            call(index=0, id="b", type="function", function={"name": "g", "arguments": "{"}),
            call(index=0, function={"arguments": "}"}),
        ]
    )
    assert calls_of(resp) == [("a", "function", "f", "{}"), ("b", "function", "g", "{}")]


def test_index_given_after_id_only_first_piece() -> None:
    # The id may come in a later piece than the first one for the same index.
    resp = fold(
        [
            chunk(choices=[{"delta": {"tool_calls": [{"index": 0, "function": {"name": "f"}}]}}]),
            chunk(
                choices=[
                    {"delta": {"tool_calls": [{"index": 0, "id": "late", "type": "function"}]}}
                ]
            ),
            chunk(
                choices=[{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "[]"}}]}}]
            ),
        ]
    )
    assert calls_of(resp) == [("late", "function", "f", "[]")]


def test_name_split_in_pieces_is_joined() -> None:
    def piece(name: str) -> t.ChatCompletionChunk:
        return chunk(
            choices=[{"delta": {"tool_calls": [{"index": 0, "function": {"name": name}}]}}]
        )

    resp = fold([piece("get_"), piece("weather")])
    assert calls_of(resp) == [(None, "function", "get_weather", "")]


def test_legacy_function_call_and_audio() -> None:
    resp = fold(
        [
            chunk(
                choices=[
                    {
                        "delta": {
                            "role": "assistant",
                            "function_call": {"name": "f", "arguments": ""},
                        }
                    }
                ]
            ),
            chunk(choices=[{"delta": {"function_call": {"arguments": '{"a":'}}}]),
            chunk(choices=[{"delta": {"function_call": {"arguments": " 1}"}}}]),
            chunk(
                choices=[
                    {"delta": {"audio": {"id": "audio_1", "transcript": "He", "data": "AAAA"}}}
                ]
            ),
            chunk(choices=[{"delta": {"audio": {"transcript": "llo", "data": "BBBB"}}}]),
            chunk(
                choices=[{"delta": {"audio": {"expires_at": 1729018505}}, "finish_reason": "stop"}]
            ),
        ]
    )
    msg = resp.choices[0].message
    assert msg.function_call is not None
    assert (msg.function_call.name, msg.function_call.arguments) == ("f", '{"a": 1}')
    assert msg.audio is not None
    assert (msg.audio.id, msg.audio.data, msg.audio.transcript, msg.audio.expires_at) == (
        "audio_1",
        "AAAABBBB",
        "Hello",
        1729018505,
    )


def test_streamed_annotations_are_collected() -> None:
    ann = {"type": "url_citation", "url_citation": {"url": "https://a.example", "title": "A"}}
    resp = fold(
        [
            chunk(choices=[{"delta": {"content": "See A."}}]),
            chunk(choices=[{"delta": {"annotations": [ann]}, "finish_reason": "stop"}]),
        ]
    )
    anns = resp.choices[0].message.annotations
    assert anns is not None and anns[0].url_citation is not None
    assert anns[0].url_citation.url == "https://a.example"


def test_empty_stream_and_content_rules() -> None:
    empty = ChatCompletionAccumulator().result()
    assert empty.choices == [] and empty.model == "" and empty.usage is None
    # Content that only ever came as "" is "", content never sent is None.
    resp = fold([chunk(choices=[{"delta": {"role": "assistant", "content": ""}}])])
    assert resp.choices[0].message.content == ""
    resp = fold([chunk(choices=[{"delta": {"role": "assistant"}}])])
    assert resp.choices[0].message.content is None


def test_result_is_repeatable_and_does_not_consume() -> None:
    items = chunks("openai_stream_tool_calls.json")
    acc = ChatCompletionAccumulator()
    for item in items[:5]:
        acc.add(item)
    partial = acc.result()
    assert acc.result() == partial
    for item in items[5:]:
        acc.add(item)
    assert calls_of(acc.result()) == calls_of(fold(items))
    assert calls_of(partial)[0][3] == '{"location":"Par'


def test_result_matches_a_non_streamed_shape() -> None:
    # The folded result encodes to what a non-streamed body would carry.
    resp = fold(chunks("openai_stream_tool_calls.json"))
    body = resp.to_dict()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["tool_calls"][1]["function"]["name"] == "get_weather"
    again = wire.decode_chat_completion(wire.encode(body))
    assert again == resp


def test_chunk_text() -> None:
    texts = [chunk_text(c) for c in chunks("openai_stream_deepseek.json")]
    assert "".join(x for x in texts if x) == "9.8 is larger."
    assert texts[0] is None  # role-only chunk
    assert chunk_text(chunk(choices=[])) is None
    assert chunk_text(chunk(choices=[{"index": 0}])) is None
    assert chunk_text(chunk(choices=[{"delta": {"content": ""}}])) is None


def test_top_level_fields_keep_the_first_real_value() -> None:
    resp = fold(
        [
            chunk(id="", model="", created=0, choices=[]),
            chunk(id="c1", model="m1", created=5, system_fingerprint="fp1", choices=[]),
            chunk(id="", model="", created=0, choices=[{"delta": {"content": "x"}}]),
            chunk(id="c2", model="m2", created=6, system_fingerprint="fp2", service_tier="flex"),
        ]
    )
    assert (resp.id, resp.model, resp.created) == ("c1", "m1", 5)
    # The fingerprint and the tier are the last ones the server reported.
    assert (resp.system_fingerprint, resp.service_tier) == ("fp2", "flex")


def test_vllm_stop_reason_is_kept() -> None:
    resp = fold(
        [
            chunk(choices=[{"index": 0, "delta": {"content": "42"}}]),
            chunk(
                choices=[{"index": 0, "delta": {}, "finish_reason": "stop", "stop_reason": "###"}]
            ),
            chunk(
                choices=[{"index": 1, "delta": {}, "finish_reason": "stop", "stop_reason": 128009}]
            ),
        ]
    )
    assert [c.stop_reason for c in resp.choices] == ["###", 128009]


@given(
    calls=st.lists(
        st.tuples(st.text(min_size=1, max_size=12), st.text(max_size=40)), min_size=1, max_size=4
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=12),
    with_index=st.booleans(),
)
def test_any_split_of_arguments_gives_the_same_calls(
    calls: list[tuple[str, str]], cuts: list[int], with_index: bool
) -> None:
    items = []
    for i, (name, args) in enumerate(calls):
        head: dict[str, Any] = {"id": f"call_{i}", "type": "function", "function": {"name": name}}
        if with_index:
            head["index"] = i
        items.append(chunk(choices=[{"delta": {"tool_calls": [head]}}]))
        points = sorted({c for c in cuts if c < len(args)} | {0, len(args)})
        for a, b in zip(points, points[1:], strict=False):
            piece: dict[str, Any] = {"function": {"arguments": args[a:b]}}
            if with_index:
                piece["index"] = i
            items.append(chunk(choices=[{"delta": {"tool_calls": [piece]}}]))
    resp = fold(items)
    assert calls_of(resp) == [(f"call_{i}", "function", n, a) for i, (n, a) in enumerate(calls)]


def test_reasoning_details_pieces_merge_by_index_and_type() -> None:
    acc = ChatCompletionAccumulator()
    details = [
        [{"type": "reasoning.text", "text": "a", "index": 0}],
        [{"type": "reasoning.text", "text": "b", "index": 0, "signature": "sig"}],
        [{"type": "reasoning.encrypted", "data": "x", "index": 1}],
        [{"type": "reasoning.encrypted", "data": "y", "index": 1}, {"type": "other"}],
    ]
    for d in details:
        acc.add(
            t.ChatCompletionChunk(choices=[t.ChunkChoice(delta=t.ChoiceDelta(reasoning_details=d))])
        )
    assert acc.result().choices[0].message.reasoning_details == [
        {"type": "reasoning.text", "text": "ab", "index": 0, "signature": "sig"},
        {"type": "reasoning.encrypted", "data": "xy", "index": 1},
        {"type": "other"},
    ]
    assert details[0] == [{"type": "reasoning.text", "text": "a", "index": 0}]  # not mutated
