"""OpenAI Responses on the wire: the ``response`` object and its semantic event stream.

Events are ``event:``-named, numbered by ``sequence_number``, and end with
``response.completed`` (or ``response.incomplete`` when ``max_output_tokens``
cut the answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._planning import Reply
from ._render_common import encode, sse

__all__ = ["responses_body", "responses_frames"]


def _responses_usage(r: Reply) -> dict[str, Any]:
    return {
        "input_tokens": r.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": r.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": r.prompt_tokens + r.completion_tokens,
    }


def _responses_object(
    rid: str,
    created: int,
    model: str,
    body: Mapping[str, Any],
    status: str,
    output: list[Any],
    usage: Any,
) -> dict[str, Any]:
    return {
        "id": "resp_" + rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def _responses_output(rid: str, r: Reply) -> list[dict[str, Any]]:
    if r.tool_calls:
        return [
            {
                "type": "function_call",
                "id": f"fc_{rid}_{i}",
                "call_id": f"call_{rid}_{i}",
                "name": c.name,
                "arguments": c.arguments,
                "status": "completed",
            }
            for i, c in enumerate(r.tool_calls)
        ]
    return [
        {
            "type": "message",
            "id": "msg_" + rid,
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "refusal", "refusal": r.refusal}
                if r.refusal
                else {"type": "output_text", "text": r.text, "annotations": [], "logprobs": []}
            ],
        }
    ]


def responses_body(rid: str, created: int, model: str, r: Reply, body: Mapping[str, Any]) -> bytes:
    status = "incomplete" if r.truncated else "completed"
    obj = _responses_object(
        rid, created, model, body, status, _responses_output(rid, r), _responses_usage(r)
    )
    if r.truncated:
        obj["incomplete_details"] = {"reason": "max_output_tokens"}
    return encode(obj)


def responses_frames(
    rid: str, created: int, model: str, r: Reply, body: Mapping[str, Any]
) -> list[bytes]:
    frames: list[bytes] = []
    seq = 0

    def ev(kind: str, payload: dict[str, Any]) -> None:
        nonlocal seq
        frames.append(sse(kind, {"type": kind, "sequence_number": seq, **payload}))
        seq += 1

    ev(
        "response.created",
        {"response": _responses_object(rid, created, model, body, "in_progress", [], None)},
    )
    ev(
        "response.in_progress",
        {"response": _responses_object(rid, created, model, body, "in_progress", [], None)},
    )
    output = _responses_output(rid, r)
    for oi, item in enumerate(output):
        if item["type"] == "function_call":
            ev(
                "response.output_item.added",
                {"output_index": oi, "item": {**item, "arguments": "", "status": "in_progress"}},
            )
            for piece in r.tool_calls[oi].pieces:
                ev(
                    "response.function_call_arguments.delta",
                    {"item_id": item["id"], "output_index": oi, "delta": piece},
                )
            ev(
                "response.function_call_arguments.done",
                {"item_id": item["id"], "output_index": oi, "arguments": item["arguments"]},
            )
            ev("response.output_item.done", {"output_index": oi, "item": item})
            continue
        ev(
            "response.output_item.added",
            {"output_index": oi, "item": {**item, "status": "in_progress", "content": []}},
        )
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        ev(
            "response.content_part.added",
            {"item_id": item["id"], "output_index": oi, "content_index": 0, "part": part},
        )
        prefix = (
            b"event: response.output_text.delta\ndata: "
            b'{"type":"response.output_text.delta","sequence_number":'
        )
        mid = (
            b',"item_id":'
            + encode(item["id"])
            + b',"output_index":'
            + str(oi).encode()
            + b',"content_index":0,"delta":'
        )
        for piece in r.pieces:
            frames.append(prefix + str(seq).encode() + mid + encode(piece) + b',"logprobs":[]}\n\n')
            seq += 1
        ev(
            "response.output_text.done",
            {
                "item_id": item["id"],
                "output_index": oi,
                "content_index": 0,
                "text": r.text,
                "logprobs": [],
            },
        )
        ev(
            "response.content_part.done",
            {
                "item_id": item["id"],
                "output_index": oi,
                "content_index": 0,
                "part": item["content"][0],
            },
        )
        ev("response.output_item.done", {"output_index": oi, "item": item})
    final = "response.incomplete" if r.truncated else "response.completed"
    obj = _responses_object(
        rid,
        created,
        model,
        body,
        "incomplete" if r.truncated else "completed",
        output,
        _responses_usage(r),
    )
    if r.truncated:
        obj["incomplete_details"] = {"reason": "max_output_tokens"}
    ev(final, {"response": obj})
    return frames
