"""MockServer: an aiohttp.web server that speaks the OpenAI and Anthropic wire formats.

Shape of one request (``MockServer._handle``)::

    read + decode body -> record -> pick fault step -> latency -> fault
        -> strict budget -> plan the reply -> render bytes -> send

The reply is a pure function of the request (:func:`plan_reply`), so tests
can compute what the server will say.  Each answer is rendered
once per distinct request body (per second, for the ``created`` time) and
cached with a mark where the response id goes; a request then costs one
``bytes.join``, and the common case (no fault, no pacing) one write.

Wire formats followed: OpenAI Chat Completions (objects ``chat.completion``
and ``chat.completion.chunk``, ``data: [DONE]``), Embeddings, Models,
Responses (``event:``-named semantic events with ``sequence_number``, ended
by ``response.completed``), Anthropic Messages (``message_start`` ...
``message_stop``, ``ping``, ``event: error``) and ``count_tokens``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import math
import os
import signal
import socket
import struct
import sys
import threading
import time
from array import array
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web
from multidict import CIMultiDictProxy

from . import _faults
from ._faults import Bucket, FaultPlan, Step

__all__ = [
    "DEFAULT_TOKENS",
    "MockServer",
    "RecordedRequest",
    "Reply",
    "ToolCall",
    "embedding_vector",
    "plan_reply",
    "add_arguments",
    "reply_text",
    "run_cli",
    "serve",
]

DEFAULT_TOKENS = 16
EMBEDDING_DIMENSIONS = 1536
FILLER = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua"
).split()
MODELS = (
    ("gpt-4o-mini", 1721172741),
    ("gpt-4o", 1715367049),
    ("text-embedding-3-small", 1705948997),
    ("claude-sonnet-4-5", 1759104000),
)

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


# -- the deterministic reply ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the mock will make: the tool's name and its JSON arguments text."""

    name: str
    arguments: str
    pieces: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reply:
    """What the mock answers to one request (see :func:`plan_reply`).

    Attributes:
        pieces: the text deltas, in stream order (``"".join(pieces) == text``).
        text: the answer text (``""`` when an OpenAI API answers with tool calls).
        tool_calls: the tool calls, in order.
        thinking: pieces of the Anthropic thinking block (empty unless asked for).
        prompt_tokens: input token count (words of every text part of the request).
        completion_tokens: one per streamed delta (word, argument piece, thinking word).
        truncated: ``True`` when ``max_tokens`` cut the answer short.
    """

    pieces: tuple[str, ...]
    text: str
    tool_calls: tuple[ToolCall, ...]
    thinking: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: int
    truncated: bool


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        ]
        return " ".join(parts)
    return ""


def _messages(body: Mapping[str, Any], api: str) -> list[Any]:
    if api == "responses":
        inp = body.get("input")
        if isinstance(inp, str):
            return [{"role": "user", "content": inp}]
        return inp if isinstance(inp, list) else []
    msgs = body.get("messages")
    return msgs if isinstance(msgs, list) else []


def _count_words(body: Mapping[str, Any], msgs: list[Any]) -> int:
    total = len(_text_of(body.get("system")).split()) + len(
        _text_of(body.get("instructions")).split()
    )
    for m in msgs:
        if isinstance(m, dict):
            total += len(_text_of(m.get("content")).split())
    return total


def _tools(body: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    out: list[tuple[str, Mapping[str, Any]]] = []
    tools = body.get("tools")
    if not isinstance(tools, list):
        return out
    for t in tools:
        if not isinstance(t, dict):
            continue
        fn: dict[str, Any] = t["function"] if isinstance(t.get("function"), dict) else t
        name = fn.get("name")
        if isinstance(name, str):
            schema = fn.get("parameters", fn.get("input_schema")) or {}
            out.append((name, schema if isinstance(schema, dict) else {}))
    return out


def _tool_choice(body: Mapping[str, Any]) -> tuple[str, str | None]:
    choice = body.get("tool_choice")
    if isinstance(choice, str):
        return ("required" if choice == "any" else choice), None
    if isinstance(choice, dict):
        kind = choice.get("type")
        name = choice.get("name")
        if isinstance(choice.get("function"), dict):
            name = choice["function"].get("name")
        if kind in ("function", "tool") and isinstance(name, str):
            return "named", name
        if kind == "any":
            return "required", None
        if isinstance(kind, str):
            return kind, None
    return "auto", None


def _arguments(schema: Mapping[str, Any], text: str, n: int) -> dict[str, Any]:
    props = schema.get("properties")
    args: dict[str, Any] = {}
    if not isinstance(props, dict):
        return args
    for name, spec in props.items():
        spec = spec if isinstance(spec, dict) else {}
        kind = spec.get("type")
        if isinstance(spec.get("enum"), list) and spec["enum"]:
            args[name] = spec["enum"][0]
        elif kind == "integer":
            args[name] = n
        elif kind == "number":
            args[name] = float(n)
        elif kind == "boolean":
            args[name] = True
        elif kind == "array":
            args[name] = []
        elif kind == "object":
            args[name] = {}
        else:
            args[name] = text
    return args


def _split(text: str, k: int) -> tuple[str, ...]:
    k = max(1, min(k, len(text)))
    size = len(text)
    return tuple(text[i * size // k : (i + 1) * size // k] for i in range(k))


def _max_tokens(body: Mapping[str, Any], api: str) -> int | None:
    names = {
        "chat": ("max_completion_tokens", "max_tokens"),
        "responses": ("max_output_tokens",),
        "messages": ("max_tokens",),
    }[api]
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def plan_reply(
    body: Mapping[str, Any],
    api: str = "chat",
    *,
    tokens: int = DEFAULT_TOKENS,
    big_event: int = 0,
) -> Reply:
    """Compute exactly what MockServer answers to a request body.

    The rule: the answer repeats the words of the last user message (or a
    lorem-ipsum filler when it has none), cycled to ``tokens`` words, joined
    by single spaces; ``max_tokens`` (``max_completion_tokens``,
    ``max_output_tokens``) lower that count and then the finish reason says
    so.  Tools are called when ``tool_choice`` names one, when it is
    ``required``/``any`` (the tools named in the message, else the first
    tool), or, under ``auto``, when a tool's name appears in the message.
    Arguments fill each schema property: strings with the answer text,
    integers with the word count, numbers with it as float, booleans
    ``true``, arrays ``[]``, objects ``{}``, enums their first value.

    Args:
        body: the decoded JSON request body.
        api: ``"chat"``, ``"responses"`` or ``"messages"`` (Anthropic).
        tokens: the word count before ``max_tokens`` (the server's ``tokens``
            option or the ``x-mock-tokens`` request header).
        big_event: bytes of one extra text delta of ``"x"`` characters
            appended to the answer (the server's ``big_event`` option).

    Returns:
        The :class:`Reply`.

    Example:
        >>> plan_reply({"messages": [{"role": "user", "content": "hi there"}]}, tokens=3).text
        'hi there hi'
    """
    msgs = _messages(body, api)
    prompt = ""
    for m in reversed(msgs):
        if isinstance(m, dict) and m.get("role", "user") == "user":
            prompt = _text_of(m.get("content"))
            break
    words = prompt.split() or FILLER
    n = tokens
    truncated = False
    cap = _max_tokens(body, api)
    if cap is not None and cap < n:
        n, truncated = cap, True
    pieces = [words[i % len(words)] if i == 0 else " " + words[i % len(words)] for i in range(n)]
    if big_event > 0:
        pieces.append("x" * big_event)
    text = "".join(pieces)

    calls: list[ToolCall] = []
    tools = _tools(body)
    mode, named = _tool_choice(body)
    if tools and mode != "none":
        if mode == "named":
            chosen = [t for t in tools if t[0] == named]
        else:
            chosen = [t for t in tools if t[0] in prompt]
            if not chosen and mode == "required":
                chosen = tools[:1]
        for name, schema in chosen:
            args = _encode(_arguments(schema, text, n)).decode()
            calls.append(ToolCall(name, args, _split(args, n)))

    thinking: tuple[str, ...] = ()
    think = body.get("thinking")
    if (
        api == "messages"
        and isinstance(think, dict)
        and think.get("type") in ("enabled", "adaptive")
    ):
        t_words = f"The user wrote {len(prompt.split())} words, so I answer with {n}.".split()
        thinking = tuple(w if i == 0 else " " + w for i, w in enumerate(t_words))

    if calls and api != "messages":
        pieces, text = [], ""
    completion = len(pieces) + sum(len(c.pieces) for c in calls) + len(thinking)
    return Reply(
        pieces=tuple(pieces),
        text=text,
        tool_calls=tuple(calls),
        thinking=thinking,
        prompt_tokens=_count_words(body, msgs),
        completion_tokens=completion,
        truncated=truncated,
    )


def reply_text(
    body: Mapping[str, Any], api: str = "chat", *, tokens: int = DEFAULT_TOKENS, big_event: int = 0
) -> str:
    """The answer text MockServer sends for ``body`` (see :func:`plan_reply` for the rule).

    Example:
        >>> reply_text({"messages": [{"role": "user", "content": "a b"}]}, tokens=4)
        'a b a b'
    """
    return plan_reply(body, api, tokens=tokens, big_event=big_event).text


_vector_cache: dict[tuple[str, int], array[float]] = {}


def embedding_vector(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """The unit-length float32 vector MockServer returns for ``text``.

    Derived from a BLAKE2b hash of the text, so equal inputs give equal
    vectors and different inputs different ones.

    Example:
        >>> v = embedding_vector("hello", 8)
        >>> len(v), round(sum(x * x for x in v), 4)
        (8, 1.0)
    """
    return list(_vector(text, dimensions))


def _vector(text: str, dimensions: int) -> array[float]:
    key = (text, dimensions)
    cached = _vector_cache.get(key)
    if cached is not None:
        return cached
    seed = hashlib.blake2b(text.encode(), digest_size=8).digest()
    state = int.from_bytes(seed, "little") | 1
    raw = []
    for _ in range(dimensions):
        state = (state * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        raw.append(((state >> 33) / 2147483648.0) - 1.0)
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    vec = array("f", [x / norm for x in raw])
    if len(_vector_cache) > 4096:
        _vector_cache.clear()
    _vector_cache[key] = vec
    return vec


# -- recorded requests ---------------------------------------------------------


@dataclass(slots=True)
class RecordedRequest:
    """One request the server saw.

    Attributes:
        method: ``"POST"``, ``"GET"``.
        path: the URL path, e.g. ``"/v1/chat/completions"``.
        headers: the request headers (case-insensitive lookups).
        json: the decoded JSON body (``None`` for a GET or an undecodable body).
        time: arrival time, ``time.monotonic()`` seconds.
        body: the raw body bytes.
    """

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    json: Any
    time: float
    body: bytes = field(repr=False, default=b"")


# -- provider error bodies -----------------------------------------------------

_OPENAI_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "Invalid request.", None),
    401: ("invalid_request_error", "Incorrect API key provided.", "invalid_api_key"),
    403: ("invalid_request_error", "You are not allowed to sample from this model.", None),
    404: (
        "invalid_request_error",
        "The model does not exist or you do not have access to it.",
        "model_not_found",
    ),
    408: ("server_error", "Request timed out.", None),
    409: ("invalid_request_error", "Conflict: the request could not be completed.", None),
    413: ("invalid_request_error", "Request too large.", None),
    422: ("invalid_request_error", "Unprocessable entity.", None),
    429: (
        "requests",
        "Rate limit reached for requests per min (RPM). Please try again later.",
        "rate_limit_exceeded",
    ),
    500: (
        "server_error",
        "The server had an error while processing your request. Sorry about that!",
        None,
    ),
    502: ("server_error", "Bad gateway.", None),
    503: ("server_error", "The engine is currently overloaded, please try again later.", None),
    504: ("server_error", "Gateway timeout.", None),
}
_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "The requested resource could not be found."),
    408: ("timeout_error", "Request timed out."),
    409: ("invalid_request_error", "Conflict."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    422: ("invalid_request_error", "Unprocessable entity."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Gateway timeout"),
    529: ("overloaded_error", "Overloaded"),
}
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def error_body(anthropic: bool, status: int, message: str | None = None) -> bytes:
    """An error body in the provider's format for ``status``."""
    if anthropic:
        etype, default = _ANTHROPIC_ERRORS.get(
            status, ("api_error" if status >= 500 else "invalid_request_error", "Error")
        )
        return _encode({"type": "error", "error": {"type": etype, "message": message or default}})
    otype, odefault, code = _OPENAI_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", "Error", None)
    )
    return _encode(
        {"error": {"message": message or odefault, "type": otype, "param": None, "code": code}}
    )


def _stream_error(api: str, error_type: str | None, seq: int) -> bytes:
    if api == "messages":
        etype = error_type or "overloaded_error"
        msg = {t: m for t, m in _ANTHROPIC_ERRORS.values()}.get(etype, "Error")
        payload: dict[str, Any] = {"type": "error", "error": {"type": etype, "message": msg}}
        return b"event: error\ndata: " + _encode(payload) + b"\n\n"
    message = "The server had an error while processing your request. Sorry about that!"
    if api == "responses":
        payload = {
            "type": "error",
            "code": error_type or "server_error",
            "message": message,
            "param": None,
            "sequence_number": seq,
        }
        return b"event: error\ndata: " + _encode(payload) + b"\n\n"
    payload = {
        "error": {
            "message": message,
            "type": error_type or "server_error",
            "param": None,
            "code": None,
        }
    }
    return b"data: " + _encode(payload) + b"\n\n"


# -- rendering -----------------------------------------------------------------

_JSON = "application/json"
_SSE = "text/event-stream; charset=utf-8"
_DONE = b"data: [DONE]\n\n"
_KEEPALIVE = b": keep-alive\n\n"
_PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def _sse(event: str, obj: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + _encode(obj) + b"\n\n"


def _logprob(i: int, piece: str, top: int) -> dict[str, Any]:
    lp = -round(0.05 * (i % 7 + 1), 2)
    entry: dict[str, Any] = {"token": piece, "logprob": lp, "bytes": list(piece.encode())}
    entry["top_logprobs"] = [
        {
            "token": piece if j == 0 else f"alt{j}",
            "logprob": lp - j,
            "bytes": list((piece if j == 0 else f"alt{j}").encode()),
        }
        for j in range(top)
    ]
    return entry


def _logprob_opts(body: Mapping[str, Any]) -> int | None:
    if body.get("logprobs") is True:
        top = body.get("top_logprobs")
        return top if isinstance(top, int) and top > 0 else 0
    return None


def _chat_usage(r: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "total_tokens": r.prompt_tokens + r.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _anthropic_usage(r: Reply, output: int) -> dict[str, Any]:
    return {
        "input_tokens": r.prompt_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output,
        "service_tier": "standard",
    }


def _responses_usage(r: Reply) -> dict[str, Any]:
    return {
        "input_tokens": r.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": r.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": r.prompt_tokens + r.completion_tokens,
    }


def _chat_finish(r: Reply) -> str:
    return "tool_calls" if r.tool_calls else ("length" if r.truncated else "stop")


def _chat_body(rid: str, created: int, model: str, r: Reply, body: Mapping[str, Any]) -> bytes:
    n = body.get("n")
    n = n if isinstance(n, int) and n > 0 else 1
    top = _logprob_opts(body)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if r.tool_calls else r.text,
        "refusal": None,
        "annotations": [],
    }
    if r.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{rid}_{i}",
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for i, c in enumerate(r.tool_calls)
        ]
    logprobs = None
    if top is not None:
        logprobs = {
            "content": [_logprob(i, p, top) for i, p in enumerate(r.pieces)],
            "refusal": None,
        }
    finish = _chat_finish(r)
    return _encode(
        {
            "id": "chatcmpl-" + rid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": i, "message": message, "logprobs": logprobs, "finish_reason": finish}
                for i in range(n)
            ],
            "usage": _chat_usage(r),
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
        }
    )


def _chat_frames(
    rid: str, created: int, model: str, r: Reply, body: Mapping[str, Any]
) -> list[bytes]:
    n = body.get("n")
    n = n if isinstance(n, int) and n > 0 else 1
    opts = body.get("stream_options")
    usage = isinstance(opts, dict) and opts.get("include_usage") is True
    top = _logprob_opts(body)
    head = (
        b'data: {"id":"chatcmpl-'
        + rid.encode()
        + b'","object":"chat.completion.chunk","created":'
        + str(created).encode()
        + b',"model":'
        + _encode(model)
        + b',"service_tier":"default","system_fingerprint":"fp_mock","choices":['
    )
    tail = b'],"usage":null}\n\n' if usage else b"]}\n\n"
    frames: list[bytes] = []
    idx = [b'{"index":' + str(i).encode() + b',"delta":' for i in range(n)]
    first = b'{"role":"assistant","content":"","refusal":null}'
    if r.tool_calls:
        first = b'{"role":"assistant","content":null,"refusal":null}'
    for c in range(n):
        frames.append(head + idx[c] + first + b',"logprobs":null,"finish_reason":null}' + tail)
    for i, piece in enumerate(r.pieces):
        enc = _encode(piece)
        lp = (
            b"null"
            if top is None
            else _encode({"content": [_logprob(i, piece, top)], "refusal": None})
        )
        for c in range(n):
            frames.append(
                head
                + idx[c]
                + b'{"content":'
                + enc
                + b'},"logprobs":'
                + lp
                + b',"finish_reason":null}'
                + tail
            )
    for t, call in enumerate(r.tool_calls):
        start = _encode(
            {
                "index": t,
                "id": f"call_{rid}_{t}",
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
        )
        for c in range(n):
            frames.append(
                head
                + idx[c]
                + b'{"tool_calls":['
                + start
                + b']},"logprobs":null,"finish_reason":null}'
                + tail
            )
        for piece in call.pieces:
            delta = _encode({"index": t, "function": {"arguments": piece}})
            for c in range(n):
                frames.append(
                    head
                    + idx[c]
                    + b'{"tool_calls":['
                    + delta
                    + b']},"logprobs":null,"finish_reason":null}'
                    + tail
                )
    finish = _encode(_chat_finish(r))
    for c in range(n):
        frames.append(head + idx[c] + b'{},"logprobs":null,"finish_reason":' + finish + b"}" + tail)
    if usage:
        frames.append(head + b'],"usage":' + _encode(_chat_usage(r)) + b"}\n\n")
    frames.append(_DONE)
    return frames


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
            "content": [{"type": "output_text", "text": r.text, "annotations": [], "logprobs": []}],
        }
    ]


def _responses_body(rid: str, created: int, model: str, r: Reply, body: Mapping[str, Any]) -> bytes:
    status = "incomplete" if r.truncated else "completed"
    obj = _responses_object(
        rid, created, model, body, status, _responses_output(rid, r), _responses_usage(r)
    )
    if r.truncated:
        obj["incomplete_details"] = {"reason": "max_output_tokens"}
    return _encode(obj)


def _responses_frames(
    rid: str, created: int, model: str, r: Reply, body: Mapping[str, Any]
) -> list[bytes]:
    frames: list[bytes] = []
    seq = 0

    def ev(kind: str, payload: dict[str, Any]) -> None:
        nonlocal seq
        frames.append(_sse(kind, {"type": kind, "sequence_number": seq, **payload}))
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
            + _encode(item["id"])
            + b',"output_index":'
            + str(oi).encode()
            + b',"content_index":0,"delta":'
        )
        for piece in r.pieces:
            frames.append(
                prefix + str(seq).encode() + mid + _encode(piece) + b',"logprobs":[]}\n\n'
            )
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


def _signature(thinking: str) -> str:
    return base64.b64encode(hashlib.sha256(thinking.encode()).digest()).decode()


def _anthropic_stop(r: Reply) -> str:
    return "tool_use" if r.tool_calls else ("max_tokens" if r.truncated else "end_turn")


def _anthropic_content(rid: str, r: Reply) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    if r.thinking:
        t = "".join(r.thinking)
        content.append({"type": "thinking", "thinking": t, "signature": _signature(t)})
    content.append({"type": "text", "text": r.text})
    for i, c in enumerate(r.tool_calls):
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_01{rid}{i}",
                "name": c.name,
                "input": _decode(c.arguments),
            }
        )
    return content


def _messages_body(rid: str, model: str, r: Reply) -> bytes:
    return _encode(
        {
            "id": "msg_01" + rid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": _anthropic_content(rid, r),
            "stop_reason": _anthropic_stop(r),
            "stop_sequence": None,
            "usage": _anthropic_usage(r, r.completion_tokens),
        }
    )


def _messages_frames(rid: str, model: str, r: Reply) -> list[bytes]:
    frames = [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01" + rid,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": _anthropic_usage(r, 1),
                },
            },
        )
    ]
    index = 0
    delta_head = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'

    def block(
        start: dict[str, Any],
        kind: bytes,
        field_name: bytes,
        pieces: tuple[str, ...],
        extra: list[bytes] | None = None,
    ) -> None:
        nonlocal index
        frames.append(
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        if index == 0:
            frames.append(_PING)
        head = (
            delta_head
            + str(index).encode()
            + b',"delta":{"type":"'
            + kind
            + b'","'
            + field_name
            + b'":'
        )
        for piece in pieces:
            frames.append(head + _encode(piece) + b"}}\n\n")
        frames.extend(extra or ())
        frames.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1

    if r.thinking:
        sig = _encode(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "signature_delta", "signature": _signature("".join(r.thinking))},
            }
        )
        block(
            {"type": "thinking", "thinking": "", "signature": ""},
            b"thinking_delta",
            b"thinking",
            r.thinking,
            [b"event: content_block_delta\ndata: " + sig + b"\n\n"],
        )
    block({"type": "text", "text": ""}, b"text_delta", b"text", r.pieces)
    for i, c in enumerate(r.tool_calls):
        block(
            {"type": "tool_use", "id": f"toolu_01{rid}{i}", "name": c.name, "input": {}},
            b"input_json_delta",
            b"partial_json",
            c.pieces,
        )
    frames.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": _anthropic_stop(r), "stop_sequence": None},
                "usage": {"output_tokens": r.completion_tokens},
            },
        )
    )
    frames.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    return frames


_MALFORMED_JSON = b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"ind'
_BADSHAPE_JSON = {
    "chat": b'{"id": 42, "object": "chat.completion", "choices": "none", "usage": []}',
    "responses": b'{"id": 42, "object": "response", "output": "none", "status": 7}',
    "messages": b'{"id": 42, "type": "message", "content": "none", "usage": []}',
    "embeddings": b'{"object": "list", "data": "none", "usage": 3}',
    "models": b'{"object": "list", "data": 5}',
    "count_tokens": b'{"input_tokens": "many"}',
}


def _bad_frame(api: str, malformed: bool) -> bytes:
    if api == "chat":
        return b"data: " + (_MALFORMED_JSON if malformed else b'{"choices": 5}') + b"\n\n"
    event = b"content_block_delta" if api == "messages" else b"response.output_text.delta"
    data = (
        _MALFORMED_JSON
        if malformed
        else (
            b'{"type": "content_block_delta", "index": "zero", "delta": 7}'
            if api == "messages"
            else b'{"type": "response.output_text.delta", "delta": 7, "sequence_number": "x"}'
        )
    )
    return b"event: " + event + b"\ndata: " + data + b"\n\n"


_OPENAI_MODELS = _encode(
    {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": c, "owned_by": "system"} for m, c in MODELS
        ],
    }
)
_ANTHROPIC_MODELS = _encode(
    {
        "data": [
            {
                "type": "model",
                "id": m,
                "display_name": m,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c)),
            }
            for m, c in MODELS
        ],
        "has_more": False,
        "first_id": MODELS[0][0],
        "last_id": MODELS[-1][0],
    }
)

_ROUTES = {
    ("POST", "/v1/chat/completions"): "chat",
    ("POST", "/v1/embeddings"): "embeddings",
    ("GET", "/v1/models"): "models",
    ("POST", "/v1/responses"): "responses",
    ("POST", "/v1/messages"): "messages",
    ("POST", "/v1/messages/count_tokens"): "count_tokens",
}
_ANTHROPIC_APIS = frozenset({"messages", "count_tokens"})


def _int_header(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit():
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


# A mark rendered in place of the response id, so that a rendered answer can be cached
# per request body and stamped per request by one ``bytes.join`` (``bytes.replace``
# is ten times slower on a 200-chunk stream).  The creation time is rendered in;
# an entry older than the current second is rendered again.
_RID_MARK = "mockRIDmark7q"
_RID_MARK_B = _RID_MARK.encode()
_CACHE_ENTRIES = 512
_CACHE_MAX_BODY = 64 * 1024


@dataclass(slots=True)
class _Rendered:
    parts: list[bytes]  # the JSON body, or every stream frame joined, split at the id mark
    frames: list[list[bytes]] | None  # each stream frame split at the id mark (None: no stream)
    cost: int  # tokens charged to the strict tokens budget
    created: int  # the creation time rendered in


def _rendered(body: bytes, frames: list[bytes] | None, cost: int, created: int) -> _Rendered:
    split = None if frames is None else [f.split(_RID_MARK_B) for f in frames]
    return _Rendered(body.split(_RID_MARK_B), split, cost, created)


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# -- the server ----------------------------------------------------------------


class MockServer:
    """An OpenAI- and Anthropic-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

    Args:
        host: interface to bind (default ``127.0.0.1``).
        port: TCP port; ``0`` (default) picks a free one.
        latency: seconds to wait before sending the response headers.
        tokens: words per answer (one stream delta each) when the request
            sets no ``x-mock-tokens`` header; ``max_tokens`` lowers it.
        tokens_per_second: stream pacing; ``None`` sends every event at once.
        keepalive_every: send a ``: keep-alive`` comment after every N events (0: never).
        big_event: bytes of one extra text delta appended to every answer (0: none).
        faults: a fault script such as ``"429:retry-after=1,500,ok"`` (see docs/testing.md).
        rpm: strict-provider requests-per-minute budget (``None``: unlimited).
        tpm: strict-provider tokens-per-minute budget (``None``: unlimited).
        api_key: when set, requests without this key get a 401.
        record: keep every request in :attr:`requests` (turn off for long benchmarks).

    Raises:
        ValueError: ``faults`` is not a valid script.

    Example:
        >>> async def demo():
        ...     async with MockServer(faults="429,ok") as server:
        ...         ...  # point a client at server.openai_base_url
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        tokens: int = DEFAULT_TOKENS,
        tokens_per_second: float | None = None,
        keepalive_every: int = 0,
        big_event: int = 0,
        faults: str | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        api_key: str | None = None,
        record: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.latency = latency
        self.tokens = tokens
        self.tokens_per_second = tokens_per_second
        self.keepalive_every = keepalive_every
        self.big_event = big_event
        self.rpm = rpm
        self.tpm = tpm
        self.api_key = api_key
        self.record = record
        self._plan = FaultPlan(faults)
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.status_counts: Counter[int] = Counter()
        self.rate_limited = 0
        self._buckets: tuple[Bucket | None, Bucket | None] = (None, None)
        self._runner: web.ServerRunner | None = None
        self._sock: socket.socket | None = None
        self._closing: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._cache: dict[tuple[str, bool, int, bytes], _Rendered] = {}
        self._prefix = os.urandom(5).hex()
        self._counter = 0

    # -- lifecycle -------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (valid once started)."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """Base URL for OpenAI clients (``url + "/v1"``)."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for Anthropic clients (no ``/v1``, as the official SDK takes it)."""
        return self.url

    async def start(self) -> MockServer:
        """Bind the socket and start serving in the running loop.

        Returns:
            The server itself, with :attr:`port` set.
        """
        if self._runner is not None:
            raise RuntimeError("MockServer is already started")
        self._closing = asyncio.Event()
        now = time.monotonic()
        self._buckets = (
            Bucket(self.rpm, now) if self.rpm else None,
            Bucket(self.tpm, now) if self.tpm else None,
        )
        server = web.Server(self._handle, handler_cancellation=True, access_log=None)
        runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            site = web.SockSite(runner, sock, backlog=4096)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._sock, self._runner = sock, runner
        self.port = sock.getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop serving: end stalls, drop open connections, close every socket."""
        if self._runner is None:
            return
        assert self._closing is not None
        self._closing.set()
        runner, self._runner = self._runner, None
        await runner.cleanup()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> MockServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start_in_thread(self, timeout: float = 10.0) -> MockServer:
        """Run the server in a background thread with its own event loop.

        For synchronous code, or to keep the server off the loop under test.
        Returns once the port is bound; :meth:`stop_thread` ends it.

        Returns:
            The server itself.

        Example:
            >>> server = MockServer().start_in_thread()
            >>> server.stop_thread()
        """
        if self._thread is not None:
            raise RuntimeError("MockServer thread already running")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.close())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=main, name="rawllm-mock-server", daemon=True)
        thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("MockServer thread did not start in time")
        if failure:
            thread.join()
            raise failure[0]
        self._thread, self._thread_loop = thread, loop
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        """Stop a server started with :meth:`start_in_thread` and join its thread."""
        thread, loop = self._thread, self._thread_loop
        if thread is None or loop is None:
            return
        self._thread = self._thread_loop = None
        asyncio.run_coroutine_threadsafe(self.close(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    def __enter__(self) -> MockServer:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()

    # -- controls and observations --------------------------------------------

    def set_faults(self, script: str | None, key: str | None = None) -> None:
        """Replace the fault script (the global one, or the one for requests with ``x-mock-key``).

        Raises:
            ValueError: the script is not valid.
        """
        self._plan.set(script, key)

    def pending_faults(self, key: str | None = None) -> str:
        """The steps not consumed yet, as a script."""
        return _faults.join_steps(self._plan.pending(key))

    def reply_text(self, body: Mapping[str, Any], api: str = "chat") -> str:
        """The answer text this server sends for ``body`` (its ``tokens``/``big_event`` applied)."""
        return reply_text(body, api, tokens=self.tokens, big_event=self.big_event)

    def reset_stats(self) -> None:
        """Forget recorded requests and counters (in-flight requests are kept counting)."""
        self.requests.clear()
        self.status_counts.clear()
        self.rate_limited = 0
        self.peak_in_flight = self.in_flight

    # -- request handling -------------------------------------------------------

    def _next_id(self) -> str:
        self._counter += 1
        return f"{self._prefix}{self._counter:09x}"

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.in_flight += 1
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight
        try:
            return await self._respond(request)
        finally:
            self.in_flight -= 1

    async def _respond(self, request: web.BaseRequest) -> web.StreamResponse:
        arrived = time.monotonic()
        method, path = request.method, request.path
        api = _ROUTES.get((method, path))
        headers = request.headers
        anthropic = api in _ANTHROPIC_APIS or (api == "models" and "anthropic-version" in headers)
        raw = await request.read() if method == "POST" else b""
        body: Any = None
        if raw:
            try:
                body = _decode(raw)
            except msgspec.DecodeError:
                body = None
        if self.record:
            self.requests.append(RecordedRequest(method, path, headers, body, arrived, raw))
        rid = self._next_id()

        # -- fault step ---------------------------------------------------------
        script = headers.get("x-mock-faults")
        key = headers.get("x-mock-key")
        try:
            if script is not None:
                key = key or script
                self._plan.install(key, script)
            step = self._plan.next(key)
            latency = self.latency
            hdr_latency = headers.get("x-mock-latency")
            if hdr_latency is not None:
                latency = _faults._seconds(hdr_latency, "x-mock-latency")
            tokens = _int_header(headers.get("x-mock-tokens"), "x-mock-tokens")
        except ValueError as exc:
            return self._error(rid, anthropic, 400, f"MockServer: {exc}")
        if latency > 0:
            await asyncio.sleep(latency)
        kind = step.kind
        if kind != "ok":
            early = await self._early_fault(request, step, rid, anthropic)
            if early is not None:
                return early

        if api is None:
            return self._error(rid, anthropic, 404, f"Invalid URL ({method} {path})")
        if self.api_key is not None and not self._authorized(headers, anthropic):
            return self._error(rid, anthropic, 401)
        if method == "POST" and not isinstance(body, dict):
            msg = "We could not parse the JSON body of your request."
            return self._error(rid, anthropic, 400, msg)
        try:
            return await self._route(request, api, raw, body or {}, rid, step, anthropic, tokens)
        except _BadRequest as exc:
            return self._error(rid, anthropic, exc.status, exc.message)

    def _authorized(self, headers: CIMultiDictProxy[str], anthropic: bool) -> bool:
        if anthropic:
            return headers.get("x-api-key") == self.api_key
        return headers.get("authorization") == f"Bearer {self.api_key}"

    async def _early_fault(
        self, request: web.BaseRequest, step: Step, rid: str, anthropic: bool
    ) -> web.StreamResponse | None:
        kind = step.kind
        if kind == "status":
            extra = _faults.retry_headers(step, time.time())
            return self._error(rid, anthropic, step.status, extra=extra)
        if kind == "reset":
            return self._reset(request, hard=True)
        if kind == "html502":
            self.status_counts[502] += 1
            return web.Response(
                status=502, body=HTML_502, headers={"Content-Type": "text/html", "Server": "nginx"}
            )
        if kind == "stall":
            if await self._stall(step.seconds):
                return self._reset(request)
        return None

    async def _stall(self, seconds: float) -> bool:
        """Sleep ``seconds`` or until the server closes; return True if it closed."""
        assert self._closing is not None
        waiter = asyncio.ensure_future(self._closing.wait())
        try:
            done, _ = await asyncio.wait({waiter}, timeout=None if math.isinf(seconds) else seconds)
        finally:
            waiter.cancel()
        return bool(done)

    def _reset(self, request: web.BaseRequest, hard: bool = False) -> web.StreamResponse:
        """Drop the connection: ``hard`` sends a TCP RST, else a FIN after the bytes sent so far."""
        transport = request.transport
        if transport is not None:
            if hard:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    # SO_LINGER 0: close() sends RST, the client sees "connection reset".
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            else:
                # close() flushes what was written, so the client gets every byte up to the cut.
                transport.close()
        # aiohttp finds the transport gone when it writes this and drops it quietly.
        return web.Response(status=599)

    def _base_headers(self, rid: str, anthropic: bool, content_type: str) -> dict[str, str]:
        h = {"Content-Type": content_type}
        if anthropic:
            h["request-id"] = "req_011" + rid
        else:
            h["x-request-id"] = "req_" + rid
            h["openai-processing-ms"] = "1"
            h["openai-version"] = "2020-10-01"
        return h

    def _error(
        self,
        rid: str,
        anthropic: bool,
        status: int,
        message: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> web.Response:
        self.status_counts[status] += 1
        headers = self._base_headers(rid, anthropic, _JSON)
        if extra:
            headers.update(extra)
        return web.Response(
            status=status, body=error_body(anthropic, status, message), headers=headers
        )

    def _limits(self, anthropic: bool, cost: int) -> tuple[dict[str, str], float, str]:
        """Debit the strict budget; return (headers, retry wait or 0, which budget refused)."""
        req_b, tok_b = self._buckets
        now = time.monotonic()
        wait_r = req_b.wait_for(1, now) if req_b else 0.0
        wait_t = tok_b.wait_for(cost, now) if tok_b else 0.0
        wait = max(wait_r, wait_t)
        if wait == 0.0:
            if req_b:
                req_b.take(1)
            if tok_b:
                tok_b.take(cost)
        headers: dict[str, str] = {}
        wall = time.time()
        for name, b in (("requests", req_b), ("tokens", tok_b)):
            if b is None:
                continue
            if anthropic:
                headers[f"anthropic-ratelimit-{name}-limit"] = str(int(b.limit))
                headers[f"anthropic-ratelimit-{name}-remaining"] = str(b.remaining(now))
                headers[f"anthropic-ratelimit-{name}-reset"] = _faults.format_rfc3339(
                    wall + b.reset_in(now)
                )
            else:
                headers[f"x-ratelimit-limit-{name}"] = str(int(b.limit))
                headers[f"x-ratelimit-remaining-{name}"] = str(b.remaining(now))
                headers[f"x-ratelimit-reset-{name}"] = _faults.format_duration(b.reset_in(now))
        return headers, wait, ("requests" if wait_r >= wait_t else "tokens")

    def _rate_limited(
        self, rid: str, anthropic: bool, headers: dict[str, str], wait: float, which: str, cost: int
    ) -> web.Response:
        self.rate_limited += 1
        self.status_counts[429] += 1
        headers = {
            **self._base_headers(rid, anthropic, _JSON),
            **headers,
            "retry-after": str(max(1, math.ceil(wait))),
        }
        if not anthropic:
            headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
        bucket = self._buckets[0 if which == "requests" else 1]
        assert bucket is not None
        limit = int(bucket.limit)
        if anthropic:
            msg = (
                f"This request would exceed the rate limit for your organization of {limit} "
                f"{'requests' if which == 'requests' else 'tokens'} per minute. "
                "For details, refer to: https://docs.claude.com/en/api/rate-limits."
            )
        else:
            short = "requests per min (RPM)" if which == "requests" else "tokens per min (TPM)"
            msg = (
                f"Rate limit reached for default-model in organization org-mock on {short}: "
                f"Limit {limit}, Requested {1 if which == 'requests' else cost}. "
                f"Please try again in {_faults.format_duration(wait)}."
            )
        body = error_body(anthropic, 429, msg)
        if not anthropic and which == "tokens":
            body = body.replace(b'"type":"requests"', b'"type":"tokens"')
        return web.Response(status=429, body=body, headers=headers)

    def _render(
        self, api: str, body: dict[str, Any], n_tokens: int, anthropic: bool, created: int
    ) -> _Rendered:
        """Validate ``body`` and render the answer with the id mark (cached per request bytes)."""
        model = body.get("model")
        model = model if isinstance(model, str) else "gpt-4o-mini"
        stream = body.get("stream") is True
        if api in ("chat", "responses", "messages"):
            if api == "chat" and not isinstance(body.get("messages"), list):
                raise _BadRequest("Missing required parameter: 'messages'.")
            if api == "messages":
                if not isinstance(body.get("messages"), list):
                    raise _BadRequest("messages: Field required")
                if not isinstance(body.get("max_tokens"), int):
                    raise _BadRequest("max_tokens: Field required")
            if api == "responses" and "input" not in body:
                raise _BadRequest("Missing required parameter: 'input'.")
            reply = plan_reply(body, api, tokens=n_tokens, big_event=self.big_event)
            cap = _max_tokens(body, api)
            cost = reply.prompt_tokens + (cap if cap is not None else n_tokens)
            if stream:
                if api == "chat":
                    frames = _chat_frames(_RID_MARK, created, model, reply, body)
                elif api == "responses":
                    frames = _responses_frames(_RID_MARK, created, model, reply, body)
                else:
                    frames = _messages_frames(_RID_MARK, model, reply)
                return _rendered(b"".join(frames), frames, cost, created)
            if api == "chat":
                payload = _chat_body(_RID_MARK, created, model, reply, body)
            elif api == "responses":
                payload = _responses_body(_RID_MARK, created, model, reply, body)
            else:
                payload = _messages_body(_RID_MARK, model, reply)
            return _rendered(payload, None, cost, created)
        if api == "embeddings":
            inputs = self._embedding_inputs(body)
            cost = sum(len(t.split()) if isinstance(t, str) else len(t) for t in inputs)
            return _rendered(self._embeddings_body(body, model, cost), None, cost, created)
        if api == "count_tokens":
            msgs = body.get("messages")
            if not isinstance(msgs, list):
                raise _BadRequest("messages: Field required")
            payload = _encode({"input_tokens": _count_words(body, msgs)})
            return _rendered(payload, None, 0, created)
        return _rendered(_ANTHROPIC_MODELS if anthropic else _OPENAI_MODELS, None, 0, created)

    async def _route(
        self,
        request: web.BaseRequest,
        api: str,
        raw: bytes,
        body: dict[str, Any],
        rid: str,
        step: Step,
        anthropic: bool,
        tokens: int | None,
    ) -> web.StreamResponse:
        n_tokens = self.tokens if tokens is None else tokens
        cache_key = (api, anthropic, n_tokens, raw)
        entry = self._cache.get(cache_key)
        now = int(time.time())
        if entry is None or entry.created != now:
            entry = self._render(api, body, n_tokens, anthropic, now)
            if len(raw) <= _CACHE_MAX_BODY:
                if len(self._cache) >= _CACHE_ENTRIES:
                    self._cache.clear()
                self._cache[cache_key] = entry

        extra: dict[str, str] = {}
        if self._buckets != (None, None):
            extra, wait, which = self._limits(anthropic, entry.cost)
            if wait > 0.0:
                return self._rate_limited(rid, anthropic, extra, wait, which, entry.cost)

        rid_b = rid.encode()
        kind = step.kind
        if entry.frames is not None:
            if kind == "ok" and not self.tokens_per_second and not self.keepalive_every:
                # Fast path: one pre-rendered body, two byte replaces, one write.
                self.status_counts[200] += 1
                headers = self._base_headers(rid, anthropic, _SSE)
                headers["Cache-Control"] = "no-cache"
                if extra:
                    headers.update(extra)
                return web.Response(body=rid_b.join(entry.parts), headers=headers)
            frames = [rid_b.join(f) for f in entry.frames]
            return await self._send_stream(request, api, rid, anthropic, frames, step, extra)

        if kind == "error@":
            return self._error(rid, anthropic, 529 if anthropic else 500)
        if kind == "malformed":
            payload = _MALFORMED_JSON
        elif kind == "badshape":
            payload = _BADSHAPE_JSON[api]
        else:
            payload = rid_b.join(entry.parts)
        headers = self._base_headers(rid, anthropic, _JSON)
        if extra:
            headers.update(extra)
        self.status_counts[200] += 1
        if kind in ("reset-after-headers", "cut@", "stall@"):
            return await self._send_broken(request, kind, step, payload, headers)
        return web.Response(body=payload, headers=headers)

    def _embedding_inputs(self, body: Mapping[str, Any]) -> list[Any]:
        inp = body.get("input")
        if isinstance(inp, str):
            return [inp]
        if isinstance(inp, list) and inp:
            if all(isinstance(x, int) for x in inp):
                return [inp]
            if all(isinstance(x, str) or isinstance(x, list) for x in inp):
                return inp
        raise _BadRequest("'input' must be a string, a list of strings, or token arrays.")

    def _embeddings_body(self, body: Mapping[str, Any], model: str, tokens: int) -> bytes:
        dims = body.get("dimensions")
        dims = dims if isinstance(dims, int) and dims > 0 else EMBEDDING_DIMENSIONS
        b64 = body.get("encoding_format") == "base64"
        data = []
        for i, item in enumerate(self._embedding_inputs(body)):
            text = item if isinstance(item, str) else " ".join(map(str, item))
            vec = _vector(text, dims)
            emb: Any = base64.b64encode(vec.tobytes()).decode() if b64 else vec.tolist()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        return _encode(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _send_broken(
        self,
        request: web.BaseRequest,
        kind: str,
        step: Step,
        payload: bytes,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        """A non-streaming body that goes wrong after the headers."""
        resp = web.StreamResponse(headers=headers)
        resp.content_length = len(payload)
        await resp.prepare(request)
        if kind == "reset-after-headers":
            await resp.write(b"")  # flushes the buffered headers (drain() is deprecated)
            return self._reset(request)
        if kind == "cut@":
            await resp.write(payload[: step.events])
            await resp.write(b"")  # flushes the buffered headers (drain() is deprecated)
            return self._reset(request)
        if await self._stall(step.seconds):  # stall@: headers now, body later
            return self._reset(request)
        await resp.write(payload)
        await resp.write_eof()
        return resp

    async def _send_stream(
        self,
        request: web.BaseRequest,
        api: str,
        rid: str,
        anthropic: bool,
        frames: list[bytes],
        step: Step,
        extra: dict[str, str],
    ) -> web.StreamResponse:
        headers = self._base_headers(rid, anthropic, _SSE)
        headers["Cache-Control"] = "no-cache"
        if extra:
            headers.update(extra)
        kind = step.kind
        if kind == "malformed" or kind == "badshape":
            frames[0] = _bad_frame(api, kind == "malformed")
        self.status_counts[200] += 1
        tps, every = self.tokens_per_second, self.keepalive_every
        if kind in ("ok", "malformed", "badshape") and not tps and not every:
            # Fast path: one body, one write.
            return web.Response(body=b"".join(frames), headers=headers)

        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        if kind == "reset-after-headers":
            await resp.write(b"")  # flushes the buffered headers (drain() is deprecated)
            return self._reset(request)
        # N past the end still fails before the terminator (the last frame).
        stop_at = min(step.events, len(frames) - 1) if kind in ("cut@", "error@", "stall@") else -1
        delay = 1.0 / tps if tps else 0.0
        for i, frame in enumerate(frames):
            if i == stop_at:
                if kind == "cut@":
                    await resp.write(b"")  # flushes the buffered headers (drain() is deprecated)
                    return self._reset(request)
                if kind == "error@":
                    await resp.write(_stream_error(api, step.error_type, i))
                    await resp.write_eof()
                    return resp
                if await self._stall(step.seconds):
                    return self._reset(request)
            if every and i and i % every == 0:
                await resp.write(_KEEPALIVE)
            if delay and i:
                await asyncio.sleep(delay)
            await resp.write(frame)
        await resp.write_eof()
        return resp


# -- command line --------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add MockServer's options to ``parser`` (for ``rawllm mock``).

    Example:
        >>> p = argparse.ArgumentParser(); add_arguments(p)
        >>> p.parse_args(["--port", "0"]).port
        0
    """
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port, 0 picks one (default 8000)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before headers")
    parser.add_argument(
        "--tokens",
        "--chunks",
        dest="tokens",
        type=int,
        default=DEFAULT_TOKENS,
        help="words per answer, one stream delta each (default 16)",
    )
    parser.add_argument(
        "--tokens-per-second", type=float, default=None, help="stream pacing (default: no pause)"
    )
    parser.add_argument(
        "--keepalive-every", type=int, default=0, help="keep-alive comment every N events"
    )
    parser.add_argument(
        "--big-event", type=int, default=0, help="bytes of one extra text delta per answer"
    )
    parser.add_argument("--faults", default=None, help='fault script, e.g. "429,500,ok"')
    parser.add_argument("--rpm", type=float, default=None, help="strict requests per minute")
    parser.add_argument("--tpm", type=float, default=None, help="strict tokens per minute")
    parser.add_argument("--api-key", default=None, help="require this API key (401 otherwise)")
    parser.add_argument(
        "--record", action="store_true", help="keep every request in memory (off by default)"
    )


async def _serve(args: argparse.Namespace) -> None:
    server = MockServer(
        host=args.host,
        port=args.port,
        latency=args.latency,
        tokens=args.tokens,
        tokens_per_second=args.tokens_per_second,
        keepalive_every=args.keepalive_every,
        big_event=args.big_event,
        faults=args.faults,
        rpm=args.rpm,
        tpm=args.tpm,
        api_key=args.api_key,
        record=args.record,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            pass
    async with server:
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        await stop.wait()


def serve(args: argparse.Namespace) -> int:
    """Run MockServer with parsed ``args`` until SIGINT/SIGTERM; return the exit code."""
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    return 0


def run_cli(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and serve; return the exit code.

    Example:
        >>> run_cli(["--port", "8000", "--faults", "429,ok"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(
        prog="python -m rawllm.testing", description="Serve rawllm's mock LLM provider."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        _faults.parse_script(args.faults)
    except ValueError as exc:
        parser.error(str(exc))
    return serve(args)
