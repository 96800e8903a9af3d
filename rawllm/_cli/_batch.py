"""``rawllm batch``: run a JSONL file of requests concurrently, resumably.

Guarantees (see docs/cli.md):
- each output line is written with one ``write()`` of the complete line on an
  unbuffered file, so a killed run leaves a valid JSONL prefix;
- a rerun with the same output resumes: lines of successful answers are kept,
  failed and half-written lines are dropped (and their requests run again),
  so the final file has exactly one line per custom_id;
- Ctrl-C (or SIGTERM) stops starting calls, waits ``--grace`` seconds for
  those in flight, writes what finished and exits 130; a second Ctrl-C stops
  at once.  Calls cut short are not written and run again on resume.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import msgspec

from .._batch import InvalidRequestError, run_batch
from .._batch_io import (
    InputError,
    ResumeScan,
    Tally,
    format_error,
    format_status_error,
    format_success,
    parse_line,
    status_error_body,
    summary_json,
    summary_text,
)
from .._config import RateLimit
from .._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
)
from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    add_connection,
    err,
    make_client,
    mock_base_url,
    non_negative_float,
    positive_float,
    positive_int,
    run_async,
)
from ._progress import progress_for

if TYPE_CHECKING:
    from .._batch import BatchResult
    from .._client import RetryEvent

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``batch`` and its options."""
    batch = sub.add_parser(
        "batch",
        help="run a JSONL file of requests concurrently (resumable)",
        description="Run every request of a JSONL file under rate limits, with retries and "
        "timeouts, and write one Batch-API-format output line per request.  Input lines: "
        "OpenAI Batch API requests ({custom_id, method, url, body}), Anthropic Message "
        "Batches requests ({custom_id, params}), or bare request bodies (custom_id "
        "'line-N', N the 1-based line number).  Rerunning with the same output resumes: "
        "answered requests are skipped, failed ones are run again.  Ctrl-C stops "
        "cleanly (rerun to resume).  Exit status: 0 all succeeded, 1 some failed or "
        "were malformed, 2 usage error, 130 interrupted.",
    )
    batch.add_argument("input", help="input JSONL file")
    batch.add_argument("-o", "--output", required=True, help="output JSONL file (appended)")
    batch.add_argument("--model", help="use this model for every request (overrides the file)")
    batch.add_argument(
        "--endpoint",
        choices=("chat.completions", "embeddings", "responses", "messages"),
        help="call for lines without a url (default: chat.completions for openai, messages "
        "for anthropic)",
    )
    batch.add_argument(
        "--concurrency",
        "-c",
        type=positive_int,
        default=16,
        metavar="N",
        help="requests in flight at once (default 16)",
    )
    batch.add_argument(
        "--rpm", type=positive_float, metavar="N", help="requests per minute (evenly spaced)"
    )
    batch.add_argument("--tpm", type=positive_float, metavar="N", help="tokens per minute")
    batch.add_argument(
        "--summary-json", metavar="PATH", help="also write the final summary as JSON here"
    )
    batch.add_argument(
        "--keep-failed",
        action="store_true",
        help="on resume, keep failed answers instead of running them again",
    )
    batch.add_argument(
        "--grace",
        type=non_negative_float,
        default=5.0,
        metavar="SECONDS",
        help="on Ctrl-C, how long to wait for requests in flight (default 5)",
    )
    batch.add_argument(
        "--progress",
        choices=("auto", "rich", "plain", "none"),
        default="auto",
        help="auto: a live display when stderr is a terminal and rich is installed, plain "
        "lines otherwise (default auto)",
    )
    batch.add_argument(
        "--progress-interval",
        type=positive_float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between plain progress lines (default 5)",
    )
    add_connection(batch)
    batch.add_argument(
        "--mock-latency",
        type=non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="with --mock: seconds the mock waits before answering (default 0)",
    )
    batch.add_argument(
        "--mock-faults",
        metavar="SCRIPT",
        help='with --mock: fault script, e.g. "429,500,ok" (see docs/testing.md)',
    )


def run(args: argparse.Namespace) -> int:
    """Run ``rawllm batch``; return its exit status."""
    return run_async(_batch(args))


def _prepare_output(path: str, keep_failed: bool) -> ResumeScan:
    """Scan an existing output for resume; truncate or rewrite it to the kept lines."""
    scan = ResumeScan(keep_failed=keep_failed)
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        return scan
    with f:
        for raw in f:
            scan.add(raw)
    if scan.needs_rewrite:
        tmp = f"{path}.rawllm-tmp"
        again = ResumeScan(keep_failed=keep_failed)
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            for raw in src:
                if again.add(raw):
                    dst.write(raw)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, path)
    elif scan.partial_tail:
        with open(path, "r+b") as f2:
            f2.truncate(scan.kept_bytes)
    return scan


def _count_input(path: str) -> int:
    """Non-blank lines of the input (the request count shown by the progress display)."""
    n = 0
    with open(path, "rb") as f:
        for raw in f:
            if raw.strip():
                n += 1
    return n


class _Writer:
    """Append complete lines to the output with one ``os.write`` each (no user-space buffer)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, line: bytes) -> None:
        view = memoryview(line)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def close(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError:
            pass
        os.close(self.fd)


def _error_code(err: APIError) -> str:
    if isinstance(err, APITimeoutError):
        return "timeout"
    if isinstance(err, APIConnectionError):
        return "connection_error"
    if isinstance(err, APIResponseValidationError):
        return "invalid_response"
    if isinstance(err, InvalidRequestError):
        return "invalid_request"
    return "api_error"


def _output_line(result: BatchResult, line_id: str, tally: Tally) -> bytes:
    """The output line for one result; counts it in ``tally``."""
    custom_id = result.custom_id or f"index-{result.index}"
    tally.retries += result.retries
    err = result.error
    if err is None:
        resp = result.response
        usage = getattr(resp, "usage", None)
        if usage is not None:
            tally.prompt_tokens += int(
                getattr(usage, "prompt_tokens", None) or getattr(usage, "input_tokens", None) or 0
            )
            tally.completion_tokens += int(
                getattr(usage, "completion_tokens", None)
                or getattr(usage, "output_tokens", None)
                or 0
            )
        tally.succeeded += 1
        raw = resp.__dict__.get("_raw") if hasattr(resp, "__dict__") else None
        if isinstance(raw, str):
            raw = raw.encode()
        if raw is None:
            raw = msgspec.json.encode(resp)
        return format_success(
            id=line_id,
            custom_id=custom_id,
            status_code=200,
            request_id=getattr(resp, "_request_id", None),
            body_raw=raw,
        )
    if isinstance(err, APIStatusError):
        if err.status_code == 429:
            tally.rate_limited += 1
        tally.add_error(str(err.status_code))
        return format_status_error(
            id=line_id,
            custom_id=custom_id,
            status_code=err.status_code,
            request_id=err.request_id,
            body=status_error_body(err.body, err.message),
        )
    code = _error_code(err)
    tally.add_error(code)
    return format_error(id=line_id, custom_id=custom_id, code=code, message=err.message)


# -- batch: the run ------------------------------------------------------------------


class _Stop:
    """Why the feeder stops pulling input: a Ctrl-C (the wait then gets a deadline), or
    an authentication error (every further request would get the same answer)."""

    __slots__ = ("auth_failed", "interrupts", "stopping")

    def __init__(self) -> None:
        self.stopping = False
        self.interrupts = 0
        self.auth_failed = False


def _inputs(
    path: str,
    done: set[str],
    tally: Tally,
    stop: _Stop,
    model: str | None,
    report: Callable[[str], None],
) -> Generator[dict[str, Any], None, None]:
    """Requests to run: parsed lazily, already-answered and malformed lines skipped."""
    seen: set[str] = set()
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if stop.stopping:
                return
            try:
                req = parse_line(raw, n)
            except InputError as exc:
                tally.add_malformed(n, exc.reason)
                report(f"rawllm batch: {path}:{n}: skipped: {exc.reason}")
                continue
            if req is None:
                continue
            cid = req.custom_id
            if cid in done:
                tally.skipped += 1
                continue
            if cid in seen:
                reason = f"duplicate custom_id {cid!r}"
                tally.add_malformed(n, reason)
                report(f"rawllm batch: {path}:{n}: skipped: {reason}")
                continue
            seen.add(cid)
            body = req.body
            if model is not None:
                body["model"] = model
            item: dict[str, Any] = {"custom_id": cid, "method": "POST", "body": body}
            if req.url:
                item["url"] = req.url
            yield item


async def _batch(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.input):
        raise UsageError(f"input file not found: {args.input}")
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        raise UsageError("the output file must not be the input file")
    if args.mock:
        from ..testing import MockServer

        try:
            server = MockServer(
                latency=args.mock_latency, faults=args.mock_faults, tokens=16, record=False
            )
        except ValueError as exc:
            raise UsageError(f"--mock-faults: {exc}") from None
        async with server:
            return await _batch_with(args, mock_base_url(server, args.provider))
    return await _batch_with(args, args.base_url)


def _resume_note(scan: ResumeScan, output: str) -> str:
    note = f"rawllm batch: resuming: {scan.kept} answers kept in {output}"
    if scan.dropped_failed:
        note += f", {scan.dropped_failed} failed ones to run again"
    bad = scan.dropped_invalid + scan.dropped_duplicate
    if bad:
        note += f", {bad} invalid or duplicate lines dropped"
    if scan.partial_tail:
        note += ", a half-written last line dropped"
    return note


async def _batch_with(args: argparse.Namespace, base_url: str | None) -> int:

    tally = Tally()

    def on_retry(event: RetryEvent) -> None:
        if event.status == 429:
            tally.rate_limited += 1

    rate_limit = None
    if args.rpm or args.tpm:
        rate_limit = RateLimit(requests_per_minute=args.rpm, tokens_per_minute=args.tpm)
    client = make_client(args, base_url=base_url, rate_limit=rate_limit, on_retry=on_retry)

    try:
        scan = _prepare_output(args.output, args.keep_failed)
        tally.total = _count_input(args.input)
        writer = _Writer(args.output)
    except OSError as exc:
        await client.close()
        raise UsageError(str(exc)) from None
    if scan.kept or scan.needs_rewrite or scan.partial_tail:
        err(_resume_note(scan, args.output))

    started = time.monotonic()
    progress = progress_for(args, tally, started)
    stop = _Stop()
    loop = asyncio.get_running_loop()
    run_id = os.urandom(6).hex()
    interrupted = False
    installed: list[signal.Signals] = []
    timeout_cm = asyncio.timeout(None)

    def on_signal() -> None:
        stop.interrupts += 1
        if stop.interrupts == 1:
            stop.stopping = True
            progress.log(
                f"rawllm batch: stopping: waiting up to {args.grace:g} s for requests in "
                "flight (Ctrl-C again to stop now)"
            )
            timeout_cm.reschedule(loop.time() + args.grace)
        else:
            timeout_cm.reschedule(loop.time())

    items = _inputs(args.input, scan.done, tally, stop, args.model, progress.log)
    progress.start()
    seq = 0
    try:
        async with client:
            results = run_batch(client, items, concurrency=args.concurrency, endpoint=args.endpoint)
            try:
                async with timeout_cm:
                    # Installed inside the timeout block: on_signal may reschedule it.
                    for sig in (signal.SIGINT, signal.SIGTERM):
                        try:
                            loop.add_signal_handler(sig, on_signal)
                            installed.append(sig)
                        except (NotImplementedError, RuntimeError):  # Windows, not main thread
                            pass
                    async with results:
                        async for result in results:
                            seq += 1
                            line_id = f"batch_req_{run_id}{seq:08x}"
                            writer.write(_output_line(result, line_id, tally))
                            progress.update()
                            if isinstance(result.error, AuthenticationError) and not stop.stopping:
                                stop.auth_failed = stop.stopping = True
                                progress.log(
                                    f"rawllm batch: {result.error}: not starting further "
                                    "requests (check the API key and --base-url)"
                                )
            except TimeoutError:
                if not stop.stopping:
                    raise
            interrupted = stop.stopping and not stop.auth_failed
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        writer.close()
        await progress.stop()
        items.close()
    elapsed = time.monotonic() - started
    err(summary_text(tally, elapsed, interrupted=interrupted))
    if args.summary_json:
        data = summary_json(
            tally,
            elapsed,
            interrupted=interrupted,
            input=args.input,
            output=args.output,
            provider=args.provider,
            concurrency=args.concurrency,
        )
        with open(args.summary_json, "wb") as f:
            f.write(data)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if tally.failed_total else EXIT_OK
