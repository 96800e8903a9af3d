"""Pieces every wire module shares: the validation error, the generic decode, slow-path patching.

Sans-IO.  The fast paths live in each wire module (one typed decode); these
helpers run only when a body is invalid or carries a type rawllm does not
know yet.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from .._exceptions import APIResponseValidationError

__all__ = ["any_decoder", "body_text", "generic", "invalid", "put", "union_tags"]

any_decoder: Final = msgspec.json.Decoder()
"""Decodes any JSON to plain Python objects (module-level: built once)."""


def body_text(body: bytes | str) -> str:
    """The body as text, invalid UTF-8 replaced (for an error's ``.body``)."""
    return body if isinstance(body, str) else body.decode("utf-8", "replace")


def invalid(what: str, body: bytes | str, exc: Exception) -> APIResponseValidationError:
    """The error for a 2xx body that is not JSON or does not fit ``what``."""
    if isinstance(exc, msgspec.ValidationError):
        reason = f"the body does not fit {what}: {exc}"
    else:  # DecodeError, UnicodeDecodeError
        reason = f"the body is not valid JSON ({exc})"
    return APIResponseValidationError(
        f"Data returned by API invalid for expected schema: {reason}", body=body_text(body)
    )


def generic(body: bytes | str, what: str) -> Any:
    """Decode to plain Python objects, or raise ``invalid()``."""
    try:
        return any_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise invalid(what, body, exc) from exc


def put(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    """Set ``value`` at ``path`` (list indexes and attribute names) inside ``obj``."""
    for key in path[:-1]:
        obj = obj[key] if isinstance(key, int) else getattr(obj, key)
    last = path[-1]
    if isinstance(last, int):
        obj[last] = value
    else:
        setattr(obj, last, value)


def union_tags(union: Any) -> frozenset[str]:
    """The ``type`` tags of a tagged union of Structs (to tell known tags from new ones)."""
    return frozenset(cls.__struct_config__.tag for cls in union.__args__)
