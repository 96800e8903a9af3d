"""multipart/form-data bodies (RFC 7578) for file uploads.

Pure: no IO, no clock, no RNG (the boundary is passed in, or derived from
the content so that the same form always gives the same bytes).

Invariants:
- the boundary never occurs in any part (a given boundary that does is refused);
- field names and file names are sent as quoted-strings with ``"``, CR and LF
  percent-encoded, as RFC 7578 section 2 and the WHATWG form encoding do, so a
  name can never break out of its header line;
- every line ends in CRLF; the body ends with the closing delimiter and CRLF.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FilePart", "encode_multipart"]


@dataclass(frozen=True, slots=True)
class FilePart:
    """A file field: its name, the file name sent, its bytes and content type."""

    name: str
    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


def _quote(value: str) -> str:
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def _boundary_for(fields: Sequence[tuple[str, str]], files: Sequence[FilePart]) -> str:
    h = hashlib.sha256()
    for name, value in fields:
        h.update(name.encode() + b"\0" + value.encode() + b"\0")
    for f in files:
        h.update(f.name.encode() + b"\0" + f.filename.encode() + b"\0")
        h.update(hashlib.sha256(f.data).digest())
    # A digest of everything the body contains cannot occur inside it except by
    # a hash collision; checked below anyway.
    return "rawllm-" + h.hexdigest()[:32]


def encode_multipart(
    fields: Sequence[tuple[str, str]],
    files: Sequence[FilePart],
    *,
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """Encode a form: plain fields first, then files.

    Args:
        fields: ``(name, value)`` text fields, in order.
        files: file fields, in order.
        boundary: the boundary to use (default: derived from the content).

    Returns:
        ``(body, content_type)``; the content type carries the boundary.

    Raises:
        ValueError: the boundary occurs in a part, or is not a valid RFC 2046 boundary.

    Example:
        >>> body, ctype = encode_multipart([("purpose", "batch")],
        ...     [FilePart("file", "in.jsonl", b"{}\\n", "application/jsonl")], boundary="b")
        >>> ctype
        'multipart/form-data; boundary=b'
    """
    if boundary is None:
        boundary = _boundary_for(fields, files)
    bad = any(c in boundary for c in '\r\n"') or boundary.endswith(" ")
    if bad or not 1 <= len(boundary) <= 70:
        raise ValueError(f"invalid multipart boundary {boundary!r}")
    delim = b"--" + boundary.encode("ascii")
    chunks: list[bytes] = []
    for name, value in fields:
        data = value.encode()
        if delim in data:
            raise ValueError("the multipart boundary occurs in a field value")
        chunks += [
            delim,
            b"\r\n",
            f'Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode(),
            data,
            b"\r\n",
        ]
    for f in files:
        if delim in f.data:
            raise ValueError("the multipart boundary occurs in a file's content")
        head = (
            f'Content-Disposition: form-data; name="{_quote(f.name)}"; '
            f'filename="{_quote(f.filename)}"\r\n'
            f"Content-Type: {f.content_type}\r\n\r\n"
        )
        chunks += [delim, b"\r\n", head.encode(), f.data, b"\r\n"]
    chunks += [delim, b"--\r\n"]
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
