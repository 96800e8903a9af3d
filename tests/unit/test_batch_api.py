"""The pure part of the providers' Batch APIs: input lines, splitting, output lines, state."""

from __future__ import annotations

import msgspec
import pytest

from rawllm._batch_api import (
    LIMITS,
    BatchState,
    Limits,
    LineSplitter,
    Part,
    Splitter,
    UsageError,
    batch_input_line,
    convert_anthropic_result,
    convert_openai_line,
    decode_state,
    encode_state,
    state_counts,
)
from rawllm._batch_io import (
    InputError,
    ResumeScan,
    format_error,
    format_status_error,
    format_success,
    parse_line,
)

CHAT = (
    b'{"custom_id": "q1", "method": "POST", "url": "/v1/chat/completions", '
    b'"body": {"model": "m", "messages": []}}'
)


def test_documented_limits() -> None:
    assert LIMITS["openai"] == Limits(max_requests=50_000, max_bytes=200_000_000)
    assert LIMITS["anthropic"] == Limits(max_requests=100_000, max_bytes=256_000_000)


def test_openai_line_keeps_request_and_default_url() -> None:
    req = parse_line(CHAT, 1)
    assert req is not None
    endpoint, line = batch_input_line(req, "openai", "chat.completions")
    assert endpoint == "chat.completions" and line.endswith(b"\n")
    assert msgspec.json.decode(line) == msgspec.json.decode(CHAT)
    bare = parse_line(b'{"model": "e", "input": "x"}', 7)
    assert bare is not None
    endpoint, line = batch_input_line(bare, "openai", "embeddings")
    assert endpoint == "embeddings"
    assert msgspec.json.decode(line) == {
        "custom_id": "line-7",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "e", "input": "x"},
    }


def test_anthropic_line_and_wrong_provider_usage_errors() -> None:
    req = parse_line(b'{"custom_id": "a-1", "params": {"model": "c", "max_tokens": 5}}', 1)
    assert req is not None
    endpoint, obj = batch_input_line(req, "anthropic", "messages")
    assert endpoint == "messages"
    assert msgspec.json.decode(obj) == {
        "custom_id": "a-1",
        "params": {"model": "c", "max_tokens": 5},
    }
    with pytest.raises(UsageError, match="--provider anthropic"):
        batch_input_line(req, "openai", "chat.completions")
    chat = parse_line(CHAT, 3)
    assert chat is not None
    with pytest.raises(UsageError, match="line 3.*--provider openai"):
        batch_input_line(chat, "anthropic", "messages")


def test_item_errors() -> None:
    streaming = parse_line(b'{"model": "m", "messages": [], "stream": true}', 2)
    assert streaming is not None
    with pytest.raises(InputError, match="stream"):
        batch_input_line(streaming, "openai", "chat.completions")
    bad_id = parse_line(b'{"custom_id": "has space", "params": {"model": "c"}}', 4)
    assert bad_id is not None
    with pytest.raises(InputError, match="custom_id"):
        batch_input_line(bad_id, "anthropic", "messages")


def test_splitter_respects_both_limits() -> None:
    s = Splitter(Limits(max_requests=3, max_bytes=100))
    starts = [s.add(n) for n in (10, 10, 10, 10, 60, 40, 1)]
    # count limit cuts after 3; bytes: 10+60 fit, +40 > 100 cuts; 40+1 fits.
    assert starts == [True, False, False, True, False, True, False]
    with pytest.raises(InputError, match="larger than the batch limit"):
        s.add(101)
    # Overhead and fixed cost count too (Anthropic's JSON array).
    a = Splitter(Limits(max_requests=10, max_bytes=30), overhead=1, fixed=14)
    assert [a.add(7) for _ in range(3)] == [True, False, True]


def test_splitter_is_deterministic_and_never_over() -> None:
    sizes = [(i * 37) % 90 + 1 for i in range(500)]
    lim = Limits(max_requests=17, max_bytes=400)
    runs = []
    for _ in range(2):
        s = Splitter(lim)
        parts: list[list[int]] = []
        for n in sizes:
            if s.add(n):
                parts.append([])
            parts[-1].append(n)
        runs.append(parts)
    assert runs[0] == runs[1]
    assert all(len(p) <= 17 and sum(p) <= 400 for p in runs[0])
    assert sum(len(p) for p in runs[0]) == 500


@pytest.mark.parametrize("step", [1, 2, 5, 1000])
def test_line_splitter_any_chunking(step: int) -> None:
    data = b'{"a":1}\n\n{"b":2}\n{"c":3}'
    s = LineSplitter()
    out: list[bytes] = []
    for i in range(0, len(data), step):
        out += s.feed(data[i : i + step])
    out += s.close()
    assert out == [b'{"a":1}\n', b"\n", b'{"b":2}\n', b'{"c":3}\n']


def test_openai_output_lines_are_online_lines() -> None:
    ok = (
        b'{"id": "batch_req_1", "custom_id": "q1", "response": {"status_code": 200, '
        b'"request_id": "r1", "body": {"id": "c", "choices": []}}, "error": null}\n'
    )
    cid, line, success = convert_openai_line(ok)  # type: ignore[misc]
    assert (cid, success) == ("q1", True)
    assert line == format_success(
        id="batch_req_1",
        custom_id="q1",
        status_code=200,
        request_id="r1",
        body_raw=b'{"id": "c", "choices": []}',
    )
    err = (
        b'{"id": "batch_req_2", "custom_id": "q2", "response": {"status_code": 400, '
        b'"request_id": "r2", "body": {"error": {"message": "bad"}}}, "error": null}'
    )
    cid, line, success = convert_openai_line(err)  # type: ignore[misc]
    assert (cid, success) == ("q2", False)
    assert line == format_status_error(
        id="batch_req_2",
        custom_id="q2",
        status_code=400,
        request_id="r2",
        body={"error": {"message": "bad"}},
    )
    expired = (
        b'{"id": "batch_req_3", "custom_id": "q3", "response": null, '
        b'"error": {"code": "batch_expired", "message": "late"}}'
    )
    cid, line, success = convert_openai_line(expired)  # type: ignore[misc]
    assert line == format_error(
        id="batch_req_3", custom_id="q3", code="batch_expired", message="late"
    )
    assert convert_openai_line(b"\n") is None
    with pytest.raises(ValueError):
        convert_openai_line(b'{"nope": 1}')


def test_anthropic_results_become_online_lines() -> None:
    msg = b'{"id": "msg_1", "type": "message", "content": [{"type": "text", "text": "hi"}]}'
    ok = b'{"custom_id": "a", "result": {"type": "succeeded", "message": ' + msg + b"}}"
    cid, line, success = convert_anthropic_result(ok, "batch_req_x")  # type: ignore[misc]
    assert (cid, success) == ("a", True)
    assert line == format_success(
        id="batch_req_x", custom_id="a", status_code=200, request_id=None, body_raw=msg
    )
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "bad"},
        "request_id": "req_9",
    }
    errored = msgspec.json.encode({"custom_id": "b", "result": {"type": "errored", "error": body}})
    cid, line, success = convert_anthropic_result(errored, "i2")  # type: ignore[misc]
    assert line == format_status_error(
        id="i2", custom_id="b", status_code=400, request_id="req_9", body=body
    )
    over = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    line = convert_anthropic_result(
        msgspec.json.encode({"custom_id": "o", "result": {"type": "errored", "error": over}}), "i"
    )[1]  # type: ignore[index]
    assert msgspec.json.decode(line)["response"]["status_code"] == 529
    for typ, code in (("canceled", "batch_cancelled"), ("expired", "batch_expired")):
        raw = msgspec.json.encode({"custom_id": "c", "result": {"type": typ}})
        cid, line, success = convert_anthropic_result(raw, "i3")  # type: ignore[misc]
        out = msgspec.json.decode(line)
        assert success is False and out["response"] is None and out["error"]["code"] == code


def test_converted_lines_resume_like_online_lines() -> None:
    ok = b'{"custom_id": "a", "result": {"type": "succeeded", "message": {"id": "m"}}}'
    exp = b'{"custom_id": "b", "result": {"type": "expired"}}'
    scan = ResumeScan()
    for raw in (ok, exp):
        scan.add(convert_anthropic_result(raw, "x")[1])  # type: ignore[index]
    assert scan.done == {"a"} and scan.dropped_failed == 1


def test_state_round_trip() -> None:
    state = BatchState(
        provider="openai",
        input="in.jsonl",
        input_size=10,
        parts=[
            Part(
                index=0,
                path="p0.jsonl",
                endpoint="chat.completions",
                requests=2,
                bytes=9,
                file_id="file-1",
                batch_id="batch_1",
                status="in_progress",
            ),
            Part(
                index=1,
                path="p1.jsonl",
                endpoint="chat.completions",
                requests=1,
                bytes=4,
                written=True,
            ),
            Part(index=2, path="p2.jsonl", endpoint="embeddings", requests=1, bytes=4),
        ],
    )
    again = decode_state(encode_state(state))
    assert again == state
    assert [p.index for p in again.pending()] == [0, 2]
    assert state_counts(again.parts) == {"in_progress": 1, "written": 1, "submitting": 1}
    with pytest.raises(ValueError):
        decode_state(b"{}")
    with pytest.raises(ValueError, match="version"):
        decode_state(b'{"version": 9, "provider": "openai", "input": "x", "input_size": 1}')
