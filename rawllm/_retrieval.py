"""Lists and retrieval: ``models.list()`` / ``models.retrieve()`` on both clients; GET calls.

``list()`` returns an ``AsyncPaginator``: ``await`` it for the first page,
``async for`` over it for every item (following OpenAI's ``has_more`` /
``after`` or Anthropic's ``has_more`` / ``after_id``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import msgspec

from . import _formats, _resources
from ._config import NOT_GIVEN, NotGiven
from ._formats import WireFormat
from ._pagination import AsyncPaginator, next_after, next_after_id
from ._wire._common import invalid
from .types.openai import Model, ModelList

if TYPE_CHECKING:
    from ._client import BaseClient
    from .types.anthropic import ModelInfo, ModelInfoPage

__all__ = ["AsyncAnthropicModels", "AsyncModels", "get_call"]

TimeoutArg = _resources.TimeoutArg


def _decoder(tp: Any, what: str) -> Callable[[bytes], Any]:
    dec = msgspec.json.Decoder(tp)

    def decode(body: bytes) -> Any:
        try:
            return dec.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise invalid(what, body, exc) from exc

    return decode


_decode_model = _decoder(Model, "Model")


@functools.cache
def _anthropic_decoders() -> tuple[Callable[[bytes], Any], Callable[[bytes], Any]]:
    from .types.anthropic import ModelInfo, ModelInfoPage

    return _decoder(ModelInfo, "ModelInfo"), _decoder(ModelInfoPage, "ModelInfoPage")


async def get_call(
    client: BaseClient,
    path: str,
    decode: Callable[[bytes], Any],
    extra_headers: Mapping[str, str] | None,
    extra_query: Mapping[str, Any] | None,
    timeout: TimeoutArg,
    max_retries: Any,
) -> Any:
    fmt: WireFormat[Any, Any] = WireFormat(name=path, path=path, decode=decode, method="GET")
    return await client._request(
        fmt,
        None,
        extra_headers=extra_headers,
        extra_query=extra_query,
        timeout=timeout,
        max_retries=max_retries,
    )


# -- models --------------------------------------------------------------------------


class AsyncModels(_resources._Resource):
    """``client.models`` (OpenAI): ``list()`` and ``retrieve()``."""

    __slots__ = ()

    def list(
        self,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> AsyncPaginator[ModelList, Model]:
        """The models the server offers: ``async for`` them, or ``await`` the list.

        Example:
            >>> async for model in client.models.list():
            ...     print(model.id)
            >>> [m.id for m in (await client.models.list()).data]
        """
        client = self._client

        async def fetch(query: dict[str, Any]) -> ModelList:
            result: ModelList = await get_call(
                client,
                "/models",
                _formats.MODELS.decode,
                extra_headers,
                query or None,
                timeout,
                max_retries,
            )
            return result

        return AsyncPaginator(fetch, dict(extra_query or {}), next_after)

    async def retrieve(
        self,
        model: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> Model:
        """One model (``GET /models/{model}``); a ``NotFoundError`` for an unknown one.

        Example:
            >>> (await client.models.retrieve("gpt-4o")).owned_by
        """
        path = "/models/" + quote(model, safe="")
        result: Model = await get_call(
            self._client, path, _decode_model, extra_headers, extra_query, timeout, max_retries
        )
        return result


class AsyncAnthropicModels(_resources._Resource):
    """``client.models`` (Anthropic): paginated ``list()`` and ``retrieve()``."""

    __slots__ = ()

    def list(
        self,
        *,
        after_id: str | NotGiven = NOT_GIVEN,
        before_id: str | NotGiven = NOT_GIVEN,
        limit: int | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> AsyncPaginator[ModelInfoPage, ModelInfo]:
        """The available models, newest first: ``async for`` follows ``has_more``/``after_id``.

        Example:
            >>> async for model in client.models.list():
            ...     print(model.id, model.display_name)
            >>> page = await client.models.list(limit=5)     # one page: .data, .has_more
        """
        client = self._client
        _, decode_page = _anthropic_decoders()
        query: dict[str, Any] = dict(extra_query or {})
        for key, value in (("after_id", after_id), ("before_id", before_id), ("limit", limit)):
            if not isinstance(value, NotGiven) and value is not None:
                query[key] = value

        async def fetch(q: dict[str, Any]) -> ModelInfoPage:
            result: ModelInfoPage = await get_call(
                client, "/v1/models", decode_page, extra_headers, q or None, timeout, max_retries
            )
            return result

        return AsyncPaginator(fetch, query, next_after_id)

    async def retrieve(
        self,
        model_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> ModelInfo:
        """One model (an alias resolves to its dated id); ``NotFoundError`` when unknown.

        Example:
            >>> (await client.models.retrieve("claude-sonnet-4-5")).id
            'claude-sonnet-4-5-20250929'
        """
        decode, _ = _anthropic_decoders()
        path = "/v1/models/" + quote(model_id, safe="")
        result: ModelInfo = await get_call(
            self._client, path, decode, extra_headers, extra_query, timeout, max_retries
        )
        return result
