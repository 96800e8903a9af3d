"""Base Struct for top-level results: carries ``_request_id`` and the raw body for ``to_dict()``.

Invariant: decoding pays nothing for ``to_dict()``; the kept bytes are only
decoded again when a user asks for the whole body, unknown fields included.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from .._exceptions import request_id_from

__all__ = ["BaseModel", "Result", "StreamItem", "UnknownObject", "attach", "keep_raw_fields"]


class BaseModel(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of nested objects: unknown fields ignored, optional fields default to None."""

    def to_dict(self) -> dict[str, Any]:
        """This object as plain Python data (dicts, lists, str, numbers)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out

    def model_dump(self, *, exclude_none: bool = False, **_pydantic_options: Any) -> dict[str, Any]:
        """``to_dict()``, under the official SDKs' (pydantic) name.

        Args:
            exclude_none: drop keys whose value is None, at every depth.
            **_pydantic_options: pydantic's other options (``mode``, ``by_alias``,
                ``exclude_unset``) are accepted for drop-in use: the output is always
                JSON-ready data.
        """
        out = self.to_dict()
        return _drop_none(out) if exclude_none else out

    def model_dump_json(self, *, indent: int | None = None, **_pydantic_options: Any) -> str:
        """This object as JSON text (for a top-level result: the body as received)."""
        raw = self.__dict__.get("_raw") if hasattr(self, "__dict__") else None
        if raw is not None and indent is None:
            return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        data = msgspec.json.encode(self.to_dict())
        if indent is not None:
            data = msgspec.json.format(data, indent=indent)
        return data.decode()


class Result(BaseModel, kw_only=True, omit_defaults=True, dict=True):
    """Base of top-level results (a response body, a stream chunk).

    ``_request_id`` is the provider's request id (``x-request-id`` /
    ``request-id``), ``None`` when the server sent none; ``_retries`` is how
    many retries the call took.  ``to_dict()`` gives
    the whole body as sent, unknown fields included.
    """

    _raw: ClassVar[bytes | str | None] = None
    _retries: ClassVar[int] = 0
    _raw_fields: ClassVar[dict[str, Any] | None] = None

    @property
    def _request_id(self) -> str | None:
        """The provider's request id: as attached, else read from the answer's headers.

        Read when asked, not per call: most callers never look at it, and the
        headers are kept anyway (``with_raw_response``).
        """
        d = self.__dict__
        if "_request_id" in d:
            rid: str | None = d["_request_id"]
            return rid
        http = d.get("_http")
        rid = d["_request_id"] = None if http is None else request_id_from(http[1])
        return rid

    @property
    def raw_fields(self) -> dict[str, Any]:
        """Values that did not fit their declared type, as sent, by JSON path.

        Empty for every body that decoded strictly (the common case).  When a
        field's value has an unexpected shape, the answer is not lost: the
        field reads as its default (usually ``None``) and its value as sent is
        here, under msgspec's path notation (it is in ``to_dict()`` too).

        Example:
            >>> resp.raw_fields
            {'$.choices[0].logprobs': {'content': 'unexpected'}}
        """
        kept = self.__dict__.get("_raw_fields")
        return dict(kept) if kept else {}

    def to_dict(self) -> dict[str, Any]:
        """The whole body as the server sent it, unknown fields included.

        Example:
            >>> resp.to_dict()["system_fingerprint"]
        """
        raw = self.__dict__.get("_raw")
        if raw is not None:
            out: dict[str, Any] = msgspec.json.decode(raw)
            return out
        return super().to_dict()


class StreamItem(BaseModel, kw_only=True, omit_defaults=True, gc=False):
    """Base of stream items (chunks, stream events): untracked by the GC, no ``__dict__``.

    A long stream creates one of these per event and the stream keeps them
    for ``final()``; GC tracking and a per-item ``__dict__`` cost about
    0.1-0.4 us per event, so items carry no raw bytes: ``to_dict()`` gives
    their typed fields, and the request id is on the stream
    (``stream.request_id``).  ``_request_id`` reads as ``None``.
    """

    _request_id: ClassVar[str | None] = None


class UnknownObject(dict[str, Any]):
    """An object of a ``type`` this version of rawllm does not know: its own dict, as sent.

    ``.type`` and ``.data`` read it like the typed objects, and sending it
    back (in ``messages`` or ``input``) sends it unchanged.
    """

    __slots__ = ()

    @property
    def type(self) -> str:
        """The object's ``type`` tag as sent."""
        return str(self.get("type"))

    @property
    def data(self) -> dict[str, Any]:
        """The whole object as sent (this dict itself)."""
        return self

    def to_dict(self) -> dict[str, Any]:
        """The object as sent (a plain copy)."""
        return dict(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"


def keep_raw_fields(result: Result, kept: dict[str, Any]) -> None:
    """Record the values the tolerant decode set aside (``Result.raw_fields``)."""
    if kept:
        result.__dict__["_raw_fields"] = kept


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def attach(result: Result, raw: bytes | str | None, request_id: str | None) -> None:
    """Attach the raw body and request id to a decoded result (cheap: two dict stores)."""
    d = result.__dict__
    d["_raw"] = raw
    d["_request_id"] = request_id
