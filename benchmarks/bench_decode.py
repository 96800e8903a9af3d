"""Body and chunk decoding: rawllm's one-pass typed decode against what the SDKs run.

Per item, in one process, on the same bytes:

* ``rawllm``: ``rawllm._wire.openai.decode_chat_completion`` / ``decode_chunk``
  and ``rawllm._wire.anthropic.decode_message`` / ``decode_event``: msgspec
  decodes the bytes straight into the public Structs.
* ``openai`` / ``anthropic``: what the SDK does by default for every body and
  every stream event: ``json.loads`` and then ``construct_type`` into its own
  pydantic types (``ChatCompletion``, ``ChatCompletionChunk``, ``Message``,
  ``RawMessageStreamEvent``), without validation (``_strict_response_validation``
  is off by default).
* ``... (validated)``: the same with ``model_validate`` / ``validate_type``,
  what the SDKs do with ``_strict_response_validation=True``.
* ``json.loads`` alone: dicts, no types, for reference.

Payloads: the chat stream of ``benchmarks.chat_stream`` (the SSE benchmark's
bytes), a chat completion body, an Anthropic message and an Anthropic stream of
the same 200 deltas.  Time is CPU (``time.process_time``), best of interleaved
rounds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from benchmarks.chat_stream import chat_stream

Case = Callable[[], object]


def _chat_body() -> bytes:
    words = " ".join(f"word{i}" for i in range(120))
    return json.dumps(
        {
            "id": "chatcmpl-AbCdEf0123456789",
            "object": "chat.completion",
            "created": 1732000000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": words,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 25,
                "completion_tokens": 120,
                "total_tokens": 145,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_0123456789",
        }
    ).encode()


def _message_body() -> bytes:
    words = " ".join(f"word{i}" for i in range(120))
    return json.dumps(
        {
            "id": "msg_01AbCdEf0123456789",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": words}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 25,
                "output_tokens": 120,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        }
    ).encode()


def _chat_events() -> list[str]:
    out = []
    for block in chat_stream().split(b"\n\n"):
        if block.startswith(b"data: ") and block != b"data: [DONE]":
            out.append(block[6:].decode())
    return out


def _anthropic_events() -> list[tuple[str, str]]:
    ev: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01AbCdEf0123456789",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-haiku-4-5",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 25, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for i in range(200):
        ev.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": f" tok{i}"},
                },
            )
        )
    ev += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 200},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return [(name, json.dumps(d, separators=(",", ":"))) for name, d in ev]


def cases() -> tuple[dict[str, dict[str, Case]], dict[str, int], dict[str, str]]:
    """payload -> contender -> zero-argument function decoding every item once."""
    chat_body, msg_body = _chat_body(), _message_body()
    chat_events, msg_events = _chat_events(), _anthropic_events()
    items = {
        "chat body": 1,
        "chat chunk": len(chat_events),
        "messages body": 1,
        "messages event": len(msg_events),
    }
    out: dict[str, dict[str, Case]] = {k: {} for k in items}
    skipped: dict[str, str] = {}
    loads = json.loads

    try:
        from rawllm._wire import anthropic as wa
        from rawllm._wire import openai as wo
        from rawllm.sse import ServerSentEvent

        sse = [ServerSentEvent(event=e, data=d) for e, d in msg_events]
        out["chat body"]["rawllm"] = lambda: wo.decode_chat_completion(chat_body)
        out["chat chunk"]["rawllm"] = lambda: [wo.decode_chunk(d) for d in chat_events]
        out["messages body"]["rawllm"] = lambda: wa.decode_message(msg_body)
        out["messages event"]["rawllm"] = lambda: [wa.decode_event(s) for s in sse]
    except ImportError as exc:
        skipped["rawllm"] = str(exc)

    try:
        from openai._models import construct_type as oc
        from openai._models import validate_type as ov
        from openai.types.chat import ChatCompletion, ChatCompletionChunk

        out["chat body"]["openai"] = lambda: oc(type_=ChatCompletion, value=loads(chat_body))
        out["chat chunk"]["openai"] = lambda: [
            oc(type_=ChatCompletionChunk, value=loads(d)) for d in chat_events
        ]
        out["chat body"]["openai (validated)"] = lambda: ov(
            type_=ChatCompletion, value=loads(chat_body)
        )
        out["chat chunk"]["openai (validated)"] = lambda: [
            ov(type_=ChatCompletionChunk, value=loads(d)) for d in chat_events
        ]
    except ImportError as exc:
        skipped["openai"] = str(exc)

    try:
        from anthropic._models import construct_type as ac
        from anthropic._models import validate_type as av
        from anthropic.types import Message, RawMessageStreamEvent

        out["messages body"]["anthropic"] = lambda: ac(type_=Message, value=loads(msg_body))
        out["messages event"]["anthropic"] = lambda: [
            ac(type_=RawMessageStreamEvent, value=loads(d)) for _, d in msg_events
        ]
        out["messages body"]["anthropic (validated)"] = lambda: av(
            type_=Message, value=loads(msg_body)
        )
        event_type: Any = RawMessageStreamEvent  # an Annotated union, not a class
        out["messages event"]["anthropic (validated)"] = lambda: [
            av(type_=event_type, value=loads(d)) for _, d in msg_events
        ]
    except ImportError as exc:
        skipped["anthropic"] = str(exc)

    out["chat body"]["json.loads"] = lambda: loads(chat_body)
    out["chat chunk"]["json.loads"] = lambda: [loads(d) for d in chat_events]
    out["messages body"]["json.loads"] = lambda: loads(msg_body)
    out["messages event"]["json.loads"] = lambda: [loads(d) for _, d in msg_events]
    return out, items, skipped


def _time(fn: Case, passes: int) -> float:
    start = time.process_time()
    for _ in range(passes):
        fn()
    return (time.process_time() - start) / passes


def run(quick: bool = False) -> dict[str, Any]:
    """Microseconds per decoded item for every payload and contender (best of rounds)."""
    table, items, skipped = cases()
    rounds = 3 if quick else 9
    budget = 0.02 if quick else 0.1
    results: dict[str, dict[str, dict[str, float]]] = {}
    for payload, fns in table.items():
        passes = {}
        for name, fn in fns.items():
            fn()  # warm caches (pydantic builds its validators lazily)
            passes[name] = max(1, int(budget / max(_time(fn, 1), 1e-9)))
        best = dict.fromkeys(fns, float("inf"))
        for _ in range(rounds):
            for name, fn in fns.items():
                best[name] = min(best[name], _time(fn, passes[name]))
        results[payload] = {
            name: {"us_per_item": s / items[payload] * 1e6} for name, s in best.items()
        }
        ours = results[payload].get("rawllm")
        for r in results[payload].values():
            if ours:
                r["vs_rawllm"] = r["us_per_item"] / ours["us_per_item"]
    return {"items": items, "results": results, "skipped": skipped}


if __name__ == "__main__":
    print(json.dumps(run(quick=True), indent=1))
