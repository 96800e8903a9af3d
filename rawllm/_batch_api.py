"""The providers' Batch APIs, pure part: input lines per provider, splitting, output lines, state.

Pure: imports neither aiohttp nor asyncio, reads no clock and no RNG, does
no file IO (the CLI feeds it bytes and writes what it returns).

Specs followed:
- OpenAI Batch API: an input file holds one ``{"custom_id", "method":
  "POST", "url", "body"}`` per line, all with the batch's ``url``; up to
  50,000 requests and 200 MB per file.  Output and error files hold
  ``{"id", "custom_id", "response": {"status_code", "request_id", "body"},
  "error"}`` lines, which are already the online run's output format.
- Anthropic Message Batches: ``POST /v1/messages/batches`` with
  ``{"requests": [{"custom_id", "params"}, ...]}``, up to 100,000 requests or
  256 MB; ``custom_id`` matches ``^[a-zA-Z0-9_-]{1,64}$``.  Results lines are
  ``{"custom_id", "result": {"type": "succeeded" | "errored" | "canceled" |
  "expired", ...}}``; they are turned into the online run's output lines
  (an errored request becomes the HTTP answer its error type stands for,
  with the error body as the API sends it).

Invariants:
- the same input gives the same parts (splitting depends only on the
  requests, in order, and the limits);
- a part never exceeds its provider's request count or byte limit; a
  single request larger than the byte limit is refused, never sent;
- every output line is one ``bytes`` ending in ``b"\\n"`` with no other
  newline, in exactly the format ``_batch_io`` writes for online runs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from ._batch_io import (
    InputError,
    Request,
    endpoint_for_url,
    format_error,
    format_status_error,
    format_success,
)

__all__ = [
    "LIMITS",
    "TERMINAL_OPENAI",
    "BatchState",
    "LineSplitter",
    "Limits",
    "Part",
    "Splitter",
    "UsageError",
    "anthropic_line",
    "batch_input_line",
    "convert_anthropic_result",
    "convert_openai_line",
    "decode_state",
    "encode_state",
    "in_shard",
    "parse_shard",
    "poll_line",
    "provider_mismatch",
    "state_counts",
    "url_for_endpoint",
]


class UsageError(ValueError):
    """The whole input cannot go to this provider's Batch API (one error, not one per line)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one batch may hold."""

    max_requests: int
    max_bytes: int


# Documented limits (OpenAI: "up to 50,000 requests, and can be up to 200 MB";
# Anthropic: "100,000 Message requests or 256 MB in size, whichever is reached
# first").  Decimal megabytes: the smaller reading of "MB" is always accepted.
LIMITS: dict[str, Limits] = {
    "openai": Limits(max_requests=50_000, max_bytes=200_000_000),
    "anthropic": Limits(max_requests=100_000, max_bytes=256_000_000),
}

TERMINAL_OPENAI = frozenset({"completed", "failed", "expired", "cancelled"})

_URLS = {
    "chat.completions": "/v1/chat/completions",
    "embeddings": "/v1/embeddings",
    "responses": "/v1/responses",
    "messages": "/v1/messages",
}
_ANTHROPIC_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_encode = msgspec.json.encode
_decode_any = msgspec.json.Decoder()


def url_for_endpoint(endpoint: str) -> str:
    """``"chat.completions"`` -> ``"/v1/chat/completions"``."""
    return _URLS[endpoint]


def _endpoint_of(req: Request, default: str) -> str:
    return endpoint_for_url(req.url) if req.url else default


def batch_input_line(req: Request, provider: str, default_endpoint: str) -> tuple[str, bytes]:
    """The request as the provider's Batch API takes it, and its endpoint.

    Args:
        req: a parsed input line (``_batch_io.parse_line``).
        provider: ``"openai"`` or ``"anthropic"``.
        default_endpoint: the endpoint of lines without a url.

    Returns:
        ``(endpoint, line)``: for OpenAI a ``{custom_id, method, url, body}``
        JSONL line (with its newline); for Anthropic a ``{custom_id, params}``
        object (no newline).

    Raises:
        UsageError: the endpoint is not one this provider's Batch API runs.
        InputError: this one request cannot be sent (streaming, a custom_id
            the provider refuses).

    Example:
        >>> batch_input_line(Request(1, "a", "", {"model": "m"}), "openai", "chat.completions")[0]
        'chat.completions'
    """
    endpoint = _endpoint_of(req, default_endpoint)
    if req.body.get("stream"):
        raise InputError('"stream": true cannot run in a batch', req.line)
    if provider == "anthropic":
        if endpoint != "messages":
            raise UsageError(
                f"line {req.line}: {url_for_endpoint(endpoint)} requests cannot go to "
                "Anthropic's Message Batches API (it runs /v1/messages only); "
                "use --provider openai"
            )
        if not _ANTHROPIC_ID.fullmatch(req.custom_id):
            raise InputError(
                f"custom_id {req.custom_id!r} is not accepted by Message Batches "
                "(1-64 characters: letters, digits, '_' and '-')",
                req.line,
            )
        return endpoint, _encode({"custom_id": req.custom_id, "params": req.body})
    if endpoint == "messages":
        raise UsageError(
            f"line {req.line}: /v1/messages requests cannot go to the OpenAI Batch API; "
            "use --provider anthropic"
        )
    line = _encode(
        {"custom_id": req.custom_id, "method": "POST", "url": _URLS[endpoint], "body": req.body}
    )
    return endpoint, line + b"\n"


def anthropic_line(obj: bytes) -> bytes:
    """An Anthropic request object as the JSONL line a part file keeps."""
    return obj + b"\n"


class Splitter:
    """Cut a sequence of request lines into parts within the limits.

    Feed lines in order with ``add(size)``; it returns True when the line
    starts a new part.  ``overhead`` is what each request costs beyond its
    line in the body the provider gets (1 for the comma between Anthropic
    request objects), ``fixed`` what each body costs once.

    Example:
        >>> s = Splitter(Limits(max_requests=2, max_bytes=100))
        >>> [s.add(10) for _ in range(5)]
        [True, False, True, False, True]
    """

    __slots__ = ("count", "fixed", "limits", "overhead", "size")

    def __init__(self, limits: Limits, *, overhead: int = 0, fixed: int = 0) -> None:
        self.limits = limits
        self.overhead = overhead
        self.fixed = fixed
        self.count = 0
        self.size = 0

    def add(self, size: int) -> bool:
        cost = size + self.overhead
        if cost + self.fixed > self.limits.max_bytes:
            raise InputError(
                f"one request of {size} bytes is larger than the batch limit of "
                f"{self.limits.max_bytes} bytes"
            )
        new = (
            self.count == 0
            or self.count >= self.limits.max_requests
            or self.size + cost > self.limits.max_bytes
        )
        if new:
            self.count = 0
            self.size = self.fixed
        self.count += 1
        self.size += cost
        return new


class LineSplitter:
    """Bytes in any chunking -> complete lines (each with its ``b"\\n"``).

    Example:
        >>> s = LineSplitter()
        >>> s.feed(b'{"a":1}\\n{"b"'), s.feed(b':2}\\n'), s.close()
        ([b'{"a":1}\\n'], [b'{"b":2}\\n'], [])
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._buf
        start = len(buf)
        buf += chunk
        end = buf.rfind(b"\n", start)
        if end < 0:
            return []
        whole = bytes(buf[: end + 1])
        del buf[: end + 1]
        return whole.splitlines(keepends=True)

    def close(self) -> list[bytes]:
        """The last line when the body did not end in a newline (one is added)."""
        if not self._buf.strip():
            self._buf.clear()
            return []
        last = bytes(self._buf) + b"\n"
        self._buf.clear()
        return [last]


# -- output lines ---------------------------------------------------------------------


class _Response(msgspec.Struct):
    status_code: int = 0
    request_id: str | None = None
    body: msgspec.Raw = msgspec.Raw(b"null")


class _Error(msgspec.Struct):
    code: str | None = None
    message: str | None = None


class _OpenAILine(msgspec.Struct):
    custom_id: str
    id: str | None = None
    response: _Response | None = None
    error: _Error | None = None


_openai_line = msgspec.json.Decoder(_OpenAILine)


def convert_openai_line(raw: bytes) -> tuple[str, bytes, bool] | None:
    """An OpenAI output/error file line -> ``(custom_id, online output line, success)``.

    Returns None for a blank line.  The body is copied as sent.

    Raises:
        ValueError: the line is not an output object.
    """
    if not raw.strip():
        return None
    try:
        obj = _openai_line.decode(raw)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a batch output line: {exc}") from None
    line_id = obj.id or ""
    resp = obj.response
    if obj.error is None and resp is not None and resp.status_code:
        if 200 <= resp.status_code < 300:
            out = format_success(
                id=line_id,
                custom_id=obj.custom_id,
                status_code=resp.status_code,
                request_id=resp.request_id,
                body_raw=bytes(resp.body),
            )
            return obj.custom_id, out, True
        body = _decode_any.decode(resp.body)
        out = format_status_error(
            id=line_id,
            custom_id=obj.custom_id,
            status_code=resp.status_code,
            request_id=resp.request_id,
            body=body,
        )
        return obj.custom_id, out, False
    err = obj.error or _Error(code="batch_error", message="no response and no error")
    out = format_error(
        id=line_id,
        custom_id=obj.custom_id,
        code=err.code or "batch_error",
        message=err.message or "",
    )
    return obj.custom_id, out, False


# Anthropic error types -> the HTTP status the online call would have answered.
ANTHROPIC_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


_ABSENT = msgspec.Raw(b"")


class _Result(msgspec.Struct):
    type: str
    # (msgspec.Raw cannot be in a union with None: an empty Raw means "absent".)
    message: msgspec.Raw = _ABSENT
    error: msgspec.Raw = _ABSENT


class _AnthropicLine(msgspec.Struct):
    custom_id: str
    result: _Result


_anthropic_line = msgspec.json.Decoder(_AnthropicLine)


def convert_anthropic_result(raw: bytes, line_id: str) -> tuple[str, bytes, bool] | None:
    """A Message Batches results line -> ``(custom_id, online output line, success)``.

    ``succeeded`` gives a 200 with the message as the body; ``errored``
    gives the status its error type stands for with the error body
    (``{"type": "error", "error": {...}}``) as the API sends it;
    ``canceled`` / ``expired`` give ``error: {"code": "batch_cancelled" |
    "batch_expired"}``, the codes OpenAI's error files use.

    Raises:
        ValueError: the line is not a results object.
    """
    if not raw.strip():
        return None
    try:
        obj = _anthropic_line.decode(raw)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a message batch result line: {exc}") from None
    res = obj.result
    cid = obj.custom_id
    if res.type == "succeeded" and len(res.message) and bytes(res.message) != b"null":
        out = format_success(
            id=line_id, custom_id=cid, status_code=200, request_id=None, body_raw=bytes(res.message)
        )
        return cid, out, True
    if res.type == "errored":
        body: Any = _decode_any.decode(res.error) if len(res.error) else None
        if isinstance(body, dict):
            inner = body.get("error")
            etype = inner.get("type") if isinstance(inner, dict) else None
            request_id = body.get("request_id") if isinstance(body.get("request_id"), str) else None
            status = ANTHROPIC_ERROR_STATUS.get(etype, 500) if isinstance(etype, str) else 500
            out = format_status_error(
                id=line_id, custom_id=cid, status_code=status, request_id=request_id, body=body
            )
            return cid, out, False
        out = format_error(id=line_id, custom_id=cid, code="batch_error", message=str(body))
        return cid, out, False
    code = {"canceled": "batch_cancelled", "expired": "batch_expired"}.get(res.type, res.type)
    message = {
        "batch_cancelled": "The batch was cancelled before this request ran.",
        "batch_expired": "The batch expired before this request ran.",
    }.get(code, f"result type {res.type!r}")
    return cid, format_error(id=line_id, custom_id=cid, code=code, message=message), False


# -- state beside the output -------------------------------------------------------


class Part(msgspec.Struct, kw_only=True):
    """One batch of a run: its local request file and the provider's ids.

    ``status`` is the provider's last known status (``""`` before creation);
    ``written`` is True once its results are in the output file;
    ``submitted_at`` is when a create was sent, so that a batch created just
    before a crash can be found again instead of created twice.
    """

    index: int
    path: str
    endpoint: str
    requests: int
    bytes: int
    file_id: str | None = None
    batch_id: str | None = None
    status: str = ""
    counts: dict[str, int] = {}
    written: bool = False
    submitted_at: float | None = None  # Unix time a create was sent (Anthropic: to adopt)


class BatchState(msgspec.Struct, kw_only=True):
    """What a ``--via batch-api`` run keeps beside its output so that a rerun resumes.

    ``input`` and ``input_size`` identify the input the parts came from.
    """

    version: int = 1
    provider: str
    input: str
    input_size: int
    parts: list[Part] = []

    def pending(self) -> list[Part]:
        """Parts whose results are not written yet."""
        return [p for p in self.parts if not p.written]


_state_decoder = msgspec.json.Decoder(BatchState)


def encode_state(state: BatchState) -> bytes:
    """The state as pretty JSON bytes."""
    out: bytes = msgspec.json.format(_encode(state), indent=2)
    return out + b"\n"


def decode_state(raw: bytes) -> BatchState:
    """Read a state file.

    Raises:
        ValueError: not a state file of this version.
    """
    try:
        state = _state_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise ValueError(f"unreadable batch state: {exc}") from None
    if state.version != 1:
        raise ValueError(f"batch state version {state.version} is not supported")
    return state


def state_counts(parts: Iterable[Part]) -> dict[str, int]:
    """Parts per provider status (``"submitting"`` for those not created yet)."""
    out: dict[str, int] = {}
    for p in parts:
        key = "written" if p.written else (p.status or "submitting")
        out[key] = out.get(key, 0) + 1
    return out


def poll_line(parts: list[Part], elapsed: float, eta: float | None) -> str:
    """One plain progress line of a Batch API run (for stderr when it is not a terminal).

    Example:
        >>> poll_line([Part(index=0, path="p", endpoint="messages", requests=4, bytes=1,
        ...     status="in_progress", counts={"completed": 1})], 65.0, None)
        'rawllm batch: 1 batch: 1 in_progress; requests 1/4 done, 0 failed; 1m05s elapsed'
    """
    total = sum(p.requests for p in parts)
    done = sum(p.counts.get("completed", 0) + p.counts.get("failed", 0) for p in parts)
    failed = sum(p.counts.get("failed", 0) for p in parts)
    states = ", ".join(f"{n} {k}" for k, n in sorted(state_counts(parts).items()))
    noun = "batch" if len(parts) == 1 else "batches"
    line = (
        f"rawllm batch: {len(parts)} {noun}: {states}; requests {done}/{total} done, "
        f"{failed} failed; {_duration(elapsed)} elapsed"
    )
    if eta is not None:
        line += f", ETA {_duration(eta)} (provider counts)"
    return line


def _duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


# -- sharding and the provider check of online runs ------------------------------------


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (1 <= K <= N) -> ``(K, N)``.

    Raises:
        ValueError: not of that form.
    """
    k_text, sep, n_text = text.partition("/")
    if not sep or not k_text.strip().isdigit() or not n_text.strip().isdigit():
        raise ValueError(f"expected K/N (e.g. 1/4), got {text!r}")
    k, n = int(k_text), int(n_text)
    if not 1 <= k <= n:
        raise ValueError(f"expected 1 <= K <= N, got {text!r}")
    return k, n


def in_shard(custom_id: str, k: int, n: int) -> bool:
    """Whether ``custom_id`` belongs to shard ``k`` of ``n``: a stable hash of the id.

    Every host computes the same split of the same input (no coordination
    needed), and every id is in exactly one shard.

    Example:
        >>> sum(in_shard("q-1", k, 3) for k in (1, 2, 3))
        1
    """
    if n == 1:
        return True
    digest = hashlib.blake2b(custom_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n == k - 1


_CLIENT_ENDPOINTS = {
    "openai": frozenset({"chat.completions", "embeddings", "responses"}),
    "anthropic": frozenset({"messages"}),
}


def provider_mismatch(req: Request, provider: str, default_endpoint: str) -> str | None:
    """Why an online run of ``req`` cannot go to ``provider`` (None: it can).

    Example:
        >>> provider_mismatch(Request(4, "a", "/v1/messages", {}), "openai", "chat.completions")
        'line 4: /v1/messages requests need --provider anthropic'
    """
    endpoint = _endpoint_of(req, default_endpoint)
    if endpoint in _CLIENT_ENDPOINTS[provider]:
        return None
    other = "anthropic" if provider == "openai" else "openai"
    return f"line {req.line}: {url_for_endpoint(endpoint)} requests need --provider {other}"
