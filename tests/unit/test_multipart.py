"""multipart/form-data encoding, checked by an independent parser (the stdlib's email)."""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP

import pytest

from rawllm._multipart import FilePart, encode_multipart


def _parse(body: bytes, ctype: str) -> list[tuple[str | None, str | None, bytes]]:
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
    )
    assert msg.is_multipart()
    out = []
    for part in msg.iter_parts():
        payload = part.get_payload(decode=True)
        out.append(
            (part.get_param("name", header="content-disposition"), part.get_filename(), payload)
        )
    return out


def test_fields_then_files_round_trip() -> None:
    data = b'{"custom_id": "a"}\n{"custom_id": "b"}\n'
    body, ctype = encode_multipart(
        [("purpose", "batch")], [FilePart("file", "in.jsonl", data, "application/jsonl")]
    )
    assert ctype.startswith("multipart/form-data; boundary=")
    assert _parse(body, ctype) == [("purpose", None, b"batch"), ("file", "in.jsonl", data)]
    assert body.endswith(b"--\r\n")


def test_same_form_same_bytes_and_given_boundary() -> None:
    form = ([("purpose", "batch")], [FilePart("file", "x", b"abc")])
    assert encode_multipart(*form) == encode_multipart(*form)
    body, ctype = encode_multipart(*form, boundary="XyZ")
    assert ctype == "multipart/form-data; boundary=XyZ"
    assert body.startswith(
        b'--XyZ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
    )


def test_names_cannot_break_the_header_line() -> None:
    body, ctype = encode_multipart([], [FilePart("file", 'a"\r\nX-Evil: 1.jsonl', b"z")])
    assert b"X-Evil: 1" not in body.split(b"\r\n")
    assert b'filename="a%22%0D%0AX-Evil: 1.jsonl"' in body


@pytest.mark.parametrize("boundary", ["", "a\r\nb", 'q"', "x" * 71, "trail "])
def test_invalid_boundary_refused(boundary: str) -> None:
    with pytest.raises(ValueError, match="boundary"):
        encode_multipart([("a", "b")], [], boundary=boundary)


def test_boundary_inside_content_refused() -> None:
    with pytest.raises(ValueError, match="occurs"):
        encode_multipart([], [FilePart("file", "f", b"x\r\n--B\r\ny")], boundary="B")
    with pytest.raises(ValueError, match="occurs"):
        encode_multipart([("v", "--B")], [], boundary="B")
