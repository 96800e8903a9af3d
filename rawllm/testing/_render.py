"""Render one answer for any API: validate the body, plan the reply, pick the wire renderer.

The rendered answer carries a mark where the response id goes, so MockServer
can cache it per request body (and second, for the ``created`` time) and stamp
each request's id with one ``bytes.join``.  Embeddings, ``count_tokens`` and the
model lists are rendered here; the three generating APIs by their own modules.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._lookup import ANTHROPIC_MODELS, anthropic_models_page
from ._planning import EMBEDDING_DIMENSIONS, count_words, embedding_array, max_tokens_of, plan_reply
from ._render_anthropic import messages_body, messages_frames
from ._render_chat import chat_body, chat_frames
from ._render_common import encode
from ._render_responses import responses_body, responses_frames

__all__ = [
    "ANTHROPIC_MODELS",
    "CACHE_ENTRIES",
    "CACHE_MAX_BODY",
    "OPENAI_MODELS",
    "BadRequest",
    "Rendered",
    "render",
    "unknown_model",
]

# The ids each provider's ``/v1/models`` lists (Anthropic's: ``_lookup.ANTHROPIC_MODELS``),
# and the only ones (or their undated aliases) ``MockServer(strict_models=True)`` accepts.
OPENAI_MODELS = (
    ("gpt-4o-mini", 1721172741),
    ("gpt-4o", 1715367049),
    ("gpt-4.1-mini", 1744318173),
    ("gpt-4.1", 1744316542),
    ("text-embedding-3-small", 1705948997),
    ("text-embedding-3-large", 1705953180),
)
_DATED = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")  # claude-...-20251001, gpt-4o-2024-08-06
_OPENAI_IDS = frozenset(m for m, _ in OPENAI_MODELS)
_ANTHROPIC_IDS = frozenset(_DATED.sub("", m) for m, *_ in ANTHROPIC_MODELS)

_OPENAI_MODELS = encode(
    {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": c, "owned_by": "system"}
            for m, c in OPENAI_MODELS
        ],
    }
)
_ANTHROPIC_MODELS = anthropic_models_page({})


def unknown_model(body: Any, anthropic: bool) -> str | None:
    """The request's ``model`` when this provider's list lacks it, else None.

    Example:
        >>> unknown_model({"model": "nope"}, anthropic=False)
        'nope'
        >>> unknown_model({"model": "claude-haiku-4-5-20251001"}, anthropic=True) is None
        True
    """
    model = body.get("model") if isinstance(body, dict) else None
    if not isinstance(model, str):
        return None  # a missing model is the renderer's 400, not a 404
    # Dated snapshots are served under their alias's name too (claude-haiku-4-5-20251001).
    alias = _DATED.sub("", model)
    return None if alias in (_ANTHROPIC_IDS if anthropic else _OPENAI_IDS) else model


# A mark rendered in place of the response id, so that a rendered answer can be cached
# per request body and stamped per request by one ``bytes.join`` (``bytes.replace``
# is ten times slower on a 200-chunk stream).  The creation time is rendered in;
# an entry older than the current second is rendered again.
_RID_MARK = "mockRIDmark7q"
_RID_MARK_B = _RID_MARK.encode()
CACHE_ENTRIES = 512
CACHE_MAX_BODY = 64 * 1024


@dataclass(slots=True)
class Rendered:
    parts: list[bytes]  # the JSON body, or every stream frame joined, split at the id mark
    frames: list[list[bytes]] | None  # each stream frame split at the id mark (None: no stream)
    cost: int  # tokens charged to the strict tokens budget
    created: int  # the creation time rendered in


def _rendered(body: bytes, frames: list[bytes] | None, cost: int, created: int) -> Rendered:
    split = None if frames is None else [f.split(_RID_MARK_B) for f in frames]
    return Rendered(body.split(_RID_MARK_B), split, cost, created)


class BadRequest(Exception):
    """The request body is not valid for its API (answered with ``status``)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def render(
    api: str, body: dict[str, Any], n_tokens: int, anthropic: bool, created: int, big_event: int
) -> Rendered:
    """Validate ``body`` and render the answer with the id mark.

    Raises:
        BadRequest: a required field is missing or has the wrong type.
    """
    model = body.get("model")
    model = model if isinstance(model, str) else "gpt-4o-mini"
    stream = body.get("stream") is True
    if api in ("chat", "responses", "messages"):
        if api == "chat" and not isinstance(body.get("messages"), list):
            raise BadRequest("Missing required parameter: 'messages'.")
        if api == "messages":
            if not isinstance(body.get("messages"), list):
                raise BadRequest("messages: Field required")
            if not isinstance(body.get("max_tokens"), int):
                raise BadRequest("max_tokens: Field required")
        if api == "responses" and "input" not in body:
            raise BadRequest("Missing required parameter: 'input'.")
        reply = plan_reply(body, api, tokens=n_tokens, big_event=big_event)
        cap = max_tokens_of(body, api)
        cost = reply.prompt_tokens + (cap if cap is not None else n_tokens)
        if stream:
            if api == "chat":
                frames = chat_frames(_RID_MARK, created, model, reply, body)
            elif api == "responses":
                frames = responses_frames(_RID_MARK, created, model, reply, body)
            else:
                frames = messages_frames(_RID_MARK, model, reply)
            return _rendered(b"".join(frames), frames, cost, created)
        if api == "chat":
            payload = chat_body(_RID_MARK, created, model, reply, body)
        elif api == "responses":
            payload = responses_body(_RID_MARK, created, model, reply, body)
        else:
            payload = messages_body(_RID_MARK, model, reply)
        return _rendered(payload, None, cost, created)
    if api == "embeddings":
        inputs = _embedding_inputs(body)
        cost = sum(len(t.split()) if isinstance(t, str) else len(t) for t in inputs)
        return _rendered(_embeddings_body(body, model, cost), None, cost, created)
    if api == "count_tokens":
        msgs = body.get("messages")
        if not isinstance(msgs, list):
            raise BadRequest("messages: Field required")
        payload = encode({"input_tokens": count_words(body, msgs)})
        return _rendered(payload, None, 0, created)
    return _rendered(_ANTHROPIC_MODELS if anthropic else _OPENAI_MODELS, None, 0, created)


def _embedding_inputs(body: Mapping[str, Any]) -> list[Any]:
    inp = body.get("input")
    if isinstance(inp, str):
        return [inp]
    if isinstance(inp, list) and inp:
        if all(isinstance(x, int) for x in inp):
            return [inp]
        if all(isinstance(x, str) or isinstance(x, list) for x in inp):
            return inp
    raise BadRequest("'input' must be a string, a list of strings, or token arrays.")


def _embeddings_body(body: Mapping[str, Any], model: str, tokens: int) -> bytes:
    dims = body.get("dimensions")
    dims = dims if isinstance(dims, int) and dims > 0 else EMBEDDING_DIMENSIONS
    b64 = body.get("encoding_format") == "base64"
    data = []
    for i, item in enumerate(_embedding_inputs(body)):
        text = item if isinstance(item, str) else " ".join(map(str, item))
        vec = embedding_array(text, dims)
        emb: Any = base64.b64encode(vec.tobytes()).decode() if b64 else vec.tolist()
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return encode(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )
