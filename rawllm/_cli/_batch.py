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
from .._batch_api import in_shard, parse_shard
from .._batch_io import (
    InputError,
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
from .._stop_rule import FailureStreak, failure_kind
from ._batch_files import Writer, count_input, prepare_output, resume_note
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

PROVIDER_ENDPOINTS = {
    "openai": ("chat.completions", "embeddings", "responses"),
    "anthropic": ("messages",),
}


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
        "cleanly (rerun to resume).  --via batch-api sends the same file through the "
        "provider's Batch API instead (half price, answers within 24 h; see docs/batch.md).  "
        "Exit status: 0 all succeeded, 1 some failed, were malformed, or the run stopped "
        "early on a run-wide failure, 2 usage error, 130 interrupted.",
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
        "--redis",
        metavar="URL",
        help="share the --rpm / --tpm budget with every process and host using the same "
        "Redis and --redis-key (rawllm.RedisStore; extra [redis])",
    )
    batch.add_argument(
        "--redis-key",
        default="rawllm:ratelimit",
        metavar="KEY",
        help="the shared budget's key in Redis (default rawllm:ratelimit)",
    )
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
    batch.add_argument(
        "--via",
        choices=("online", "batch-api"),
        default="online",
        help="online: call the API now, concurrently (default); batch-api: submit the "
        "file to the provider's Batch API (OpenAI /v1/batches, Anthropic Message Batches), "
        "poll, and write the same output lines",
    )
    batch.add_argument(
        "--shard",
        metavar="K/N",
        help="run only shard K of N (1 <= K <= N), split by a hash of custom_id: the same "
        "split on every host, so N hosts can share one input",
    )
    batch.add_argument(
        "--stop-after",
        type=int,
        default=10,
        metavar="N",
        help="online: stop after N requests in a row fail the same run-wide way (connection "
        "refused, DNS, TLS, 401/403, 404 on the endpoint); 0 never stops (default 10)",
    )
    batch.add_argument(
        "--poll-interval",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="batch-api: seconds between status polls (default 30; 0.2 with --mock)",
    )
    batch.add_argument(
        "--cancel",
        action="store_true",
        help="batch-api: on Ctrl-C, cancel the submitted batches (default: leave them "
        "running at the provider; rerun to resume polling)",
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
    batch.add_argument(
        "--mock-batch-phase",
        type=non_negative_float,
        default=0.5,
        metavar="SECONDS",
        help="with --mock --via batch-api: seconds each batch phase lasts (default 0.5)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``rawllm batch``; return its exit status."""
    return run_async(_batch(args))


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
    shard: tuple[int, int] | None = None,
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
            if shard is not None and not in_shard(cid, *shard):
                continue
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
    if args.endpoint is not None and args.endpoint not in PROVIDER_ENDPOINTS[args.provider]:
        other = "anthropic" if args.provider == "openai" else "openai"
        raise UsageError(f"--endpoint {args.endpoint} needs --provider {other}")
    if args.stop_after < 0:
        raise UsageError("--stop-after must be >= 0")
    shard = None
    if args.shard is not None:
        try:
            shard = parse_shard(args.shard)
        except ValueError as exc:
            raise UsageError(f"--shard: {exc}") from None
    if args.poll_interval is None:
        args.poll_interval = 0.2 if args.mock else 30.0
    if args.mock:
        from ..testing import MockServer

        try:
            server = MockServer(
                latency=args.mock_latency,
                faults=args.mock_faults,
                tokens=16,
                record=False,
                batch_phase=args.mock_batch_phase,
            )
        except ValueError as exc:
            raise UsageError(f"--mock-faults: {exc}") from None
        async with server:
            return await _dispatch(args, mock_base_url(server, args.provider), shard)
    return await _dispatch(args, args.base_url, shard)


async def _dispatch(
    args: argparse.Namespace, base_url: str | None, shard: tuple[int, int] | None
) -> int:
    if args.via == "batch-api":
        from ._batch_api import run_batch_api

        return await run_batch_api(args, base_url, shard)
    return await _batch_with(args, base_url, shard)


async def _batch_with(
    args: argparse.Namespace, base_url: str | None, shard: tuple[int, int] | None
) -> int:

    tally = Tally()

    def on_retry(event: RetryEvent) -> None:
        if event.status == 429:
            tally.rate_limited += 1

    rate_limit = None
    if args.redis and not (args.rpm or args.tpm):
        raise UsageError("--redis shares the --rpm / --tpm budget: give at least one of them")
    if args.rpm or args.tpm:
        store = None
        if args.redis:
            from .._redis_store import RedisStore

            store = RedisStore(args.redis, key=args.redis_key)
        rate_limit = RateLimit(
            requests_per_minute=args.rpm, tokens_per_minute=args.tpm, store=store
        )
    client = make_client(args, base_url=base_url, rate_limit=rate_limit, on_retry=on_retry)

    try:
        scan = prepare_output(args.output, args.keep_failed)
        tally.total = count_input(args.input, args.provider, args.endpoint, shard)
        writer = Writer(args.output)
    except OSError as exc:
        await client.close()
        raise UsageError(str(exc)) from None
    if scan.kept or scan.needs_rewrite or scan.partial_tail:
        err(resume_note(scan, args.output))

    started = time.monotonic()
    limiter = client.limiter
    progress = progress_for(args, tally, started, lambda: limiter.state)
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

    items = _inputs(args.input, scan.done, tally, stop, args.model, progress.log, shard)
    streak = FailureStreak(args.stop_after) if args.stop_after else None
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
                            if stop.stopping:
                                continue
                            if isinstance(result.error, AuthenticationError):
                                stop.auth_failed = stop.stopping = True
                                progress.log(
                                    f"rawllm batch: {result.error}: not starting further "
                                    "requests (check the API key and --base-url)"
                                )
                            elif streak is not None and streak.observe(failure_kind(result.error)):
                                stop.auth_failed = stop.stopping = True
                                progress.log(
                                    f"rawllm batch: stopping early: {streak.message()}; "
                                    f"last error: {result.error} (the output is kept: fix "
                                    "the cause and rerun the same command to resume)"
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
