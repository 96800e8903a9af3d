"""Error answers in each provider's format, and the broken payloads of the fault steps.

HTTP error bodies (OpenAI ``{"error": {...}}``, Anthropic ``{"type": "error"}``),
the in-stream error frame of each API (``error@N``), an nginx HTML 502
(``html502``), and the malformed or wrongly shaped JSON of ``malformed`` and
``badshape``.
"""

from __future__ import annotations

from typing import Any

from ._render_common import encode

__all__ = [
    "BADSHAPE_JSON",
    "HTML_502",
    "MALFORMED_JSON",
    "bad_frame",
    "error_body",
    "model_not_found",
    "stream_error",
]

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


def model_not_found(model: str, anthropic: bool) -> str:
    """The providers' own 404 message for a model they do not serve."""
    if anthropic:
        return f"model: {model}"
    return f"The model `{model}` does not exist or you do not have access to it."


def error_body(
    anthropic: bool,
    status: int,
    message: str | None = None,
    code: str | None = None,
    etype: str | None = None,
) -> bytes:
    """An error body in the provider's format for ``status``.

    A 404 with its own message (an unknown URL or object) has ``code: null``, as
    at OpenAI: ``model_not_found`` goes with the default (unknown model) message,
    or with a message naming the model when ``code`` says so.  ``etype``
    replaces the usual error type (another server's, e.g. Ollama's).
    """
    if anthropic:
        atype, default = _ANTHROPIC_ERRORS.get(
            status, ("api_error" if status >= 500 else "invalid_request_error", "Error")
        )
        error = {"type": etype or atype, "message": message or default}
        return encode({"type": "error", "error": error})
    explicit = code
    otype, odefault, code = _OPENAI_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", "Error", None)
    )
    otype = etype or otype
    if status == 404 and message is not None:
        code = explicit
    return encode(
        {"error": {"message": message or odefault, "type": otype, "param": None, "code": code}}
    )


def stream_error(api: str, error_type: str | None, seq: int) -> bytes:
    """The in-stream error frame of ``api`` (``seq``: the Responses sequence number)."""
    if api == "messages":
        etype = error_type or "overloaded_error"
        msg = {t: m for t, m in _ANTHROPIC_ERRORS.values()}.get(etype, "Error")
        payload: dict[str, Any] = {"type": "error", "error": {"type": etype, "message": msg}}
        return b"event: error\ndata: " + encode(payload) + b"\n\n"
    message = "The server had an error while processing your request. Sorry about that!"
    if api == "responses":
        payload = {
            "type": "error",
            "code": error_type or "server_error",
            "message": message,
            "param": None,
            "sequence_number": seq,
        }
        return b"event: error\ndata: " + encode(payload) + b"\n\n"
    payload = {
        "error": {
            "message": message,
            "type": error_type or "server_error",
            "param": None,
            "code": None,
        }
    }
    return b"data: " + encode(payload) + b"\n\n"


MALFORMED_JSON = b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"ind'
BADSHAPE_JSON = {
    "chat": b'{"id": 42, "object": "chat.completion", "choices": "none", "usage": []}',
    "responses": b'{"id": 42, "object": "response", "output": "none", "status": 7}',
    "messages": b'{"id": 42, "type": "message", "content": "none", "usage": []}',
    "embeddings": b'{"object": "list", "data": "none", "usage": 3}',
    "models": b'{"object": "list", "data": 5}',
    "count_tokens": b'{"input_tokens": "many"}',
}


def bad_frame(api: str, malformed: bool) -> bytes:
    """A stream frame of ``api`` with invalid JSON (``malformed``) or a wrong shape."""
    if api == "chat":
        return b"data: " + (MALFORMED_JSON if malformed else b'{"choices": 5}') + b"\n\n"
    event = b"content_block_delta" if api == "messages" else b"response.output_text.delta"
    data = (
        MALFORMED_JSON
        if malformed
        else (
            b'{"type": "content_block_delta", "index": "zero", "delta": 7}'
            if api == "messages"
            else b'{"type": "response.output_text.delta", "delta": 7, "sequence_number": "x"}'
        )
    )
    return b"event: " + event + b"\ndata: " + data + b"\n\n"
