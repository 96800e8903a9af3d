"""The Batch API namespaces: OpenAI ``files`` and ``batches``, Anthropic ``messages.batches``.

Paths, parameters and shapes follow the official OpenAPI spec and the
Anthropic Message Batches reference.  JSON calls go through the client's
attempt loop like every other call (rate limit, retries, timeouts); file
uploads send a multipart/form-data body; file contents and batch results are
streamed (``BinaryStream``), never loaded whole, and a download is retried
only until its first body byte, as streams are.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from yarl import URL

from ._binary import BinaryStream, JSONLStream, open_binary
from ._config import NOT_GIVEN, NotGiven, Timeout
from ._exceptions import APIError
from ._formats import WireFormat
from ._multipart import FilePart, encode_multipart
from ._pagination import AsyncPaginator, next_cursor
from ._raw_response import RawResponses
from ._wire._common import invalid
from .types._base import Result
from .types.batches import (
    Batch,
    BatchList,
    DeletedMessageBatch,
    FileDeleted,
    FileList,
    FileObject,
    MessageBatch,
    MessageBatchIndividualResponse,
    MessageBatchList,
)

if TYPE_CHECKING:
    from ._client import BaseClient

__all__ = ["AsyncBatches", "AsyncFiles", "AsyncMessageBatches"]

TimeoutArg = Timeout | float | None | NotGiven
R = TypeVar("R", bound=Result)

_json = msgspec.json.encode


def _decoder(typ: type[R]) -> Callable[[bytes], R]:
    dec = msgspec.json.Decoder(typ)
    what = typ.__name__

    def decode(body: bytes) -> R:
        try:
            return dec.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise invalid(what, body, exc) from exc

    return decode


_file = _decoder(FileObject)
_file_list = _decoder(FileList)
_file_deleted = _decoder(FileDeleted)
_batch = _decoder(Batch)
_batch_list = _decoder(BatchList)
_message_batch = _decoder(MessageBatch)
_message_batch_list = _decoder(MessageBatchList)
_message_batch_deleted = _decoder(DeletedMessageBatch)
_result_line = msgspec.json.Decoder(MessageBatchIndividualResponse)


def _query(**params: Any) -> dict[str, Any] | None:
    out = {k: v for k, v in params.items() if v is not None and v is not NOT_GIVEN}
    return out or None


def _merge(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not a and not b:
        return None
    return {**(a or {}), **(b or {})}


def _body(params: Mapping[str, Any], extra_body: Mapping[str, Any] | None) -> bytes:
    body = {k: v for k, v in params.items() if v is not None and v is not NOT_GIVEN}
    if extra_body:
        body.update(extra_body)
    out: bytes = _json(body)
    return out


# -- pagination: one AsyncPaginator, the Batch API lists' cursor rule --------------------

_after = next_cursor("after")
_after_id = next_cursor("after_id")


# -- OpenAI ------------------------------------------------------------------------------


class _Base(RawResponses):  # with_raw_response / with_streaming_response
    __slots__ = ("_client",)

    def __init__(self, client: BaseClient) -> None:
        self._client = client

    def _call(
        self,
        method: str,
        path: str,
        body: bytes | None,
        decode: Callable[[bytes], R],
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Awaitable[R]:
        # One format per call: the path carries the id (a frozen dataclass, cheap
        # next to a management call's round trip).
        fmt: WireFormat[R, Any] = WireFormat(
            name=f"{method} {path}", path=path, decode=decode, method=method
        )
        result: Awaitable[R] = self._client._request(
            fmt,
            body,
            extra_headers=extra_headers,
            extra_query=extra_query,
            timeout=timeout,
        )
        return result


def _file_part(file: Any) -> FilePart:
    """``file=`` as the official SDK takes it: a path, bytes, a binary file, or (name, bytes)."""
    if isinstance(file, tuple):
        name, content = file[0], file[1]
        ctype = file[2] if len(file) > 2 else "application/octet-stream"
        data = content if isinstance(content, bytes) else content.read()
        return FilePart("file", str(name), bytes(data), ctype)
    if isinstance(file, (bytes, bytearray, memoryview)):
        return FilePart("file", "upload.jsonl", bytes(file))
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        return FilePart("file", path.name, path.read_bytes())
    read = getattr(file, "read", None)
    if callable(read):
        data = read()
        name = os.path.basename(str(getattr(file, "name", "upload.jsonl")))
        return FilePart("file", name, data if isinstance(data, bytes) else data.encode())
    raise TypeError(f"file= must be a path, bytes, a binary file or (name, bytes), not {file!r}")


class AsyncFiles(_Base):
    """``client.files`` (OpenAI)."""

    __slots__ = ()

    async def create(
        self,
        *,
        file: Any,
        purpose: str,
        expires_after: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> FileObject:
        """Upload a file (multipart/form-data).

        Args:
            file: a path, bytes, a binary file object, or ``(filename, bytes[, content_type])``.
            purpose: ``"batch"`` for Batch API input files.
            expires_after: ``{"anchor": "created_at", "seconds": N}``.

        Example:
            >>> f = await client.files.create(file="requests.jsonl", purpose="batch")
        """
        fields = [("purpose", purpose)]
        if expires_after:
            fields += [(f"expires_after[{k}]", str(v)) for k, v in expires_after.items()]
        body, ctype = encode_multipart(
            fields, [_file_part(file)], boundary="rawllm-" + os.urandom(16).hex()
        )
        headers = {"Content-Type": ctype, **(extra_headers or {})}
        return await self._call(
            "POST", "/files", body, _file, extra_headers=headers, extra_query=extra_query,
            timeout=timeout,
        )  # fmt: skip

    async def retrieve(self, file_id: str, **opts: Any) -> FileObject:
        """``GET /files/{file_id}``."""
        return await self._call("GET", f"/files/{_id(file_id)}", None, _file, **opts)

    async def delete(self, file_id: str, **opts: Any) -> FileDeleted:
        """``DELETE /files/{file_id}``."""
        return await self._call("DELETE", f"/files/{_id(file_id)}", None, _file_deleted, **opts)

    def list(
        self,
        *,
        purpose: str | None = None,
        limit: int | None = None,
        order: str | None = None,
        after: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> AsyncPaginator[FileList, FileObject]:
        """``GET /files``: await for one page, ``async for`` for every file."""

        def fetch(q: dict[str, Any]) -> Awaitable[FileList]:
            return self._call(
                "GET", "/files", None, _file_list, extra_headers=extra_headers,
                extra_query=_merge(q, extra_query), timeout=timeout,
            )  # fmt: skip

        params = _query(purpose=purpose, limit=limit, order=order, after=after) or {}
        return AsyncPaginator(fetch, params, _after)

    async def content(
        self,
        file_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> BinaryStream:
        """``GET /files/{file_id}/content`` as a stream of bytes (never loaded whole).

        Example:
            >>> async with await client.files.content(batch.output_file_id) as body:
            ...     async for line in body.iter_lines():
            ...         ...
        """
        client = self._client
        url = client._url(f"/files/{_id(file_id)}/content", extra_query)
        headers = {"Accept": "application/octet-stream", **(extra_headers or {})}
        return await open_binary(client, url, extra_headers=headers, timeout=timeout)


class AsyncBatches(_Base):
    """``client.batches`` (OpenAI Batch API)."""

    __slots__ = ()

    async def create(
        self,
        *,
        input_file_id: str,
        endpoint: str,
        completion_window: str = "24h",
        metadata: Mapping[str, str] | None = None,
        output_expires_after: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Batch:
        """``POST /batches``: run an uploaded file of requests.

        Example:
            >>> b = await client.batches.create(input_file_id=f.id,
            ...     endpoint="/v1/chat/completions", completion_window="24h")
        """
        params = {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": completion_window,
            "metadata": metadata,
            "output_expires_after": output_expires_after,
        }
        return await self._call(
            "POST", "/batches", _body(params, extra_body), _batch, extra_headers=extra_headers,
            extra_query=extra_query, timeout=timeout,
        )  # fmt: skip

    async def retrieve(self, batch_id: str, **opts: Any) -> Batch:
        """``GET /batches/{batch_id}``."""
        return await self._call("GET", f"/batches/{_id(batch_id)}", None, _batch, **opts)

    async def cancel(self, batch_id: str, **opts: Any) -> Batch:
        """``POST /batches/{batch_id}/cancel`` (the batch goes to ``cancelling``)."""
        return await self._call("POST", f"/batches/{_id(batch_id)}/cancel", b"{}", _batch, **opts)

    def list(
        self,
        *,
        limit: int | None = None,
        after: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> AsyncPaginator[BatchList, Batch]:
        """``GET /batches``: await for one page, ``async for`` for every batch."""

        def fetch(q: dict[str, Any]) -> Awaitable[BatchList]:
            return self._call(
                "GET", "/batches", None, _batch_list, extra_headers=extra_headers,
                extra_query=_merge(q, extra_query), timeout=timeout,
            )  # fmt: skip

        return AsyncPaginator(fetch, _query(limit=limit, after=after) or {}, _after)


# -- Anthropic ------------------------------------------------------------------------------


class AsyncMessageBatches(_Base):
    """``client.messages.batches`` (Anthropic Message Batches)."""

    __slots__ = ()

    async def create(
        self,
        *,
        requests: Any,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> MessageBatch:
        """``POST /v1/messages/batches`` with ``[{"custom_id", "params"}, ...]``.

        Example:
            >>> mb = await client.messages.batches.create(requests=[
            ...     {"custom_id": "q1", "params": {"model": "claude-sonnet-4-5",
            ...      "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}}])
        """
        body = _body({"requests": list(requests)}, extra_body)
        return await self._call(
            "POST", "/v1/messages/batches", body, _message_batch, extra_headers=extra_headers,
            extra_query=extra_query, timeout=timeout,
        )  # fmt: skip

    async def create_raw(self, body: bytes, **opts: Any) -> MessageBatch:
        """Like ``create`` with the JSON body already encoded (``{"requests": [...]}``)."""
        return await self._call("POST", "/v1/messages/batches", body, _message_batch, **opts)

    async def retrieve(self, message_batch_id: str, **opts: Any) -> MessageBatch:
        """``GET /v1/messages/batches/{id}``."""
        path = f"/v1/messages/batches/{_id(message_batch_id)}"
        return await self._call("GET", path, None, _message_batch, **opts)

    async def cancel(self, message_batch_id: str, **opts: Any) -> MessageBatch:
        """``POST /v1/messages/batches/{id}/cancel`` (the batch goes to ``canceling``)."""
        path = f"/v1/messages/batches/{_id(message_batch_id)}/cancel"
        return await self._call("POST", path, b"{}", _message_batch, **opts)

    async def delete(self, message_batch_id: str, **opts: Any) -> DeletedMessageBatch:
        """``DELETE /v1/messages/batches/{id}`` (an ended batch only)."""
        path = f"/v1/messages/batches/{_id(message_batch_id)}"
        return await self._call("DELETE", path, None, _message_batch_deleted, **opts)

    def list(
        self,
        *,
        limit: int | None = None,
        after_id: str | None = None,
        before_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> AsyncPaginator[MessageBatchList, MessageBatch]:
        """``GET /v1/messages/batches``: await for one page, ``async for`` for every batch."""

        def fetch(q: dict[str, Any]) -> Awaitable[MessageBatchList]:
            return self._call(
                "GET", "/v1/messages/batches", None, _message_batch_list,
                extra_headers=extra_headers, extra_query=_merge(q, extra_query), timeout=timeout,
            )  # fmt: skip

        params = _query(limit=limit, after_id=after_id, before_id=before_id) or {}
        return AsyncPaginator(fetch, params, _after_id)

    def results(
        self,
        message_batch_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> JSONLStream[MessageBatchIndividualResponse]:
        """The results of an ended batch, one ``MessageBatchIndividualResponse`` per line,
        streamed (never loaded whole).  Works with or without ``await``.

        Example:
            >>> async for item in client.messages.batches.results(mb.id):
            ...     print(item.custom_id, item.result.type)
        """

        async def open_() -> BinaryStream:
            batch = await self.retrieve(message_batch_id)
            if not batch.results_url:
                raise APIError(
                    f"No results_url for batch {message_batch_id}: it has not ended "
                    f"(processing_status={batch.processing_status!r})."
                )
            url = self._results_url(message_batch_id, batch.results_url)
            headers = {"Accept": "application/binary", **(extra_headers or {})}
            return await open_binary(self._client, url, extra_headers=headers, timeout=timeout)

        return JSONLStream(open_, _result_line.decode)

    def _results_url(self, batch_id: str, results_url: str) -> URL:
        client = self._client
        default = client._url(f"/v1/messages/batches/{_id(batch_id)}/results", None)
        target = URL(results_url)
        if not target.is_absolute():
            return client._url("/" + results_url.lstrip("/"), None)
        # Our key goes only where the base URL points: another origin gets the default path.
        if target.origin() != client.base_url.origin():
            return default
        return target


def _id(value: str) -> str:
    if not value or "/" in value or "?" in value or "#" in value:
        raise ValueError(f"invalid id {value!r}")
    return value
