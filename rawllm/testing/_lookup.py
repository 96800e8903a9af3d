"""Routes MockServer resolves by pattern, and the answers that do not depend on a body.

- ``GET /v1/models/{id}``: one model (OpenAI shape, or Anthropic's with an
  ``anthropic-version`` header); an unknown id is a 404 as each provider words it.
- ``GET /v1/models`` for Anthropic: Claude model ids, newest first, paginated as
  the Models API is: ``limit`` (1-1000, default 20), ``after_id`` / ``before_id``,
  and ``has_more`` / ``first_id`` / ``last_id`` in the page.
- ``GET /v1/responses/{id}``: a response the server created earlier (kept, the
  last 256, when the request did not say ``store: false``).
- Azure OpenAI: ``/openai/deployments/{deployment}/chat/completions`` (and
  ``/embeddings``), ``/openai/models``, ``/openai/responses``
  and their ``/{id}`` forms, each needing an ``api-version`` query parameter
  (without it Azure answers 404 "Resource not found"), authenticated by an
  ``api-key`` header or an ``Authorization: Bearer`` token.

Pure functions of the path, the query and the server's state passed in.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from ._render_common import encode

__all__ = [
    "ANTHROPIC_MODELS",
    "OPENAI_MODELS",
    "STORED_RESPONSES",
    "anthropic_model",
    "anthropic_models_page",
    "answer",
    "openai_model",
    "resolve",
    "route",
    "store",
]

STORED_RESPONSES = 256

# (id, display name, created) newest first, as the Anthropic Models API lists them.
ANTHROPIC_MODELS = (
    ("claude-opus-4-5-20251101", "Claude Opus 4.5", 1761955200),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", 1759276800),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", 1759104000),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", 1754352000),
    ("claude-opus-4-20250514", "Claude Opus 4", 1747180800),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", 1747180800),
    ("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", 1739923200),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", 1729555200),
)
OPENAI_MODELS = (
    ("gpt-4o-mini", 1721172741),
    ("gpt-4o", 1715367049),
    ("text-embedding-3-small", 1705948997),
    ("claude-sonnet-4-5", 1759104000),
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
_EXACT = {
    ("POST", "/chat/completions"): "chat",
    ("POST", "/embeddings"): "embeddings",
    ("GET", "/models"): "models",
    ("POST", "/responses"): "responses",
}
_AZURE_DEPLOYMENT_APIS = frozenset({"chat", "embeddings"})


def route(
    method: str, path: str, headers: Mapping[str, str]
) -> tuple[str | None, str | None, bool, bool]:
    """``(api, id, azure, anthropic)`` of a request: which API, in which provider's dialect.

    ``/v1/models`` answers in Anthropic's format when ``anthropic-version`` is sent.

    Example:
        >>> route("POST", "/v1/messages", {})
        ('messages', None, False, True)
    """
    api = _ROUTES.get((method, path))
    item_id, azure = None, False
    if api is None:
        api, item_id, azure = resolve(method, path)
    anthropic = api in _ANTHROPIC_APIS or (
        api in ("models", "model") and "anthropic-version" in headers and not azure
    )
    return api, item_id, azure, anthropic


def resolve(method: str, path: str) -> tuple[str | None, str | None, bool]:
    """``(api, id, azure)`` for a path the exact route table does not hold.

    ``api`` is ``"model"`` / ``"response"`` for the ``/{id}`` forms (``id`` set),
    one of the exact APIs for an Azure path, or None when nothing matches.

    Example:
        >>> resolve("GET", "/v1/models/gpt-4o")
        ('model', 'gpt-4o', False)
        >>> resolve("POST", "/openai/deployments/gpt-4o/chat/completions")
        ('chat', None, True)
    """
    azure = False
    if path.startswith("/openai/"):
        azure = True
        rest = path[len("/openai") :]
        if rest.startswith("/deployments/"):
            parts = rest.split("/", 3)  # "", "deployments", name, rest
            if len(parts) < 4 or not parts[2]:
                return None, None, True
            api = _EXACT.get((method, "/" + parts[3]))
            return (api if api in _AZURE_DEPLOYMENT_APIS else None), None, True
        api = _EXACT.get((method, rest))
        if api is not None and api not in _AZURE_DEPLOYMENT_APIS:
            return api, None, True
        sub = rest
    elif path.startswith("/v1/"):
        sub = path[len("/v1") :]
    else:
        return None, None, False
    if method == "GET":
        for prefix, api in (("/models/", "model"), ("/responses/", "response")):
            if sub.startswith(prefix) and len(sub) > len(prefix) and "/" not in sub[len(prefix) :]:
                return api, sub[len(prefix) :], azure
    return None, None, azure


def _iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _anthropic_entry(m: tuple[str, str, int]) -> dict[str, Any]:
    return {"type": "model", "id": m[0], "display_name": m[1], "created_at": _iso(m[2])}


def openai_model(model_id: str) -> bytes | None:
    """The ``GET /v1/models/{id}`` body, or None for an unknown id."""
    for m, created in OPENAI_MODELS:
        if m == model_id:
            return encode({"id": m, "object": "model", "created": created, "owned_by": "system"})
    return None


def anthropic_model(model_id: str) -> bytes | None:
    """The Anthropic ``GET /v1/models/{id}`` body (an alias such as ``claude-sonnet-4-5``
    resolves to its dated id, as the API does), or None for an unknown id."""
    for m in ANTHROPIC_MODELS:
        if m[0] == model_id or m[0].rsplit("-", 1)[0] == model_id:
            return encode(_anthropic_entry(m))
    return None


def anthropic_models_page(query: Mapping[str, str]) -> bytes:
    """One page of the Anthropic models list.

    Raises:
        ValueError: a ``limit`` outside 1-1000, or an unknown cursor id.
    """
    raw = query.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise ValueError("limit: Input should be greater than or equal to 1 and at most 1000")
    limit = int(raw)
    ids = [m[0] for m in ANTHROPIC_MODELS]
    models = list(ANTHROPIC_MODELS)
    after, before = query.get("after_id"), query.get("before_id")
    if after is not None:
        if after not in ids:
            raise ValueError(f"after_id: unknown id {after!r}")
        chosen = models[ids.index(after) + 1 :]
        page, more = chosen[:limit], len(chosen) > limit
    elif before is not None:
        if before not in ids:
            raise ValueError(f"before_id: unknown id {before!r}")
        chosen = models[: ids.index(before)]
        page, more = chosen[-limit:], len(chosen) > limit
    else:
        page, more = models[:limit], len(models) > limit
    return encode(
        {
            "data": [_anthropic_entry(m) for m in page],
            "has_more": more,
            "first_id": page[0][0] if page else None,
            "last_id": page[-1][0] if page else None,
        }
    )


def store(stored: OrderedDict[str, bytes], response_id: str, body: bytes) -> None:
    """Keep a created response for ``GET /v1/responses/{id}`` (the last 256)."""
    stored[response_id] = body
    if len(stored) > STORED_RESPONSES:
        stored.popitem(last=False)


def answer(
    api: str,
    item_id: str | None,
    query: Mapping[str, str],
    anthropic: bool,
    stored: Mapping[str, bytes],
) -> tuple[int, bytes | str]:
    """``(200, body)``, or ``(status, error message)`` for a GET by id or a models page."""
    if api == "models":
        try:
            return 200, anthropic_models_page(query)
        except ValueError as exc:
            return 400, str(exc)
    if api == "model":
        model_id = item_id or ""
        if anthropic:
            found = anthropic_model(model_id)
            return (200, found) if found is not None else (404, f"model: {model_id}")
        found = openai_model(model_id)
        return (
            (200, found) if found is not None else (404, f"The model '{model_id}' does not exist")
        )
    body = stored.get(item_id or "")
    if body is None:
        return 404, f"No response found with id '{item_id}'."
    return 200, body
