"""``rawllm batch --via batch-api`` end to end against the mock, and the online run's early stop,
provider check and sharding."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_cli import env, read_output, spawn, write_input

from rawllm import _batch_api
from rawllm._cli import main
from rawllm.testing import MockServer


@dataclass
class Ran:
    returncode: int | str | None
    stderr: str


@pytest.fixture
def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Ran]:
    """``rawllm ...`` in this process (no interpreter start-up): exit status and stderr."""
    for k in list(os.environ):
        if k.startswith(("OPENAI_", "ANTHROPIC_")):
            monkeypatch.delenv(k)
    # The CLI runs on uvloop when it is installed; the fault script ("ok,ok,400,ok") hits
    # requests in the order they reach the mock, which follows the loop's scheduling, and
    # these tests compare runs request by request: pin asyncio's loop.
    monkeypatch.setitem(sys.modules, "uvloop", None)

    def run(*args: str, cwd: Path | None = None) -> Ran:
        capsys.readouterr()
        try:
            code: int | str | None = main(list(args))
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code
        return Ran(code, capsys.readouterr().err)

    return run


def _messages_input(path: Path, n: int) -> None:
    rows = [
        {
            "custom_id": f"req-{i}",
            "params": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 64,
                "messages": [{"role": "user", "content": f"prompt {i}"}],
            },
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _shape(line: dict[str, Any]) -> tuple[Any, ...]:
    """What must be equal between an online and a Batch API output line (ids and times aside)."""
    resp = line["response"]
    if resp is None:
        return (line["custom_id"], None, line["error"]["code"])
    body = resp["body"]
    if resp["status_code"] != 200:
        return (line["custom_id"], resp["status_code"], sorted(body), line["error"])
    text = (
        body["choices"][0]["message"]["content"]
        if "choices" in body
        else body["content"][0]["text"]
    )
    return (line["custom_id"], 200, sorted(line), sorted(resp), sorted(body), text)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_batch_api_writes_the_online_lines(
    tmp_path: Path, provider: str, run_cli: Callable[..., Ran]
) -> None:
    inp = tmp_path / "in.jsonl"
    if provider == "openai":
        write_input(inp, 12)
    else:
        _messages_input(inp, 12)
    common = ["--mock", "--provider", provider, "--mock-faults", "ok,ok,400,ok"]
    online = run_cli("batch", str(inp), "-o", str(tmp_path / "a.jsonl"), *common, cwd=tmp_path)
    assert online.returncode == 1, online.stderr
    summary = tmp_path / "s.json"
    via = run_cli(
        "batch", str(inp), "-o", str(tmp_path / "b.jsonl"), *common, "--via", "batch-api",
        "--mock-batch-phase", "0.05", "--summary-json", str(summary), cwd=tmp_path,
    )  # fmt: skip
    assert via.returncode == 1, via.stderr
    a = sorted(map(_shape, read_output(tmp_path / "a.jsonl")), key=str)
    b = sorted(map(_shape, read_output(tmp_path / "b.jsonl")), key=str)
    assert a == b and len(b) == 12
    data = json.loads(summary.read_text())
    assert (data["succeeded"], data["failed"], data["errors"]) == (11, 1, {"400": 1})
    assert data["via"] == "batch-api" and len(data["batches"]) == 1
    assert not (tmp_path / "b.jsonl.rawllm-batch").exists(), "state removed once written"


def test_batch_api_splits_within_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_batch_api.LIMITS, "openai", _batch_api.Limits(7, 10**9))
    for k, v in env().items():
        monkeypatch.setenv(k, v)
    inp, out, summary = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "s.json"
    write_input(inp, 20)
    code = main([
        "batch", str(inp), "-o", str(out), "--mock", "--via", "batch-api",
        "--mock-batch-phase", "0.02", "--poll-interval", "0.02", "--progress", "none",
        "--summary-json", str(summary),
    ])  # fmt: skip
    assert code == 0
    assert Counter(x["custom_id"] for x in read_output(out)) == Counter(
        f"req-{i}" for i in range(20)
    )
    assert len(json.loads(summary.read_text())["batches"]) == 3  # 7 + 7 + 6


def test_batch_api_resumes_after_kill_9(tmp_path: Path, run_cli: Callable[..., Ran]) -> None:
    server = MockServer(batch_phase=0.6, record=False).start_in_thread()
    try:
        inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        write_input(inp, 40)
        args = [
            "batch", str(inp), "-o", str(out), "--via", "batch-api", "--base-url",
            server.openai_base_url, "--api-key", "k", "--poll-interval", "0.05",
        ]  # fmt: skip
        proc = spawn(*args, cwd=tmp_path)
        state = tmp_path / "out.jsonl.rawllm-batch" / "state.json"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if state.exists() and '"batch_id": "batch_' in state.read_text():
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert '"batch_id": "batch_' in state.read_text()
        # As if the kill came mid-download: 5 answers written, then half a line.
        done = [
            {"id": f"x{i}", "custom_id": f"req-{i}", "error": None,
             "response": {"status_code": 200, "request_id": None, "body": {"kept": i}}}
            for i in range(5)
        ]  # fmt: skip
        out.write_text("".join(json.dumps(x) + "\n" for x in done) + '{"id": "x5", "cust')
        again = run_cli(*args, "--summary-json", str(tmp_path / "s.json"), cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "resuming 1 batch from" in again.stderr
        summary = json.loads((tmp_path / "s.json").read_text())
        assert (summary["skipped_already_done"], summary["succeeded"]) == (5, 35)
        lines = read_output(out)
        assert [x["response"]["body"] for x in lines[:5]] == [{"kept": i} for i in range(5)]
        assert Counter(x["custom_id"] for x in lines) == Counter(f"req-{i}" for i in range(40))
        jobs = server.batch_store.jobs
        assert len(jobs) == 1, "the rerun polled the batch it had, it did not submit again"
    finally:
        server.stop_thread()


def test_batch_api_cancel_on_interrupt(tmp_path: Path, run_cli: Callable[..., Ran]) -> None:
    server = MockServer(batch_phase=1.0, record=False).start_in_thread()
    try:
        inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        write_input(inp, 30)
        args = [
            "batch", str(inp), "-o", str(out), "--via", "batch-api", "--base-url",
            server.openai_base_url, "--api-key", "k", "--poll-interval", "0.05", "--cancel",
        ]  # fmt: skip
        proc = spawn(*args, cwd=tmp_path)
        state = tmp_path / "out.jsonl.rawllm-batch" / "state.json"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if state.exists() and '"in_progress"' in state.read_text():
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stderr
        assert "cancelling batch_" in stderr
        (job,) = server.batch_store.jobs.values()
        assert job.cancelled is not None
        again = run_cli(*args, cwd=tmp_path)  # collects what finished, the rest cancelled
        lines = read_output(out)
        assert len(lines) == 30 and again.returncode == 1
        codes = Counter(x["error"]["code"] for x in lines if x["error"] is not None)
        assert set(codes) == {"batch_cancelled"}
    finally:
        server.stop_thread()


@pytest.mark.parametrize("via", ["online", "batch-api"])
def test_wrong_provider_is_one_usage_error(
    tmp_path: Path, via: str, run_cli: Callable[..., Ran]
) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(inp, 50)
    proc = run_cli(
        "batch", str(inp), "-o", str(out), "--mock", "--provider", "anthropic", "--via", via,
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("error:") == 1 and "--provider openai" in proc.stderr
    assert not out.exists() or out.read_bytes() == b""
    proc = run_cli("batch", str(inp), "-o", str(out), "--mock", "--endpoint", "messages",
                  cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "--provider anthropic" in proc.stderr


def test_online_run_stops_early_on_refused_connections(
    tmp_path: Path, run_cli: Callable[..., Ran]
) -> None:
    inp, out, summary = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "s.json"
    write_input(inp, 300)
    proc = run_cli(
        "batch", str(inp), "-o", str(out), "--base-url", "http://127.0.0.1:9/v1",
        "--api-key", "k", "--max-retries", "0", "--concurrency", "4", "--stop-after", "5",
        "--summary-json", str(summary), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.count("stopping early") == 1
    assert "refuses connections" in proc.stderr
    written = read_output(out)
    # at most the requests already started (in flight, or done and buffered) are written
    assert 5 <= len(written) <= 5 + 2 * 4
    data = json.loads(summary.read_text())
    assert data["not_run"] == 300 - len(written) and data["interrupted"] is False


def test_online_item_failures_do_not_stop(tmp_path: Path, run_cli: Callable[..., Ran]) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(inp, 12)
    proc = run_cli("batch", str(inp), "-o", str(out), "--mock", "--mock-faults",
                  "400,400,400,400,400,400,ok", "--stop-after", "3", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1 and "stopping early" not in proc.stderr
    assert len(read_output(out)) == 12


def test_shards_split_the_input_deterministically(
    tmp_path: Path, run_cli: Callable[..., Ran]
) -> None:
    inp = tmp_path / "in.jsonl"
    write_input(inp, 40)
    ids = []
    for k in (1, 2, 3):
        out = tmp_path / f"out{k}.jsonl"
        proc = run_cli("batch", str(inp), "-o", str(out), "--mock", "--shard", f"{k}/3",
                      cwd=tmp_path)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        ids.append({x["custom_id"] for x in read_output(out)})
    assert all(ids) and sum(map(len, ids)) == 40
    assert set().union(*ids) == {f"req-{i}" for i in range(40)}
    bad = run_cli("batch", str(inp), "-o", str(tmp_path / "x"), "--mock", "--shard", "4/3",
                 cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 2 and "--shard" in bad.stderr


class _Crash(BaseException):
    """Stands for the process dying right after the provider created the batch."""


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_crash_right_after_create_adopts_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    from rawllm import _resources_batch as rb

    for k, v in env().items():
        monkeypatch.setenv(k, v)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    if provider == "openai":
        write_input(inp, 6)
        cls, name = rb.AsyncBatches, "create"
    else:
        _messages_input(inp, 6)
        cls, name = rb.AsyncMessageBatches, "create_raw"
    real = getattr(cls, name)

    async def create_then_die(self: Any, *args: Any, **kwargs: Any) -> Any:
        await real(self, *args, **kwargs)
        raise _Crash

    server = MockServer(batch_phase=0.02, record=False).start_in_thread()
    try:
        base = server.anthropic_base_url if provider == "anthropic" else server.openai_base_url
        argv = [
            "batch", str(inp), "-o", str(out), "--via", "batch-api", "--provider", provider,
            "--base-url", base, "--api-key", "k", "--poll-interval", "0.02", "--progress", "none",
        ]  # fmt: skip
        monkeypatch.setattr(cls, name, create_then_die)
        with pytest.raises(_Crash):
            main(argv)
        monkeypatch.setattr(cls, name, real)
        assert main(argv) == 0
        assert len(server.batch_store.jobs) == 1, "the batch created before the crash was adopted"
        assert len(read_output(out)) == 6
    finally:
        server.stop_thread()


def test_online_run_stops_early_on_a_missing_endpoint(
    tmp_path: Path, run_cli: Callable[..., Ran]
) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(inp, 200)
    server = MockServer(record=False).start_in_thread()
    try:  # the base URL without /v1: every call is a 404 from the server
        proc = run_cli("batch", str(inp), "-o", str(out), "--base-url", server.url,
                      "--api-key", "k", "--concurrency", "2", "--stop-after", "4",
                      cwd=tmp_path)  # fmt: skip
    finally:
        server.stop_thread()
    assert proc.returncode == 1
    assert proc.stderr.count("stopping early") == 1 and "HTTP 404" in proc.stderr
    assert 4 <= len(read_output(out)) <= 4 + 2 * 2
