"""Configuration checks: every mistake is a ``ValueError`` before any byte is sent.

Invariants:
- a header name is an RFC 9110 token; a header value has no control
  character other than horizontal tab (so no CR, LF or NUL: nothing a value
  can do splits a request or smuggles a header);
- a base URL is absolute ``http://`` or ``https://`` with a host;
- messages name the header and the offending character's position, never the
  value (it may be an API key), and pass through ``redact()``.

Pure: no IO, no aiohttp, no asyncio.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ._exceptions import redact

__all__ = ["check_base_url", "check_cap", "check_headers"]

# RFC 9110 5.6.2 token: 1*tchar.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Anything but HTAB, SP..~ and obs-text (0x80-0xFF, and any non-Latin-1 text that
# encodes to such bytes): the C0 controls and DEL.
_BAD_VALUE_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_headers(headers: Mapping[str, Any] | None, where: str) -> None:
    """Raise ``ValueError`` for a header that is not a valid HTTP field.

    Args:
        headers: the mapping to check (None is fine).
        where: what the headers are, for the message (``"default_headers"``, ...).

    Raises:
        ValueError: naming the header and the first bad character (never the value).

    Example:
        >>> check_headers({"X-Trace": "a\\r\\nb"}, "extra_headers")
        Traceback (most recent call last):
        ...
        ValueError: extra_headers: header 'X-Trace' has an invalid character (0x0d at ...
    """
    if not headers:
        return
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            shown = redact(repr(name))[:80]
            raise ValueError(f"{where}: {shown} is not a valid HTTP header name")
        if not isinstance(value, str):
            raise ValueError(f"{where}: header {name!r} must be a str, got {type(value).__name__}")
        bad = _BAD_VALUE_CHAR.search(value)
        if bad is not None:
            raise ValueError(
                f"{where}: header {name!r} has an invalid character "
                f"(0x{ord(bad.group()):02x} at position {bad.start()}) in its value"
            )


def check_base_url(url: str, what: str = "base_url") -> None:
    """Raise ``ValueError`` unless ``url`` is an absolute http(s) URL with a host.

    Example:
        >>> check_base_url("api.openai.com/v1")
        Traceback (most recent call last):
        ...
        ValueError: base_url must start with http:// or https:// (got 'api.openai.com/v1')
    """
    if not isinstance(url, str):
        raise ValueError(f"{what} must be a str, got {type(url).__name__}")
    shown = redact(repr(url))[:200]
    if _BAD_VALUE_CHAR.search(url) or " " in url:
        raise ValueError(f"{what} contains whitespace or a control character: {shown}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a non-numeric or out-of-range port
    except ValueError as exc:
        raise ValueError(f"{what} is not a valid URL ({exc}): {shown}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"{what} must start with http:// or https:// (got {shown})")
    if not parts.hostname:
        raise ValueError(f"{what} has no host: {shown}")


def check_cap(name: str, value: Any) -> int:
    """A ``max_*_bytes`` option: a positive int."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int (bytes), got {value!r}")
    return value
