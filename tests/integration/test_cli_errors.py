"""Every way a newcomer can get the command line wrong ends in one clean line.

Each bad invocation must print ``rawllm: error: ...`` on stderr, no traceback,
and exit 2 for a usage error (the command line itself is wrong) or 1 for a
runtime failure (the port is taken, an extra is missing).  In-process through
``main()``: an uncaught exception would fail the test with its traceback.
"""

from __future__ import annotations

import socket
import sys

import pytest

from rawllm._cli import main

USAGE, FAILED = 2, 1


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's usage errors
        return int(exc.code or 0)


def check(argv: list[str], code: int, capsys: pytest.CaptureFixture[str], *words: str) -> str:
    status = run(argv)
    err = capsys.readouterr().err
    assert status == code, (argv, status, err)
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("rawllm: error: "), (argv, err)
    for word in words:
        assert word in last, (argv, word, last)
    return last


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["mock", "--port", "99999"], ["--port", "between 0 and 65535"]),
        (["mock", "--port", "abc"], ["--port", "invalid int value"]),
        (["mock", "--faults", "bogus"], ["--faults", "bogus"]),
        (["mock", "--tokens", "-1"], ["--tokens", ">= 1"]),
        (["mock", "--rpm", "0"], ["--rpm", "> 0"]),
        (["mock", "--tpm", "-5"], ["--tpm", "> 0"]),
        (["mock", "--latency", "nan"], ["--latency"]),
        (["mock", "--tokens-per-second", "0"], ["--tokens-per-second", "> 0"]),
        (["mock", "--window", "-1"], ["window"]),  # checked by MockServer itself
        (["mock", "--gateway-429", "2"], ["gateway_429"]),
        (["mock", "--concurrency-retry-after", "-1"], ["--concurrency-retry-after", ">= 0"]),
        (["mock", "--batch-phase", "-1"], ["--batch-phase", ">= 0"]),
        (["chat", "--base-url", "not-a-url", "hi"], ["--base-url", "not-a-url"]),
        (["batch", "in.jsonl", "-o", "o.jsonl", "--base-url", "ftp://x/v1"], ["--base-url"]),
        (["chat", "--mock", "--max-retries", "-1", "hi"], ["--max-retries"]),
        (["chat", "--timeout", "nan", "hi"], ["--timeout"]),
        (["batch", "in.jsonl", "-o", "o.jsonl", "--rpm", "inf"], ["--rpm"]),
        (["nosuchcommand"], ["nosuchcommand"]),
    ],
)
def test_usage_errors_exit_2_on_one_line(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    check(argv, USAGE, capsys, *words)


def test_port_in_use_is_a_clean_runtime_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        check(["mock", "--port", str(port)], FAILED, capsys, f"127.0.0.1:{port}", "in use")


def test_unbindable_address_is_a_clean_runtime_error(capsys: pytest.CaptureFixture[str]) -> None:
    # TEST-NET-1 (RFC 5737): no machine has this address, so bind() fails
    check(["mock", "--host", "192.0.2.1", "--port", "0"], FAILED, capsys, "192.0.2.1")


def test_bench_without_its_extra_names_it_and_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    check(["bench"], FAILED, capsys, "[bench]", "matplotlib", "pip install")


def test_help_names_no_file_outside_the_wheel(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "docs/" not in out and ".md" not in out
