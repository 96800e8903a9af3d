"""The rawllm command end to end, in subprocesses (``python -m rawllm``), against --mock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rawllm._cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    """No provider keys or URLs (--mock must need none), no proxies, a fixed help width."""
    out = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "ANTHROPIC_")) and not k.lower().endswith("_proxy")
    }
    out["PYTHONPATH"] = str(ROOT) + os.pathsep + out.get("PYTHONPATH", "")
    out["COLUMNS"] = "80"
    return out


def rawllm(
    *args: str, cwd: Path, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rawllm", *args],
        cwd=cwd,
        env=env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rawllm", *args],
        cwd=cwd,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def request_line(i: int) -> dict[str, Any]:
    return {
        "custom_id": f"req-{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"prompt {i}"}]},
    }


def write_input(path: Path, n: int) -> None:
    path.write_text("".join(json.dumps(request_line(i)) + "\n" for i in range(n)))


def read_output(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    assert raw == b"" or raw.endswith(b"\n"), "output must end with a complete line"
    return [json.loads(line) for line in raw.splitlines()]


def wait_for_lines(path: Path, n: int, proc: subprocess.Popen[str], limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"fewer than {n} output lines after {limit} s")


def assert_complete(out: list[dict[str, Any]], n: int) -> None:
    ids = Counter(line["custom_id"] for line in out)
    assert ids == Counter(f"req-{i}" for i in range(n)), "each custom_id exactly once"
    for line in out:
        assert line["error"] is None
        assert line["response"]["status_code"] == 200
        i = line["custom_id"].split("-")[1]
        assert f"prompt {i}" in line["response"]["body"]["choices"][0]["message"]["content"]


# -- help ------------------------------------------------------------------------------


def test_help_of_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, words in [
        ([], ["chat", "batch", "mock", "bench"]),
        (["chat"], ["--system", "--model", "--max-tokens", "--provider", "--mock", "stdin"]),
        (
            ["batch"],
            [
                "--output",
                "--concurrency",
                "--rpm",
                "--tpm",
                "--max-retries",
                "--timeout",
                "--summary-json",
                "--mock",
                "--model",
                "--base-url",
                "--api-key",
                "resume",
            ],
        ),
        (["mock"], ["--port", "--faults", "--latency"]),
        (["bench"], ["--full"]),
    ]:
        with pytest.raises(SystemExit) as info:
            main([*argv, "--help"])
        assert info.value.code == 0
        text = capsys.readouterr().out.lower()
        for word in words:
            assert word.lower() in text, (argv, word)


def test_python_m_rawllm_is_the_same_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    proc = rawllm("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout == build_parser(mock_options=False).format_help()
    assert "batch" in proc.stdout


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_import_rawllm_does_not_import_the_cli(tmp_path: Path) -> None:
    code = (
        "import sys, rawllm; "
        "print(sorted(m for m in sys.modules if m in ('rawllm._cli', 'rich', 'rawllm._batch')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# -- batch -------------------------------------------------------------------------------


def test_mock_run_and_summary_json(tmp_path: Path) -> None:
    inp, out, summary = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "s.json"
    write_input(inp, 30)
    proc = rawllm(
        "batch", str(inp), "-o", str(out), "--mock", "--summary-json", str(summary), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    lines = read_output(out)
    assert_complete(lines, 30)
    first = lines[0]
    assert set(first) == {"id", "custom_id", "response", "error"}
    assert first["id"].startswith("batch_req_")
    assert len({line["id"] for line in lines}) == 30
    assert first["response"]["request_id"]
    assert first["response"]["body"]["object"] == "chat.completion"
    data = json.loads(summary.read_text())
    assert data["total"] == 30
    assert data["succeeded"] == 30
    assert data["failed_total"] == 0
    assert data["interrupted"] is False
    assert data["prompt_tokens"] > 0 and data["completion_tokens"] > 0
    assert "30 succeeded, 0 failed" in proc.stderr
    assert "sk-" not in proc.stderr


def test_the_readme_job_runs_without_a_key(tmp_path: Path) -> None:
    start = time.monotonic()
    proc = rawllm(
        "batch",
        str(ROOT / "examples" / "prompts.jsonl"),
        "--mock",
        "-o",
        "results.jsonl",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start < 30
    n = sum(
        1 for line in (ROOT / "examples" / "prompts.jsonl").read_text().splitlines() if line.strip()
    )
    assert n >= 200
    out = read_output(tmp_path / "results.jsonl")
    assert len(out) == n
    assert len({line["custom_id"] for line in out}) == n


def test_bare_bodies_model_override_and_endpoint(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text(
        json.dumps({"input": "first text"})
        + "\n\n"
        + json.dumps({"input": "second", "custom_id": "mine"})
        + "\n"
    )
    proc = rawllm(
        "batch",
        str(inp),
        "-o",
        str(out),
        "--mock",
        "--endpoint",
        "embeddings",
        "--model",
        "text-embedding-3-small",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    by_id = {line["custom_id"]: line for line in read_output(out)}
    assert set(by_id) == {"line-1", "mine"}
    body = by_id["line-1"]["response"]["body"]
    assert body["object"] == "list"
    assert body["model"] == "text-embedding-3-small"


def test_anthropic_provider(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    params = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hey"}],
    }
    inp.write_text(
        json.dumps({"custom_id": "a", "params": params}) + "\n" + json.dumps(params) + "\n"
    )
    proc = rawllm(
        "batch", str(inp), "-o", str(out), "--mock", "--provider", "anthropic", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    by_id = {line["custom_id"]: line for line in read_output(out)}
    assert by_id["a"]["response"]["body"]["type"] == "message"
    assert by_id["line-2"]["response"]["body"]["content"][0]["type"] == "text"


def test_malformed_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    inp, out, summary = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "s.json"
    good = [json.dumps(request_line(i)) for i in range(4)]
    inp.write_text(
        "\n".join(
            [
                good[0],
                '{"custom_id": "broken", "body": {',  # line 2: invalid JSON
                good[1],
                "[1, 2, 3]",  # line 4: not an object
                "",  # line 5: blank, ignored
                good[2],
                good[2],  # line 7: duplicate custom_id
                json.dumps({**request_line(9), "url": "/v1/images/generations"}),  # line 8
                good[3],
            ]
        )
        + "\n"
    )
    proc = rawllm(
        "batch", str(inp), "-o", str(out), "--mock", "--summary-json", str(summary), cwd=tmp_path
    )
    assert proc.returncode == 1
    for n, word in [
        (2, "invalid JSON"),
        (4, "expected a JSON object"),
        (7, "duplicate custom_id"),
        (8, "unsupported url"),
    ]:
        assert f"in.jsonl:{n}: skipped: " in proc.stderr and word in proc.stderr, (n, proc.stderr)
    assert_complete(read_output(out), 4)
    data = json.loads(summary.read_text())
    assert data["malformed"] == 4
    assert data["failed_total"] == 4
    assert data["succeeded"] == 4
    assert [m["line"] for m in data["malformed_lines"]] == [2, 4, 7, 8]


def test_failures_exit_status_and_resume_retries_them(tmp_path: Path) -> None:
    inp, out, summary = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "s.json"
    write_input(inp, 10)
    # the first two requests the mock sees get a 400 (never retried): two failed items
    proc = rawllm(
        "batch",
        str(inp),
        "-o",
        str(out),
        "--mock",
        "--mock-faults",
        "400,400",
        "--concurrency",
        "1",
        "--summary-json",
        str(summary),
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    lines = read_output(out)
    assert len(lines) == 10
    failed = [line for line in lines if line["response"]["status_code"] == 400]
    assert len(failed) == 2
    for line in failed:  # the provider's own shape for an HTTP error
        assert line["error"] is None
        assert line["response"]["body"]["error"]["type"] == "invalid_request_error"
    data = json.loads(summary.read_text())
    assert data["failed"] == 2 and data["errors"] == {"400": 2}

    proc = rawllm(
        "batch", str(inp), "-o", str(out), "--mock", "--summary-json", str(summary), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 failed ones to run again" in proc.stderr
    assert_complete(read_output(out), 10)
    data = json.loads(summary.read_text())
    assert data["skipped_already_done"] == 8
    assert data["succeeded"] == 2


def test_authentication_error_stops_starting_requests(tmp_path: Path) -> None:
    inp, out, summary = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "s.json"
    write_input(inp, 20)
    args = ["batch", str(inp), "-o", str(out), "--mock", "--summary-json", str(summary)]
    proc = rawllm(*args, "--mock-faults", "401", "--concurrency", "1", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "not starting further requests" in proc.stderr
    statuses = [line["response"]["status_code"] for line in read_output(out)]
    # the request started while the 401 was being handed over may still finish
    assert statuses in ([401], [401, 200])
    data = json.loads(summary.read_text())
    assert data["not_run"] == 20 - len(statuses)
    assert data["interrupted"] is False
    assert f"not run: {20 - len(statuses)}" in proc.stderr

    proc = rawllm(*args, cwd=tmp_path)  # fixed key: resume runs everything once
    assert proc.returncode == 0, proc.stderr
    assert_complete(read_output(out), 20)


def test_timeouts_are_error_lines(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(inp, 3)
    proc = rawllm(
        "batch",
        str(inp),
        "-o",
        str(out),
        "--mock",
        "--mock-faults",
        "stall=10",
        "--concurrency",
        "1",
        "--timeout",
        "0.5",
        "--max-retries",
        "0",
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    lines = read_output(out)
    errors = [line for line in lines if line["error"] is not None]
    assert len(errors) == 1
    assert errors[0]["response"] is None
    assert errors[0]["error"]["code"] == "timeout"
    assert len(lines) == 3


def test_sigint_then_resume_loses_nothing(tmp_path: Path) -> None:
    inp, out, summary = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "s.json"
    write_input(inp, 80)
    proc = spawn(
        "batch",
        str(inp),
        "-o",
        str(out),
        "--mock",
        "--mock-latency",
        "0.2",
        "--concurrency",
        "4",
        "--summary-json",
        str(summary),
        "--progress",
        "plain",
        cwd=tmp_path,
    )
    wait_for_lines(out, 4, proc)
    at_signal = out.read_bytes().count(b"\n")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "stopping" in stderr
    assert "rerun the same command to resume" in stderr
    first = read_output(out)
    assert at_signal < len(first) < 80  # the calls in flight were waited for and written
    data = json.loads(summary.read_text())
    assert data["interrupted"] is True
    assert data["succeeded"] == len(first)  # what was answered was written
    assert data["not_run"] == 80 - len(first)

    proc2 = rawllm("batch", str(inp), "-o", str(out), "--mock", cwd=tmp_path)
    assert proc2.returncode == 0, proc2.stderr
    final = read_output(out)
    assert_complete(final, 80)
    assert final[: len(first)] == first  # nothing rewritten


def test_second_sigint_stops_at_once(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(inp, 10)
    proc = spawn(
        "batch",
        str(inp),
        "-o",
        str(out),
        "--mock",
        "--mock-latency",
        "30",
        "--grace",
        "30",
        "--concurrency",
        "3",
        "--progress",
        "plain",
        "--progress-interval",
        "0.2",
        cwd=tmp_path,
    )
    assert proc.stderr is not None
    first_line = proc.stderr.readline()  # the first progress line: the run has started
    assert first_line.startswith("rawllm batch: 0/10 done"), first_line
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - start < 10
    assert read_output(out) == []  # calls cut short are not written
    assert "Traceback" not in stderr


def test_sigkill_then_resume_loses_nothing(tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(inp, 60)
    proc = spawn(
        "batch",
        str(inp),
        "-o",
        str(out),
        "--mock",
        "--mock-latency",
        "0.2",
        "--concurrency",
        "4",
        cwd=tmp_path,
    )
    wait_for_lines(out, 8, proc)
    proc.kill()
    proc.communicate(timeout=10)
    before = read_output(out)  # a killed run leaves a valid JSONL prefix
    assert 8 <= len(before) < 60
    # what a kill in the middle of a write would leave: a half line without its newline
    with open(out, "ab") as f:
        f.write(
            json.dumps({"id": "x", "custom_id": "req-59", "response": {"status_code": 200}})[
                :25
            ].encode()
        )

    proc2 = rawllm("batch", str(inp), "-o", str(out), "--mock", cwd=tmp_path)
    assert proc2.returncode == 0, proc2.stderr
    assert "half-written last line dropped" in proc2.stderr
    final = read_output(out)
    assert_complete(final, 60)
    assert final[: len(before)] == before


def test_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # in-process: these fail before any event loop or server starts
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["batch", "missing.jsonl", "-o", "out.jsonl", "--mock"]) == 2
    assert "input file not found" in capsys.readouterr().err
    write_input(tmp_path / "in.jsonl", 1)
    assert main(["batch", "in.jsonl", "-o", "in.jsonl", "--mock"]) == 2
    assert "must not be the input" in capsys.readouterr().err
    assert main(["batch", "in.jsonl", "-o", "out.jsonl"]) == 2  # no key, no --mock
    err = capsys.readouterr().err
    assert "OPENAI_API_KEY" in err and "--mock" in err
    assert main(["chat", "hi", "--provider", "anthropic"]) == 2
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err
    assert main(["batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--mock-faults", "bogus"]) == 2
    assert "--mock-faults" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["batch", "in.jsonl", "-o", "out.jsonl", "--concurrency", "0"])
    assert info.value.code == 2
    assert not (tmp_path / "out.jsonl").exists()


# -- chat and mock ---------------------------------------------------------------------


def test_chat_streams_and_reports_latency(tmp_path: Path) -> None:
    proc = rawllm("chat", "--mock", "--system", "be brief", "Tell me about tides", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Tell me about tides" in proc.stdout  # the mock echoes the prompt
    assert "first token" in proc.stderr
    assert "tokens/s" in proc.stderr
    assert "tokens: " in proc.stderr and " out" in proc.stderr


def test_chat_reads_stdin_and_speaks_anthropic(tmp_path: Path) -> None:
    proc = rawllm(
        "chat", "--mock", "--provider", "anthropic", "-", cwd=tmp_path, stdin="Hello from stdin"
    )
    assert proc.returncode == 0, proc.stderr
    assert "Hello from stdin" in proc.stdout
    assert "first token" in proc.stderr
    # no prompt argument at all: a piped stdin is the prompt
    proc = rawllm("chat", "--mock", "-q", cwd=tmp_path, stdin="Piped question")
    assert proc.returncode == 0, proc.stderr
    assert "Piped question" in proc.stdout
    assert proc.stderr == ""  # -q: no stats line


def test_mock_command_serves_until_interrupted(tmp_path: Path) -> None:
    proc = spawn("mock", "--port", "0", cwd=tmp_path)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        req = urllib.request.Request(
            url + "/v1/chat/completions",
            data=json.dumps(
                {"model": "m", "messages": [{"role": "user", "content": "ping"}]}
            ).encode(),
            headers={"Content-Type": "application/json", "Authorization": "Bearer x"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = json.loads(resp.read())
        assert "ping" in body["choices"][0]["message"]["content"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


# -- progress display and bench (in-process) ----------------------------------------------


def test_rich_progress_display(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("rich")  # the [cli] extra; the fallback is tested below
    monkeypatch.chdir(tmp_path)
    write_input(tmp_path / "in.jsonl", 5)
    assert main(["batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--progress", "rich"]) == 0
    err = capsys.readouterr().err
    assert "rawllm batch" in err and "5/5" in err and "0 failed" in err
    assert_complete(read_output(tmp_path / "out.jsonl"), 5)


def test_without_rich_plain_lines_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich.console", None)  # import fails as if not installed
    monkeypatch.chdir(tmp_path)
    write_input(tmp_path / "in.jsonl", 3)
    args = ["batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--progress", "rich"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "rich is not installed" in err
    assert "finished: 3 succeeded" in err


def test_bench_calls_the_benchmarks_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "benchmarks"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(
        "import json, pathlib\n"
        "def main(argv):\n"
        "    pathlib.Path('argv.json').write_text(json.dumps(argv))\n"
        "    return 3\n"
    )
    for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    # the [bench] extra's modules are not needed by the fake suite (CI installs [test] only)
    monkeypatch.setattr("rawllm._cli._bench.BENCH_MODULES", ("json",))

    def forget_fakes() -> None:  # so no later test imports the fake package
        for name in list(sys.modules):
            module_file = getattr(sys.modules[name], "__file__", None) or ""
            if name.split(".")[0] == "benchmarks" and module_file.startswith(str(tmp_path)):
                del sys.modules[name]

    try:
        assert main(["bench", "--json"]) == 3
        assert json.loads((tmp_path / "argv.json").read_text()) == ["--quick", "--json"]
        forget_fakes()
        assert main(["bench", "--full"]) == 3
        assert json.loads((tmp_path / "argv.json").read_text()) == []
    finally:
        forget_fakes()


def test_batch_reports_the_throttle_after_429s(tmp_path: Path) -> None:
    inp, out, summary = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "s.json"
    write_input(inp, 40)
    # a run of header-less 429s (isolated ones only delay their own call): the
    # client slows down, and says so in progress and summary
    faults = ",".join(["ok"] * 3 + ["429"] * 10)
    proc = rawllm(
        "batch", str(inp), "-o", str(out), "--mock", "--mock-faults", faults,
        "--progress", "plain", "--progress-interval", "0.05", "--summary-json", str(summary),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert_complete(read_output(out), 40)
    data = json.loads(summary.read_text())
    assert data["failed_total"] == 0 and data["rate_limited"] == 10
    assert data["slowdowns"] >= 1
    assert data["throttle_cause"] == "429 without rate headers"
    assert "throttled: " in proc.stderr and "after 429 without rate headers" in proc.stderr
