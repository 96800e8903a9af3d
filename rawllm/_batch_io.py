"""Batch files: parse JSONL input lines, format output lines, resume bookkeeping.

Pure: imports neither aiohttp nor asyncio, reads no clock and no RNG (ids and
elapsed times are passed in), does no file IO (the CLI feeds it bytes).

Spec followed: the OpenAI Batch API file formats.

- Input, one JSON object per line: ``{"custom_id": str, "method": "POST",
  "url": "/v1/chat/completions", "body": {...}}``.  Also accepted: a bare
  request body (``{"model": ..., "messages": [...]}``), whose custom_id is
  ``line-<N>`` (N = 1-based line number; an optional ``custom_id`` key is
  taken out of the body instead), and the Anthropic Message Batches request
  shape ``{"custom_id": str, "params": {...}}`` (url ``/v1/messages``).
- Output, one JSON object per line: ``{"id", "custom_id", "response":
  {"status_code", "request_id", "body"}, "error": null}``.  As in the
  provider's files, an HTTP error answer is a ``response`` with its status
  code and the error body as sent, and ``error`` is null; a failure with no
  HTTP answer (timeout, connection error, invalid request, invalid response
  body) has ``"response": null`` and ``"error": {"code", "message"}``.

Invariants:
- every output line is one complete ``bytes`` object ending in ``b"\\n"``
  and containing no other newline, so that one ``write()`` per line leaves
  a valid JSONL prefix whenever the writer dies;
- a successful body is copied as the server sent it (``msgspec.Raw``), never
  decoded and re-encoded, only compacted when it spans several lines;
- :class:`ResumeScan` keeps, per custom_id, at most one line: the first
  successful one (or, with ``keep_failed``, the first one of any outcome); a
  trailing line without its newline (a killed writer) or a line that is not
  an output object is dropped.  So a resumed run never duplicates an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

__all__ = [
    "ENDPOINT_URLS",
    "InputError",
    "Request",
    "ResumeScan",
    "Tally",
    "endpoint_for_url",
    "eta_seconds",
    "format_error",
    "format_status_error",
    "format_success",
    "is_success",
    "output_custom_id",
    "parse_line",
    "progress_line",
    "status_error_body",
    "summary_json",
    "summary_text",
]

# Batch API urls -> the client call they stand for (``/v1`` optional).
ENDPOINT_URLS: dict[str, str] = {
    "/v1/chat/completions": "chat.completions",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
}

MAX_CUSTOM_ID = 512  # OpenAI caps it at 64; be lenient but keep lines sane.

_decode_any = msgspec.json.Decoder()
_encode = msgspec.json.encode


class InputError(ValueError):
    """An input line that cannot become a request; ``reason`` says why."""

    def __init__(self, reason: str, line: int = 0) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.reason = reason
        self.line = line


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed input line.

    Attributes:
        line: 1-based line number in the input file.
        custom_id: the caller's id (``line-<N>`` for a bare body without one).
        url: the Batch API url (``""``: a bare body, use the default endpoint).
        body: the request body (``create()`` keyword arguments).
    """

    line: int
    custom_id: str
    url: str
    body: dict[str, Any]


def endpoint_for_url(url: str) -> str:
    """Map a Batch API url to a call name (``"/v1/embeddings"`` -> ``"embeddings"``).

    Args:
        url: the ``url`` field of an input line; the ``/v1`` prefix is optional.

    Returns:
        One of ``chat.completions``, ``embeddings``, ``responses``, ``messages``.

    Raises:
        InputError: an url rawllm does not run.

    Example:
        >>> endpoint_for_url("/v1/chat/completions")
        'chat.completions'
    """
    path = url.split("?", 1)[0].rstrip("/")
    if not path.startswith("/v1/"):
        path = "/v1" + (path if path.startswith("/") else "/" + path)
    name = ENDPOINT_URLS.get(path)
    if name is None:
        raise InputError(f"unsupported url {url!r} (supported: {', '.join(ENDPOINT_URLS)})")
    return name


def parse_line(raw: bytes | str, line: int) -> Request | None:
    """Parse one input line.

    Args:
        raw: the line, with or without its newline.
        line: its 1-based line number (used for messages and ``line-<N>`` ids).

    Returns:
        The request, or ``None`` for a blank line.

    Raises:
        InputError: the line is not a JSON object of an accepted shape.

    Example:
        >>> parse_line(b'{"model": "m", "messages": []}', 3).custom_id
        'line-3'
    """
    if not raw.strip():
        return None
    try:
        obj = _decode_any.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"invalid JSON ({exc})", line) from None
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, got {type(obj).__name__}", line)
    if "body" in obj and ("url" in obj or "method" in obj):
        return _parse_batch_line(obj, line)
    if "params" in obj and "custom_id" in obj:
        params = obj["params"]
        if not isinstance(params, dict):
            raise InputError('"params" must be an object', line)
        return Request(line, _custom_id(obj["custom_id"], line), "/v1/messages", params)
    body = dict(obj)
    cid = body.pop("custom_id", None)
    custom_id = f"line-{line}" if cid is None else _custom_id(cid, line)
    if not body:
        raise InputError("empty request body", line)
    return Request(line, custom_id, "", body)


def _parse_batch_line(obj: dict[str, Any], line: int) -> Request:
    if "custom_id" not in obj:
        raise InputError('missing "custom_id"', line)
    custom_id = _custom_id(obj["custom_id"], line)
    method = obj.get("method", "POST")
    if not isinstance(method, str) or method.upper() != "POST":
        raise InputError(f'"method" must be "POST", got {method!r}', line)
    url = obj.get("url", "")
    if not isinstance(url, str):
        raise InputError('"url" must be a string', line)
    if url:
        try:
            endpoint_for_url(url)
        except InputError as exc:
            raise InputError(exc.reason, line) from None
    body = obj["body"]
    if not isinstance(body, dict):
        raise InputError('"body" must be an object', line)
    return Request(line, custom_id, url, body)


def _custom_id(value: Any, line: int) -> str:
    if not isinstance(value, str) or not value:
        raise InputError('"custom_id" must be a non-empty string', line)
    if len(value) > MAX_CUSTOM_ID:
        raise InputError(f'"custom_id" longer than {MAX_CUSTOM_ID} characters', line)
    return value


# -- output ------------------------------------------------------------------


def _one_line(raw: bytes) -> bytes:
    # Raw newlines in JSON text can only be whitespace (in strings they are
    # escaped), so compacting keeps the value and makes it one line.
    if b"\n" in raw or b"\r" in raw:
        return msgspec.json.format(raw, indent=0)
    return raw


def format_success(
    *, id: str, custom_id: str, status_code: int, request_id: str | None, body_raw: bytes
) -> bytes:
    """One output line for an answered request (the body bytes as sent).

    Example:
        >>> format_success(id="r1", custom_id="a", status_code=200, request_id=None,
        ...                body_raw=b'{"ok":true}')
        b'{"id":"r1","custom_id":"a","response":{"status_code":200,...},"error":null}\\n'
    """
    response = {
        "status_code": status_code,
        "request_id": request_id,
        "body": msgspec.Raw(_one_line(body_raw)),
    }
    out: bytes = _encode({"id": id, "custom_id": custom_id, "response": response, "error": None})
    return out + b"\n"


def status_error_body(body: Any, message: str) -> Any:
    """The error body as the provider sent it, from an ``APIStatusError.body``.

    rawllm unwraps OpenAI's ``{"error": {...}}`` (as the official SDK does);
    the Batch output keeps the envelope, so it is put back here.  A body that
    was not JSON (an HTML page) becomes ``{"error": {"message": text}}``.

    Example:
        >>> status_error_body({"message": "bad", "type": "invalid_request_error"}, "")
        {'error': {'message': 'bad', 'type': 'invalid_request_error'}}
    """
    if isinstance(body, dict):
        if "error" in body or "message" not in body:
            return body
        return {"error": body}
    if isinstance(body, str):
        return {"error": {"message": body}}
    return {"error": {"message": message}}


def format_status_error(
    *, id: str, custom_id: str, status_code: int, request_id: str | None, body: Any
) -> bytes:
    """One output line for an HTTP error answer (``error`` null, as the provider writes it)."""
    response = {"status_code": status_code, "request_id": request_id, "body": body}
    out: bytes = _encode({"id": id, "custom_id": custom_id, "response": response, "error": None})
    return out + b"\n"


def format_error(*, id: str, custom_id: str, code: str, message: str) -> bytes:
    """One output line for a failure without an HTTP answer (timeout, connection, ...)."""
    error = {"code": code, "message": message}
    out: bytes = _encode({"id": id, "custom_id": custom_id, "response": None, "error": error})
    return out + b"\n"


def is_success(obj: Any) -> bool:
    """Whether a decoded output object records a successful answer (2xx, no error)."""
    if not isinstance(obj, dict) or obj.get("error") is not None:
        return False
    response = obj.get("response")
    if not isinstance(response, dict):
        return False
    status = response.get("status_code")
    return isinstance(status, int) and 200 <= status < 300


def output_custom_id(obj: Any) -> str | None:
    """The custom_id of a decoded output object, or None when it is not one."""
    if not isinstance(obj, dict):
        return None
    cid = obj.get("custom_id")
    if not isinstance(cid, str) or ("response" not in obj and "error" not in obj):
        return None
    return cid


# -- resume ------------------------------------------------------------------


class ResumeScan:
    """Decide, line by line, what of an existing output file a resumed run keeps.

    Feed every line of the old output in order (each with its newline, the
    last one possibly without); then ``done`` holds the custom_ids not to run
    again, ``kept_bytes`` the size of the kept prefix, and ``needs_rewrite``
    says whether a line other than a trailing partial one was dropped (so
    truncating to ``kept_bytes`` is not enough and the file must be
    rewritten from the kept lines, fed through a fresh scan in the same
    order, which makes the same decisions).

    Example:
        >>> scan = ResumeScan()
        >>> for raw in open("out.jsonl", "rb"):
        ...     scan.add(raw)
        >>> scan.done
    """

    __slots__ = (
        "dropped_failed",
        "dropped_invalid",
        "dropped_duplicate",
        "done",
        "keep_failed",
        "kept",
        "kept_bytes",
        "needs_rewrite",
        "partial_tail",
    )

    def __init__(self, *, keep_failed: bool = False) -> None:
        self.keep_failed = keep_failed
        self.done: set[str] = set()
        self.kept = 0
        self.kept_bytes = 0
        self.dropped_failed = 0
        self.dropped_invalid = 0
        self.dropped_duplicate = 0
        self.partial_tail = False
        self.needs_rewrite = False

    def add(self, raw: bytes) -> bool:
        """Look at one line; return True when it is kept in the resumed output."""
        if self.partial_tail:
            # Only the very last line may lack its newline.
            raise ValueError("ResumeScan.add() after a line without a newline")
        if not raw.endswith(b"\n"):
            self.partial_tail = True
            return False
        if not raw.strip():
            self.dropped_invalid += 1
            self.needs_rewrite = True
            return False
        try:
            obj = _decode_any.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError):
            obj = None
        cid = output_custom_id(obj)
        if cid is None:
            self.dropped_invalid += 1
            self.needs_rewrite = True
            return False
        if cid in self.done:
            self.dropped_duplicate += 1
            self.needs_rewrite = True
            return False
        if not self.keep_failed and not is_success(obj):
            self.dropped_failed += 1
            self.needs_rewrite = True
            return False
        self.done.add(cid)
        self.kept += 1
        self.kept_bytes += len(raw)
        return True


# -- progress and summary ------------------------------------------------------


@dataclass(slots=True)
class Tally:
    """Counters of one batch run (the CLI updates them; formatting is pure).

    Attributes:
        total: requests in the input file (non-blank lines), when known.
        skipped: requests already answered in the output (resume).
        succeeded: answered with a 2xx this run.
        failed: answered with an error this run (HTTP or not).
        malformed: input lines that could not be parsed (also counted as failed
            in the summary's ``failed_total``).
        retries: retries taken, summed over requests.
        rate_limited: 429 answers seen (retried ones included).
        prompt_tokens: input tokens reported by the server.
        completion_tokens: output tokens reported by the server.
        errors: count per error code (``"429"``, ``"timeout"``, ...).
        malformed_lines: up to ``MAX_REPORTED`` of ``(line, reason)``.
        throttled: what slows the client right now (``"pacing 12 req/s after
            429 without rate headers"``), or None.
        slowdowns: slowdowns the client's limiter opened after 429s / 529s.
        throttle_cause: the cause of the last slowdown seen.
        lowest_pace: the slowest request pace (per second) seen while throttled.
    """

    MAX_REPORTED = 100

    total: int | None = None
    skipped: int = 0
    succeeded: int = 0
    failed: int = 0
    malformed: int = 0
    retries: int = 0
    rate_limited: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    malformed_lines: list[tuple[int, str]] = field(default_factory=list)
    throttled: str | None = None
    slowdowns: int = 0
    throttle_cause: str | None = None
    lowest_pace: float | None = None

    def observe_limiter(self, state: Any) -> None:
        """Take the throttle from a ``LimiterState`` (``client.limiter.state``)."""
        self.throttled = state.throttled
        self.slowdowns = state.slowdowns
        if state.reason is not None:
            self.throttle_cause = state.reason
            rpm = state.requests_per_minute
            if rpm is not None and not state.paused_for:
                pace = rpm / 60.0
                if self.lowest_pace is None or pace < self.lowest_pace:
                    self.lowest_pace = pace

    @property
    def done(self) -> int:
        """Requests finished this run (successes and failures)."""
        return self.succeeded + self.failed

    @property
    def failed_total(self) -> int:
        """Failures including malformed input lines."""
        return self.failed + self.malformed

    @property
    def remaining(self) -> int | None:
        """Requests still to run, when the total is known."""
        if self.total is None:
            return None
        return max(self.total - self.skipped - self.done - self.malformed, 0)

    def add_error(self, code: str) -> None:
        self.failed += 1
        self.errors[code] = self.errors.get(code, 0) + 1

    def add_malformed(self, line: int, reason: str) -> None:
        self.malformed += 1
        if len(self.malformed_lines) < self.MAX_REPORTED:
            self.malformed_lines.append((line, reason))

    def to_dict(self, *, elapsed: float, interrupted: bool, **extra: Any) -> dict[str, Any]:
        """The summary as JSON-ready data (what ``--summary-json`` writes)."""
        rate = self.done / elapsed if elapsed > 0 else 0.0
        out: dict[str, Any] = {
            **extra,
            "total": self.total,
            "skipped_already_done": self.skipped,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "malformed": self.malformed,
            "failed_total": self.failed_total,
            "not_run": self.remaining,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "errors": dict(sorted(self.errors.items())),
            "malformed_lines": [{"line": n, "reason": r} for n, r in self.malformed_lines],
            "elapsed_s": round(elapsed, 3),
            "requests_per_s": round(rate, 2),
            "slowdowns": self.slowdowns,
            "throttle_cause": self.throttle_cause,
            "lowest_pace_per_s": None if self.lowest_pace is None else round(self.lowest_pace, 3),
            "interrupted": interrupted,
        }
        return out


def _duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def eta_seconds(tally: Tally, elapsed: float) -> float | None:
    """Seconds left at the current rate, or None when unknown."""
    remaining = tally.remaining
    if remaining is None or tally.done == 0 or elapsed <= 0:
        return None
    return remaining / (tally.done / elapsed)


def progress_line(tally: Tally, elapsed: float) -> str:
    """One plain progress line (for stderr when it is not a terminal).

    Example:
        >>> progress_line(Tally(total=10, succeeded=4), 2.0)
        'rawllm batch: 4/10 done, 0 failed, 0 retries, 0 429s, 2.0 req/s, 0 tokens, ETA 3s'
    """
    total = "?" if tally.total is None else str(tally.total - tally.skipped - tally.malformed)
    rate = tally.done / elapsed if elapsed > 0 else 0.0
    eta = eta_seconds(tally, elapsed)
    tokens = tally.prompt_tokens + tally.completion_tokens
    line = (
        f"rawllm batch: {tally.done}/{total} done, {tally.failed_total} failed, "
        f"{tally.retries} retries, {tally.rate_limited} 429s, {rate:.1f} req/s, "
        f"{tokens} tokens, ETA {'?' if eta is None else _duration(eta)}"
    )
    return line if tally.throttled is None else f"{line}, {tally.throttled}"


def summary_text(tally: Tally, elapsed: float, *, interrupted: bool) -> str:
    """The human summary printed at the end of a run (several lines)."""
    lines = [
        ("interrupted: " if interrupted else "finished: ")
        + f"{tally.succeeded} succeeded, {tally.failed} failed, "
        f"{tally.malformed} malformed input lines, {tally.skipped} already done "
        f"in {_duration(elapsed)}",
        f"  retries: {tally.retries}, 429s: {tally.rate_limited}, tokens: "
        f"{tally.prompt_tokens} in + {tally.completion_tokens} out",
    ]
    if tally.slowdowns:
        pace = "" if tally.lowest_pace is None else f"; lowest pace {tally.lowest_pace:.3g} req/s"
        lines.append(
            f"  throttled: {tally.slowdowns} slowdown(s), last after {tally.throttle_cause}{pace}"
        )
    if tally.errors:
        lines.append(
            "  errors: " + ", ".join(f"{code} x{n}" for code, n in sorted(tally.errors.items()))
        )
    remaining = tally.remaining
    if remaining:
        lines.append(f"  not run: {remaining} (rerun the same command to resume)")
    for n, reason in tally.malformed_lines[:10]:
        lines.append(f"  line {n}: {reason}")
    if tally.malformed > 10:
        lines.append(f"  ... and {tally.malformed - 10} more malformed lines")
    return "\n".join(lines)


def summary_json(tally: Tally, elapsed: float, *, interrupted: bool, **extra: Any) -> bytes:
    """The summary as JSON bytes (``--summary-json``)."""
    out: bytes = msgspec.json.format(
        _encode(tally.to_dict(elapsed=elapsed, interrupted=interrupted, **extra)), indent=2
    )
    return out + b"\n"
