"""What MockServer answers: the deterministic reply to a request body, and embedding vectors.

Pure functions of the request (no IO, no clock), so tests can compute what the
server will say: :func:`plan_reply` gives the :class:`Reply` (text deltas, tool
calls, thinking, token counts) that each wire renderer turns into bytes.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from ._schema_sample import sample

__all__ = [
    "DEFAULT_TOKENS",
    "EMBEDDING_DIMENSIONS",
    "Reply",
    "ToolCall",
    "count_words",
    "embedding_array",
    "embedding_vector",
    "max_tokens_of",
    "plan_reply",
    "reply_text",
]

DEFAULT_TOKENS = 16
EMBEDDING_DIMENSIONS = 1536
REFUSAL = "I'm sorry, I can't help with that request."
FILLER = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua"
).split()

_encode = msgspec.json.Encoder().encode


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
        refusal: the refusal text instead of an answer (OpenAI APIs), or None.
    """

    pieces: tuple[str, ...]
    text: str
    tool_calls: tuple[ToolCall, ...]
    thinking: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: int
    truncated: bool
    refusal: str | None = None


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


def count_words(body: Mapping[str, Any], msgs: list[Any]) -> int:
    """The mock's token count of a request: words of the system prompt and every message."""
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
    args = sample(schema, text, n)
    return args if isinstance(args, dict) else {}


def _output_schema(body: Mapping[str, Any], api: str) -> Mapping[str, Any] | None:
    """The JSON schema the request asks the answer to fit (structured outputs), if any.

    Chat: ``response_format`` ``json_schema`` (``json_object``: any object);
    Responses: ``text.format``; Anthropic: ``output_config.format``.
    """
    fmt: Any = None
    if api == "chat":
        fmt = body.get("response_format")
        inner = fmt.get("json_schema") if isinstance(fmt, dict) else None
        if isinstance(inner, dict) and fmt.get("type") == "json_schema":
            schema = inner.get("schema")
            return schema if isinstance(schema, dict) else {"type": "object"}
    elif api == "responses":
        text = body.get("text")
        fmt = text.get("format") if isinstance(text, dict) else None
    else:
        config = body.get("output_config")
        fmt = config.get("format") if isinstance(config, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        return schema if isinstance(schema, dict) else {"type": "object"}
    if fmt.get("type") == "json_object":
        return {"type": "object", "properties": {"answer": {"type": "string"}}}
    return None


def _split(text: str, k: int) -> tuple[str, ...]:
    k = max(1, min(k, len(text)))
    size = len(text)
    return tuple(text[i * size // k : (i + 1) * size // k] for i in range(k))


def max_tokens_of(body: Mapping[str, Any], api: str) -> int | None:
    """The answer length cap the request sets for ``api`` (``None``: no cap)."""
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
    Arguments are a value fitting the tool's schema (``_schema_sample.sample``:
    strings are the answer text, integers the word count, numbers it as float,
    booleans ``true``, arrays ``[]``, objects every declared property, enums
    their first value).  A request for structured output (chat
    ``response_format`` json_schema / json_object, Responses ``text.format``,
    Anthropic ``output_config.format``) is answered with JSON fitting the schema
    (strings are the first three prompt words, integers the prompt's word
    count), split into ``tokens`` deltas; when the prompt contains the word
    "refuse", an OpenAI API refuses instead (``refusal``, no content).

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
    cap = max_tokens_of(body, api)
    if cap is not None and cap < n:
        n, truncated = cap, True
    pieces = [words[i % len(words)] if i == 0 else " " + words[i % len(words)] for i in range(n)]
    schema = _output_schema(body, api)
    refusal = None
    if schema is not None:
        if api != "messages" and "refuse" in prompt.lower().split():
            refusal, pieces = REFUSAL, []
        else:
            # The whole JSON value, split into `tokens` deltas; a cap keeps only the first
            # ones (a cut answer is cut JSON, as from a real model).
            answer = _encode(sample(schema, " ".join(words[:3]), len(words))).decode()
            pieces = list(_split(answer, tokens))[:n] if truncated else list(_split(answer, n))
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
        prompt_tokens=count_words(body, msgs),
        completion_tokens=completion,
        truncated=truncated,
        refusal=refusal,
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
    return list(embedding_array(text, dimensions))


def embedding_array(text: str, dimensions: int) -> array[float]:
    """:func:`embedding_vector` as a float32 array (cached; do not modify it)."""
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
