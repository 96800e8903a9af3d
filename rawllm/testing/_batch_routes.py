"""The mock's Batch API routes (aiohttp layer over ``_batch_store``).

OpenAI: ``POST/GET /v1/files``, ``GET/DELETE /v1/files/{id}``,
``GET /v1/files/{id}/content`` (streamed in chunks), ``POST/GET /v1/batches``,
``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``.
Anthropic: ``POST/GET /v1/messages/batches``, ``GET/DELETE .../{id}``,
``POST .../{id}/cancel``, ``GET .../{id}/results`` (streamed JSONL).

Bodies are read from the request stream, not with ``request.read()``
(whose 1 MiB cap is the low-level server's default): batch files are large.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import BodyPartReader, web

from ._batch_store import BatchStore, StoreError
from ._errors import error_body
from ._recording import RecordedRequest
from ._render import BadRequest, render
from ._render_common import JSON

if TYPE_CHECKING:
    from ._app import MockServer

__all__ = ["answer_line", "handle_batch_route", "is_batch_route", "serve_batch_route"]

CHUNK = 64 * 1024
_PREFIXES = ("/v1/files", "/v1/batches", "/v1/messages/batches")

ErrorResponse = Callable[[int, str, bool], web.Response]


def is_batch_route(path: str) -> bool:
    """Whether ``path`` is one of the Batch API routes."""
    return any(path == p or path.startswith(p + "/") for p in _PREFIXES)


def _json(obj: Any, headers: dict[str, str]) -> web.Response:
    return web.Response(body=msgspec.json.encode(obj), headers={**headers, "Content-Type": JSON})


async def _stream(
    request: web.BaseRequest, data: bytes, headers: dict[str, str]
) -> web.StreamResponse:
    resp = web.StreamResponse(headers={**headers, "Content-Type": "application/octet-stream"})
    resp.content_length = len(data)
    await resp.prepare(request)
    view = memoryview(data)
    for i in range(0, len(data), CHUNK):
        await resp.write(view[i : i + CHUNK])
    await resp.write_eof()
    return resp


async def _read_part(part: BodyPartReader) -> bytes:
    # read() caps a part at the request's client_max_size (1 MiB for the low-level
    # server); batch files are up to 200 MB, checked by the store.
    chunks = bytearray()
    while True:
        chunk = await part.read_chunk(CHUNK)
        if not chunk:
            return bytes(chunks)
        chunks += chunk


async def _upload(request: web.BaseRequest, store: BatchStore) -> dict[str, Any]:
    ctype = request.headers.get("Content-Type", "")
    if not ctype.startswith("multipart/form-data"):
        raise StoreError(400, "The request must be multipart/form-data.")
    reader = await request.multipart()
    purpose = ""
    filename = ""
    data: bytes | None = None
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise StoreError(400, "Nested multipart bodies are not supported.")
        if part.name == "purpose":
            purpose = (await part.read()).decode()
        elif part.name == "file":
            filename = part.filename or "upload"
            data = await _read_part(part)
        else:
            await part.release()
    if data is None:
        raise StoreError(400, "Missing required parameter: 'file'.")
    return store.add_file(filename, purpose, data, time.time())


async def handle_batch_route(
    request: web.BaseRequest,
    store: BatchStore,
    headers: dict[str, str],
    base_url: str,
) -> tuple[web.StreamResponse | None, StoreError | None]:
    """Answer one Batch API request; an error comes back as a ``StoreError`` to render."""
    method = request.method
    parts = request.path.strip("/").split("/")  # ["v1", "files", id?, "content"?]
    query = dict(request.query)
    now, wall = time.monotonic(), time.time()
    try:
        if parts[1] == "files":
            if len(parts) == 2:
                if method == "POST":
                    return _json(await _upload(request, store), headers), None
                if method == "GET":
                    return _json(store.list_files(query), headers), None
            elif len(parts) == 3:
                if method == "GET":
                    return _json(store.file(parts[2]).obj(), headers), None
                if method == "DELETE":
                    return _json(store.delete_file(parts[2]), headers), None
            elif len(parts) == 4 and parts[3] == "content" and method == "GET":
                return await _stream(request, store.file(parts[2]).data, headers), None
        elif parts[1] == "batches":
            if len(parts) == 2:
                if method == "POST":
                    body = _body(await request.content.read())
                    return _json(store.create_batch(body, now, wall), headers), None
                if method == "GET":
                    return _json(store.list_batches(query, now, wall), headers), None
            elif len(parts) == 3 and method == "GET":
                return _json(store.batch_obj(parts[2], now, wall), headers), None
            elif len(parts) == 4 and parts[3] == "cancel" and method == "POST":
                await request.content.read()
                return _json(store.cancel_batch(parts[2], now, wall), headers), None
        else:  # messages/batches
            if len(parts) == 3:
                if method == "POST":
                    raw = await request.content.read()
                    obj = store.create_message_batch(raw, now, wall, base_url)
                    return _json(obj, headers), None
                if method == "GET":
                    return _json(store.list_message_batches(query, now, wall), headers), None
            elif len(parts) == 4:
                if method == "GET":
                    return _json(store.message_batch_obj(parts[3], now, wall), headers), None
                if method == "DELETE":
                    return _json(store.delete_message_batch(parts[3], now, wall), headers), None
            elif len(parts) == 5 and parts[4] == "cancel" and method == "POST":
                await request.content.read()
                return _json(store.cancel_message_batch(parts[3], now, wall), headers), None
            elif len(parts) == 5 and parts[4] == "results" and method == "GET":
                data = store.message_batch_results(parts[3], now, wall)
                return await _stream(request, data, headers), None
    except StoreError as exc:
        return None, exc
    return None, StoreError(404, f"Invalid URL ({method} {request.path})")


def _body(raw: bytes) -> Any:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None


# -- the glue with MockServer -------------------------------------------------------------


async def serve_batch_route(
    server: MockServer, request: web.BaseRequest, arrived: float
) -> web.StreamResponse:
    """Files, batches and message batches for ``server``: auth, record, answer, count."""
    headers = request.headers
    anthropic = request.path.startswith("/v1/messages/")
    if server.record:
        server.requests.append(
            RecordedRequest(request.method, request.path, headers, None, arrived)
        )
    rid = server._next_id()
    if server.api_key is not None and not server._authorized(headers, anthropic):
        return server._error(rid, anthropic, 401)
    base = server._base_headers(rid, anthropic, JSON)
    resp, err = await handle_batch_route(request, server.batch_store, base, server.url)
    if err is not None or resp is None:
        assert err is not None
        return server._error(rid, anthropic, err.status, err.message)
    server.status_counts[resp.status] += 1
    return resp


def answer_line(
    server: MockServer, api: str, body: dict[str, Any], anthropic: bool
) -> tuple[int, bytes, str]:
    """One batch request line, answered as an online call would be (the server's fault
    script included: a status step is that error, another fault a 500 / 529)."""
    rid = server._next_id()
    request_id = ("req_011" if anthropic else "req_") + rid
    step = server._plan.next(None)
    if step.kind == "status":
        return step.status, error_body(anthropic, step.status), request_id
    if step.kind != "ok":
        status = 529 if anthropic else 500
        return status, error_body(anthropic, status), request_id
    try:
        entry = render(api, body, server.tokens, anthropic, int(time.time()), server.big_event)
    except BadRequest as exc:
        return exc.status, error_body(anthropic, exc.status, exc.message), request_id
    if entry.frames is not None:
        msg = "stream: streaming is not supported in batch requests"
        return 400, error_body(anthropic, 400, msg), request_id
    return 200, rid.encode().join(entry.parts), request_id
