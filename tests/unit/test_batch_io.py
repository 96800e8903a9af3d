"""Batch files (sans-IO): input parsing, output lines, resume bookkeeping, summaries."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rawllm._batch_io import (
    InputError,
    Request,
    ResumeScan,
    Tally,
    endpoint_for_url,
    eta_seconds,
    format_error,
    format_status_error,
    format_success,
    is_success,
    output_custom_id,
    parse_line,
    progress_line,
    status_error_body,
    summary_json,
    summary_text,
)

ROOT = Path(__file__).resolve().parents[2]
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_module_is_pure() -> None:
    tree = ast.parse((ROOT / "rawllm" / "_batch_io.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    assert not names & {"aiohttp", "asyncio", "time", "random", "os"}, names


# -- input -------------------------------------------------------------------------


def test_batch_api_line() -> None:
    line = {"custom_id": "a-1", "method": "POST", "url": "/v1/chat/completions", "body": BODY}
    req = parse_line(json.dumps(line).encode() + b"\n", 7)
    assert req == Request(7, "a-1", "/v1/chat/completions", BODY)


def test_bare_body_gets_line_number_id() -> None:
    req = parse_line(json.dumps(BODY), 12)
    assert req is not None
    assert req.custom_id == "line-12"
    assert req.url == ""
    assert req.body == BODY


def test_bare_body_custom_id_is_taken_out() -> None:
    req = parse_line(json.dumps({**BODY, "custom_id": "mine"}), 1)
    assert req is not None
    assert req.custom_id == "mine"
    assert "custom_id" not in req.body


def test_anthropic_batch_request_shape() -> None:
    params = {"model": "claude", "max_tokens": 10, "messages": []}
    req = parse_line(json.dumps({"custom_id": "x", "params": params}), 2)
    assert req == Request(2, "x", "/v1/messages", params)


@pytest.mark.parametrize("raw", [b"", b"\n", b"   \r\n", b"\t"])
def test_blank_lines_are_not_requests(raw: bytes) -> None:
    assert parse_line(raw, 1) is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"model": "m", ', "invalid JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'"text"', "expected a JSON object, got str"),
        (b"{}", "empty request body"),
        (b'{"method": "POST", "url": "/v1/chat/completions", "body": {}}', 'missing "custom_id"'),
        (b'{"custom_id": 5, "url": "/v1/chat/completions", "body": {}}', '"custom_id" must be'),
        (b'{"custom_id": "", "url": "/v1/chat/completions", "body": {}}', '"custom_id" must be'),
        (b'{"custom_id": "a", "method": "GET", "url": "/v1/models", "body": {}}', '"method"'),
        (b'{"custom_id": "a", "url": "/v1/completions", "body": {}}', "unsupported url"),
        (b'{"custom_id": "a", "url": "/v1/chat/completions", "body": [1]}', '"body" must be'),
        (b'{"custom_id": "a", "url": 3, "body": {}}', '"url" must be a string'),
        (b'{"custom_id": "a", "params": "x"}', '"params" must be an object'),
        (b"\xff\xfe{}", "invalid JSON"),
    ],
)
def test_malformed_lines_say_why(raw: bytes, reason: str) -> None:
    with pytest.raises(InputError) as info:
        parse_line(raw, 9)
    assert reason in info.value.reason
    assert info.value.line == 9
    assert str(info.value).startswith("line 9: ")


def test_custom_id_length_is_capped() -> None:
    with pytest.raises(InputError, match="longer than"):
        parse_line(json.dumps({"custom_id": "x" * 513, "url": "/v1/embeddings", "body": {}}), 1)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/v1/chat/completions", "chat.completions"),
        ("/chat/completions", "chat.completions"),
        ("chat/completions", "chat.completions"),
        ("/v1/embeddings/", "embeddings"),
        ("/v1/responses?x=1", "responses"),
        ("/v1/messages", "messages"),
    ],
)
def test_endpoint_for_url(url: str, name: str) -> None:
    assert endpoint_for_url(url) == name


def test_endpoint_for_unknown_url() -> None:
    with pytest.raises(InputError, match="unsupported url"):
        endpoint_for_url("/v1/images/generations")


# -- output ------------------------------------------------------------------------


def _one(line: bytes) -> dict[str, Any]:
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    out: dict[str, Any] = json.loads(line)
    return out


def test_success_line_keeps_body_bytes_and_shape() -> None:
    body = b'{"id":"chatcmpl-1","unknown_field":{"deep":[1,2]},"choices":[]}'
    line = format_success(
        id="batch_req_1", custom_id="c", status_code=200, request_id="req_9", body_raw=body
    )
    assert body in line  # copied, not re-encoded
    assert _one(line) == {
        "id": "batch_req_1",
        "custom_id": "c",
        "response": {"status_code": 200, "request_id": "req_9", "body": json.loads(body)},
        "error": None,
    }


def test_pretty_printed_body_becomes_one_line() -> None:
    body = b'{\n  "text": "two\\nlines",\r\n  "n": [1,\n 2]\n}\n'
    line = format_success(id="i", custom_id="c", status_code=200, request_id=None, body_raw=body)
    out = _one(line)
    assert out["response"]["body"] == {"text": "two\nlines", "n": [1, 2]}


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_any_json_body_roundtrips_on_one_line(value: object) -> None:
    body = json.dumps({"v": value}, indent=2).encode()
    line = format_success(id="i", custom_id="c", status_code=200, request_id=None, body_raw=body)
    assert _one(line)["response"]["body"] == {"v": value}


def test_status_error_line_matches_provider_files() -> None:
    body = status_error_body({"message": "too long", "type": "invalid_request_error"}, "x")
    line = format_status_error(
        id="i", custom_id="c", status_code=400, request_id="req_1", body=body
    )
    assert _one(line) == {
        "id": "i",
        "custom_id": "c",
        "response": {
            "status_code": 400,
            "request_id": "req_1",
            "body": {"error": {"message": "too long", "type": "invalid_request_error"}},
        },
        "error": None,
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
            {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
        ),
        ({"error": "model not found"}, {"error": "model not found"}),
        ({"detail": "nope"}, {"detail": "nope"}),
        ("<html>Bad gateway</html>", {"error": {"message": "<html>Bad gateway</html>"}}),
        (None, {"error": {"message": "Error code: 502"}}),
    ],
)
def test_status_error_body_restores_the_envelope(body: object, expected: object) -> None:
    assert status_error_body(body, "Error code: 502") == expected


def test_error_line_for_failures_without_http_answer() -> None:
    line = format_error(id="i", custom_id="c", code="timeout", message="Request timed out.")
    assert _one(line) == {
        "id": "i",
        "custom_id": "c",
        "response": None,
        "error": {"code": "timeout", "message": "Request timed out."},
    }


def test_is_success() -> None:
    ok = {"custom_id": "a", "response": {"status_code": 200, "body": {}}, "error": None}
    assert is_success(ok)
    assert not is_success({**ok, "response": {"status_code": 429, "body": {}}})
    assert not is_success({**ok, "error": {"code": "timeout"}})
    assert not is_success({**ok, "response": None})
    assert not is_success({**ok, "response": {"status_code": "200"}})
    assert not is_success([ok])


def test_output_custom_id() -> None:
    assert output_custom_id({"custom_id": "a", "response": None, "error": {}}) == "a"
    assert output_custom_id({"custom_id": "a"}) is None  # an input line, not an output
    assert output_custom_id({"custom_id": 3, "response": {}}) is None
    assert output_custom_id("a") is None


# -- resume ------------------------------------------------------------------------


def _ok(cid: str) -> bytes:
    return format_success(id="i", custom_id=cid, status_code=200, request_id=None, body_raw=b"{}")


def _failed(cid: str) -> bytes:
    return format_status_error(id="i", custom_id=cid, status_code=500, request_id=None, body={})


def _scan(lines: list[bytes], **kw: bool) -> tuple[ResumeScan, list[bytes]]:
    scan = ResumeScan(**kw)
    kept = [raw for raw in lines if scan.add(raw)]
    return scan, kept


def test_resume_keeps_successes_and_drops_failures() -> None:
    lines = [_ok("a"), _failed("b"), _ok("c")]
    scan, kept = _scan(lines)
    assert scan.done == {"a", "c"}
    assert kept == [lines[0], lines[2]]
    assert scan.dropped_failed == 1
    assert scan.needs_rewrite
    assert scan.kept_bytes == len(lines[0]) + len(lines[2])


def test_resume_keep_failed() -> None:
    lines = [_ok("a"), _failed("b")]
    scan, kept = _scan(lines, keep_failed=True)
    assert scan.done == {"a", "b"}
    assert kept == lines
    assert not scan.needs_rewrite


def test_resume_drops_a_half_written_tail_only_by_truncation() -> None:
    good = [_ok("a"), _ok("b")]
    tail = _ok("c")[:17]
    scan, kept = _scan([*good, tail])
    assert scan.partial_tail
    assert not scan.needs_rewrite  # truncating to kept_bytes is enough
    assert scan.kept_bytes == sum(map(len, good))
    assert scan.done == {"a", "b"}
    assert kept == good


def test_resume_refuses_lines_after_a_partial_one() -> None:
    scan = ResumeScan()
    scan.add(b'{"custom_id"')
    with pytest.raises(ValueError):
        scan.add(_ok("a"))


def test_resume_drops_duplicates_and_garbage() -> None:
    lines = [_ok("a"), _ok("a"), b"not json\n", b"\n", b'{"custom_id": "z"}\n', _ok("b")]
    scan, kept = _scan(lines)
    assert kept == [lines[0], lines[5]]
    assert scan.dropped_duplicate == 1
    assert scan.dropped_invalid == 3
    assert scan.needs_rewrite


def test_resume_success_after_failure_is_kept_once() -> None:
    lines = [_failed("a"), _ok("a"), _ok("a")]
    scan, kept = _scan(lines)
    assert kept == [lines[1]]
    assert scan.done == {"a"}


def test_rescan_of_kept_lines_is_clean() -> None:
    lines = [_ok("a"), _failed("b"), _ok("a"), b"x\n", _ok("c")]
    _, kept = _scan(lines)
    again, kept2 = _scan(kept)
    assert kept2 == kept
    assert not again.needs_rewrite


# -- progress and summary ----------------------------------------------------------------


def test_tally_counts() -> None:
    t = Tally(total=10, skipped=2)
    t.succeeded = 3
    t.add_error("429")
    t.add_error("timeout")
    t.add_error("429")
    t.add_malformed(4, "invalid JSON")
    assert t.done == 6
    assert t.failed_total == 4
    assert t.remaining == 10 - 2 - 6 - 1
    assert t.errors == {"429": 2, "timeout": 1}


def test_malformed_reports_are_capped() -> None:
    t = Tally()
    for n in range(Tally.MAX_REPORTED + 5):
        t.add_malformed(n, "bad")
    assert t.malformed == Tally.MAX_REPORTED + 5
    assert len(t.malformed_lines) == Tally.MAX_REPORTED


def test_progress_line_and_eta() -> None:
    t = Tally(total=100, succeeded=20, failed=5, retries=7, rate_limited=2, prompt_tokens=30)
    line = progress_line(t, 5.0)
    assert "25/100 done" in line
    assert "5 failed" in line
    assert "7 retries" in line
    assert "2 429s" in line
    assert "5.0 req/s" in line
    assert "30 tokens" in line
    assert eta_seconds(t, 5.0) == pytest.approx(75 / 5.0)
    assert "ETA 15s" in line
    assert "ETA ?" in progress_line(Tally(), 1.0)


def test_summary_json_content() -> None:
    t = Tally(total=3, succeeded=1, skipped=1)
    t.add_malformed(2, "invalid JSON")
    data = msgspec.json.decode(summary_json(t, 2.0, interrupted=True, output="o.jsonl"))
    assert data["output"] == "o.jsonl"
    assert data["succeeded"] == 1
    assert data["failed_total"] == 1
    assert data["skipped_already_done"] == 1
    assert data["not_run"] == 0
    assert data["malformed_lines"] == [{"line": 2, "reason": "invalid JSON"}]
    assert data["interrupted"] is True
    assert data["requests_per_s"] == 0.5


def test_summary_text_mentions_resume_when_interrupted() -> None:
    t = Tally(total=10, succeeded=4)
    t.add_error("500")
    text = summary_text(t, 3.0, interrupted=True)
    assert text.startswith("interrupted: 4 succeeded, 1 failed")
    assert "500 x1" in text
    assert "not run: 5" in text
    t.succeeded = 9
    assert "not run" not in summary_text(t, 3.0, interrupted=False)


def test_throttle_in_progress_line_summary_and_json() -> None:
    from rawllm._limiter import LimiterState

    base = dict(
        in_flight=1, waiting=5, max_concurrency=None, paused_for=0.0, next_start_in=0.1,
        tokens_per_minute=None, learned_requests_per_minute=None,
        learned_tokens_per_minute=None, rate_factor=0.5, token_backlog=0.0, started=10,
        rate_limited=2, probing=False, store_available=True, slowdowns=1,
    )  # fmt: skip
    t = Tally(total=10, succeeded=4)
    t.observe_limiter(
        LimiterState(requests_per_minute=720.0, reason="429 without rate headers", **base)  # type: ignore[arg-type]
    )
    line = progress_line(t, 2.0)
    assert line.endswith(", pacing 12 req/s after 429 without rate headers")
    text = summary_text(t, 3.0, interrupted=False)
    assert "throttled: 1 slowdown(s), last after 429 without rate headers" in text
    assert "lowest pace 12 req/s" in text
    t.observe_limiter(LimiterState(requests_per_minute=None, reason=None, **base))  # type: ignore[arg-type]
    assert t.throttled is None and progress_line(t, 2.0).endswith("ETA 3s")
    d = t.to_dict(elapsed=1.0, interrupted=False)
    assert d["slowdowns"] == 1 and d["lowest_pace_per_s"] == 12.0
    assert d["throttle_cause"] == "429 without rate headers"
