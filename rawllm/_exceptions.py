"""The error hierarchy, one pure factory for status errors, and secret redaction.

Same class names as the official SDKs, so ``except openai.RateLimitError``
becomes ``except rawllm.RateLimitError``::

    APIError                         .message, .body
    ├── APIConnectionError           network failure, reset, truncated stream
    │   └── APITimeoutError          .timeout says which limit fired
    ├── APIResponseValidationError   a 2xx body that is not JSON or not the right shape
    ├── LengthFinishReasonError      parse(): the answer was cut by the token limit
    └── APIStatusError               .status_code, .headers, .body, .request_id
        ├── BadRequestError (400)
        ├── AuthenticationError (401)
        ├── PermissionDeniedError (403)
        ├── NotFoundError (404)
        ├── ConflictError (409)
        ├── RequestTooLargeError (413)
        ├── UnprocessableEntityError (422)
        ├── RateLimitError (429)
        └── InternalServerError (>= 500)
            └── OverloadedError (529)

Invariants: this module does no IO and imports neither aiohttp nor asyncio.
Every message and repr passes through ``redact()``, so no API key that a
client registered (nor anything shaped like one) is ever shown.

``.body`` follows the official SDKs: for an OpenAI-style body
(``{"error": {...}}``) it is the inner error object; for an Anthropic-style
body (``{"type": "error", "error": {...}}``) it is the whole object; for a
body that is not JSON it is the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ErrorResponse",
    "InternalServerError",
    "LengthFinishReasonError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestInfo",
    "RequestTooLargeError",
    "UnprocessableEntityError",
    "error_from_stream_body",
    "make_status_error",
    "redact",
    "register_secret",
]

# -- redaction ---------------------------------------------------------------

_secrets: set[str] = set()
# Shapes of keys that must never be shown even when nobody registered them.
_KEY_PATTERN = re.compile(
    r"(sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{8,})|((?i:bearer)\s+[A-Za-z0-9_\-\.=]{8,})"
)
_REDACTED = "[REDACTED]"


def register_secret(secret: str | None) -> None:
    """Remember a secret (an API key) so that ``redact()`` hides it everywhere."""
    if secret and len(secret) >= 4:
        _secrets.add(secret)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret and every key-shaped token hidden.

    Example:
        >>> register_secret("sk-test-123456789")
        >>> redact("bad key sk-test-123456789")
        'bad key [REDACTED]'
    """
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _REDACTED)
    if "sk-" in text or "earer" in text or "EARER" in text:
        text = _KEY_PATTERN.sub(_REDACTED, text)
    return text


# -- hierarchy ---------------------------------------------------------------


class APIError(Exception):
    """Base of every error rawllm raises.

    Attributes:
        message: what went wrong, in words (secrets redacted).
        body: the decoded error body (dict, str) or None.
        retries: how many retries the call took before giving up.
    """

    message: str
    body: Any
    retries: int
    request_id: str | None

    def __init__(self, message: str, *, body: Any = None, request_id: str | None = None) -> None:
        self.message = redact(message)
        self.body = body
        self.retries = 0
        self.request_id = request_id
        super().__init__(self.message)

    @property
    def code(self) -> Any:
        """The ``code`` field of the error body, as in the official SDK."""
        return _field(self.body, "code")

    @property
    def param(self) -> Any:
        """The ``param`` field of the error body, as in the official SDK."""
        return _field(self.body, "param")

    @property
    def type(self) -> Any:
        """The ``type`` field of the error body, as in the official SDK."""
        inner = self.body.get("error") if isinstance(self.body, dict) else None
        if isinstance(inner, dict) and "type" in inner:
            return inner["type"]
        return _field(self.body, "type")

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return redact(f"{type(self).__name__}({self.message!r})")


def _field(body: Any, name: str) -> Any:
    if isinstance(body, dict):
        return body.get(name)
    return None


class APIConnectionError(APIError):
    """The request did not get a complete answer: network failure, reset, truncated stream."""

    def __init__(self, message: str = "Connection error.", *, body: Any = None) -> None:
        super().__init__(message, body=body)


class APITimeoutError(APIConnectionError):
    """A timeout fired; ``.timeout`` names it (connect, read, total, first_event, event_idle)."""

    timeout: str | None

    def __init__(self, message: str = "Request timed out.", *, timeout: str | None = None) -> None:
        super().__init__(message)
        self.timeout = timeout


class APIResponseValidationError(APIError):
    """A successful response whose body is not valid JSON or does not fit the expected type."""

    status_code: int

    def __init__(
        self,
        message: str = "Data returned by API invalid for expected schema.",
        *,
        body: Any = None,
        status_code: int = 200,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, body=body, request_id=request_id)
        self.status_code = status_code


class LengthFinishReasonError(APIError):
    """A ``parse()`` answer ended by the token limit (``finish_reason == "length"``).

    The JSON is cut, so it cannot be parsed; raise ``max_completion_tokens``.

    Attributes:
        completion: the ``ChatCompletion`` as received.
    """

    completion: Any

    def __init__(self, *, completion: Any = None) -> None:
        usage = getattr(completion, "usage", None)
        used = getattr(usage, "completion_tokens", None)
        suffix = f" ({used} completion tokens)" if used is not None else ""
        super().__init__(
            "Could not parse response content as the length limit was reached" + suffix
        )
        self.completion = completion


class RequestInfo:
    """The request an error answered: ``.method`` and ``.url`` (keys are in headers, never here)."""

    __slots__ = ("method", "url")

    def __init__(self, method: str, url: str) -> None:
        self.method = method
        self.url = url

    def __repr__(self) -> str:
        return redact(f"<Request {self.method} {self.url}>")


class ErrorResponse:
    """The HTTP response behind an ``APIStatusError`` (the official SDKs' ``e.response``).

    Attributes:
        status_code: the HTTP status (for an error event inside a stream: the status its
            error type maps to).
        headers: the response headers.
        content: the body bytes as received.
        request: the ``RequestInfo`` (``.method``, ``.url``); None until the client set it.
    """

    __slots__ = ("content", "headers", "request", "status_code")

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str],
        content: bytes = b"",
        request: RequestInfo | None = None,
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self.request = request

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body decoded from JSON."""
        return msgspec.json.decode(self.content)

    def __repr__(self) -> str:
        return f"<ErrorResponse [{self.status_code}]>"


class APIStatusError(APIError):
    """The server answered with an error status (or an error event inside a stream).

    ``.response`` is the HTTP response (``.status_code``, ``.headers``, ``.request``
    with ``.method`` and ``.url``), as ``e.response`` in the official SDKs.
    """

    status_code: int
    headers: Mapping[str, str]
    response: ErrorResponse

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, body=body, request_id=request_id)
        self.status_code = status_code
        self.headers = headers if headers is not None else {}
        self.response = ErrorResponse(status_code, self.headers)

    def __repr__(self) -> str:
        return redact(
            f"{type(self).__name__}(status_code={self.status_code}, message={self.message!r}, "
            f"request_id={self.request_id!r})"
        )


class BadRequestError(APIStatusError):
    """400: the request was malformed or invalid."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this."""


class NotFoundError(APIStatusError):
    """404: no such model, route or object."""


class ConflictError(APIStatusError):
    """409: a conflicting request is in progress (retried)."""


class RequestTooLargeError(APIStatusError):
    """413: the request body is too large."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but could not be processed."""


class RateLimitError(APIStatusError):
    """429: over a rate limit or quota."""


class InternalServerError(APIStatusError):
    """>= 500: the server failed."""


class OverloadedError(InternalServerError):
    """529: the provider is overloaded (Anthropic's ``overloaded_error``)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: RequestTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    529: OverloadedError,
}

# Error "type" strings (OpenAI and Anthropic) -> the status they stand for.
_STATUS_BY_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "bad_request_error": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "permission_denied_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "unprocessable_entity_error": 422,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "tokens": 429,
    "requests": 429,
    "api_error": 500,
    "server_error": 500,
    "internal_server_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The class for an HTTP status: exact match, else InternalServerError for >= 500."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return InternalServerError
    return APIStatusError


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.title())
    return value


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """The request id a provider sent (``x-request-id`` or Anthropic's ``request-id``).

    ``headers``: aiohttp's case-insensitive headers, or a dict with names in any case.
    """
    if not isinstance(headers, dict):  # aiohttp's headers: already case-insensitive
        get = headers.get
        return get("x-request-id") or get("request-id")
    return _header(headers, "x-request-id") or _header(headers, "request-id")


def _parse_body(body: bytes) -> tuple[Any, str | None, str | None]:
    """Decode an error body: (body to expose, message, error type)."""
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace")
        return text, (_summarise_text(text) or None), None
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict):
            message = inner.get("message")
            err_type = inner.get("type")
            # Anthropic keeps the envelope ({"type": "error", "error": {...}}); OpenAI unwraps.
            exposed = data if data.get("type") == "error" else inner
            return exposed, _str_or_none(message), _str_or_none(err_type)
        if isinstance(inner, str):  # {"error": "model not found"} (Ollama and friends)
            return data, inner, None
        message = data.get("message") or data.get("detail")
        return data, _str_or_none(message), _str_or_none(data.get("type"))
    return data, None, None


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _summarise_text(text: str, limit: int = 200) -> str:
    """A one-line summary of a non-JSON body (an HTML page from a proxy)."""
    flat = _SPACE.sub(" ", _TAGS.sub(" ", text)).strip()
    return flat[:limit] + ("..." if len(flat) > limit else "")


# OpenAI-format endpoints; a 404 from one of them on a path with no version segment
# (``/v1``, ``/v1beta``, ...) usually means a base URL that lacks its ``/v1``.
_OPENAI_ENDPOINT = re.compile(r"/(chat/completions|completions|embeddings|responses|models)$")
_VERSION_SEGMENT = re.compile(r"/v\d[^/]*(/|$)")


def missing_v1_hint(url: str) -> str | None:
    """A hint for a 404 from ``url`` when its base URL seems to lack ``/v1``, else None.

    Azure's ``/openai/deployments/...`` paths carry no version segment by design.

    Example:
        >>> missing_v1_hint("http://localhost:8000/chat/completions")
        'is /v1 missing from the base URL? OpenAI-compatible servers usually take http://localhost:8000/v1'
        >>> missing_v1_hint("http://localhost:8000/v1/chat/completions") is None
        True
    """
    path = url.split("?", 1)[0]
    scheme, sep, rest = path.partition("://")
    slash = rest.find("/")
    if not sep or slash < 0:
        return None
    root, path = f"{scheme}://{rest[:slash]}", rest[slash:]
    match = _OPENAI_ENDPOINT.search(path)
    if match is None or _VERSION_SEGMENT.search(path) or "/openai/deployments/" in path:
        return None
    base = root + path[: match.start()]
    return f"is /v1 missing from the base URL? OpenAI-compatible servers usually take {base}/v1"


def make_status_error(
    status: int, headers: Mapping[str, str], body: bytes, *, url: str | None = None
) -> APIStatusError:
    """Build the right ``APIStatusError`` subclass from a response's status, headers and body.

    Args:
        status: the HTTP status code (>= 400).
        headers: response headers (case-insensitive mapping preferred).
        body: the raw body bytes, JSON or not.
        url: the request URL; a 404 from a URL whose base lacks ``/v1`` gets a hint.

    Returns:
        An exception instance, not raised.

    Example:
        >>> make_status_error(429, {}, b'{"error": {"message": "slow down"}}')
        RateLimitError(status_code=429, message='Error code: 429 - slow down', request_id=None)
    """
    exposed, message, _ = _parse_body(body)
    request_id = request_id_from(headers)
    text = message if message else (f"HTTP {status}" if not body else _summarise_text(str(exposed)))
    if status == 404 and url is not None:
        hint = missing_v1_hint(url)
        if hint is not None:
            text = f"{text} ({hint})"
    cls = status_error_class(status)
    err = cls(
        f"Error code: {status} - {text}",
        status_code=status,
        headers=headers,
        body=exposed,
        request_id=request_id,
    )
    err.response.content = body
    return err


def error_from_stream_body(
    data: Any, *, headers: Mapping[str, str] | None = None
) -> APIStatusError:
    """Build the error for an error object found inside a stream.

    ``data`` is the decoded event (``{"error": {...}}`` or Anthropic's
    ``{"type": "error", "error": {...}}``).  The class follows the error's
    type (``overloaded_error`` -> OverloadedError) or its numeric ``code``,
    never the 200 status the stream itself had.
    """
    hdrs: Mapping[str, str] = headers if headers is not None else {}
    inner = data.get("error") if isinstance(data, dict) else None
    if not isinstance(inner, dict):
        inner = data if isinstance(data, dict) else {}
    err_type = inner.get("type")
    code = inner.get("code")
    status = _STATUS_BY_TYPE.get(err_type) if isinstance(err_type, str) else None
    if status is None and isinstance(code, str):
        status = _STATUS_BY_TYPE.get(code)
    if status is None and isinstance(code, int) and 400 <= code < 600:
        status = code
    if status is None:
        status = 500
    message = _str_or_none(inner.get("message")) or "error event in stream"
    exposed = data if isinstance(data, dict) and data.get("type") == "error" else inner
    cls = status_error_class(status)
    return cls(
        f"Error code: {status} - {message}",
        status_code=status,
        headers=hdrs,
        body=exposed,
        request_id=request_id_from(hdrs),
    )
