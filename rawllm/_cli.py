"""The ``rawllm`` command (also ``python -m rawllm``): chat, batch, mock, bench.

Configuration comes from flags and the providers' standard environment
variables only (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``ANTHROPIC_API_KEY``,
``ANTHROPIC_BASE_URL``).  ``rich`` (extra ``[cli]``) is imported only when a
live progress display is drawn; without it, plain lines are printed.

``rawllm batch`` guarantees (see docs/cli.md):
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
import sys
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import msgspec

from ._batch import InvalidRequestError, run_batch
from ._batch_io import (
    InputError,
    ResumeScan,
    Tally,
    format_error,
    format_status_error,
    format_success,
    parse_line,
    progress_line,
    status_error_body,
    summary_json,
    summary_text,
)
from ._config import RateLimit
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
)
from ._providers import Anthropic, OpenAI
from ._version import __version__

if TYPE_CHECKING:
    from ._batch import BatchResult
    from ._client import BaseClient, RetryEvent

__all__ = ["build_parser", "main"]

DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}
MOCK_KEY = "rawllm-mock-key"  # sent to the embedded MockServer; never a real key
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


# -- parser ------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _add_connection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--provider",
        choices=("openai", "anthropic"),
        default="openai",
        help="wire format: openai (any OpenAI-compatible server) or anthropic (default: openai)",
    )
    p.add_argument(
        "--base-url",
        help="server URL (default: env OPENAI_BASE_URL / ANTHROPIC_BASE_URL, else the "
        "provider's; OpenAI's includes /v1, Anthropic's does not)",
    )
    p.add_argument(
        "--api-key",
        help="API key (default: env OPENAI_API_KEY / ANTHROPIC_API_KEY; prefer the env "
        "variable: command lines are visible to other users)",
    )
    p.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="deadline per request, retries and backoff included (default: the client's, "
        "connect 5 s and 600 s between bytes)",
    )
    p.add_argument(
        "--max-retries",
        type=int,
        default=2,
        metavar="N",
        help="retries after the first attempt for 408/409/429/5xx and network errors (default 2)",
    )
    p.add_argument(
        "--mock",
        action="store_true",
        help="start an embedded MockServer and send everything to it (no API key needed)",
    )


def build_parser(*, mock_options: bool = True) -> argparse.ArgumentParser:
    """The ``rawllm`` argument parser (every subcommand with its help).

    Args:
        mock_options: add ``rawllm mock``'s options (this imports ``rawllm.testing``;
            ``main()`` skips it for the other commands, to start faster).

    Example:
        >>> build_parser().parse_args(["batch", "in.jsonl", "-o", "out.jsonl"]).concurrency
        16
    """
    parser = argparse.ArgumentParser(
        prog="rawllm",
        description="rawllm: a thin, fast client for LLM HTTP APIs (OpenAI wire format and "
        "Anthropic).",
        epilog="Run 'rawllm COMMAND --help' for a command's options. Docs: docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"rawllm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    # chat
    chat = sub.add_parser(
        "chat",
        help="send one prompt and stream the answer",
        description="Send one prompt and stream the answer to stdout as it arrives; usage, "
        "time to first token and tokens per second go to stderr at the end.",
    )
    chat.add_argument(
        "prompt",
        nargs="?",
        default=None,
        help='the prompt; "-" or omitted reads it from stdin (when stdin is not a terminal)',
    )
    chat.add_argument("--model", help="model name (default: gpt-4o-mini / claude-sonnet-4-5)")
    chat.add_argument("--system", help="system prompt")
    chat.add_argument(
        "--max-tokens",
        type=_positive_int,
        help="answer length cap (default: none for OpenAI, 1024 for Anthropic, which needs one)",
    )
    chat.add_argument("--temperature", type=float, help="sampling temperature")
    chat.add_argument("--quiet", "-q", action="store_true", help="do not print the usage line")
    _add_connection(chat)

    # batch
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
        type=_positive_int,
        default=16,
        metavar="N",
        help="requests in flight at once (default 16)",
    )
    batch.add_argument(
        "--rpm", type=_positive_float, metavar="N", help="requests per minute (evenly spaced)"
    )
    batch.add_argument("--tpm", type=_positive_float, metavar="N", help="tokens per minute")
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
        type=_non_negative_float,
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
        type=_positive_float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between plain progress lines (default 5)",
    )
    _add_connection(batch)
    batch.add_argument(
        "--mock-latency",
        type=_non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="with --mock: seconds the mock waits before answering (default 0)",
    )
    batch.add_argument(
        "--mock-faults",
        metavar="SCRIPT",
        help='with --mock: fault script, e.g. "429,500,ok" (see docs/testing.md)',
    )

    # mock
    mock = sub.add_parser(
        "mock",
        help="run the mock LLM server (OpenAI and Anthropic wire formats)",
        description="Serve rawllm.testing.MockServer until Ctrl-C.  Point a client at "
        "http://HOST:PORT/v1 (OpenAI) or http://HOST:PORT (Anthropic).  The URL is printed "
        "on the first stdout line.",
    )
    if mock_options:
        from .testing import add_arguments

        add_arguments(mock)

    # bench
    bench = sub.add_parser(
        "bench",
        help="run the benchmarks (quick by default; needs a source checkout)",
        description="Run the benchmark suite of a rawllm source checkout (benchmarks/), "
        "with --quick unless --full is given; other arguments are passed on to it "
        "(e.g. rawllm bench --json).",
    )
    bench.add_argument("--full", action="store_true", help="the full run instead of --quick")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``rawllm`` command; return its exit status.

    Args:
        argv: arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        0 on success, 1 when a request failed, 2 on a usage error, 130 when interrupted.

    Example:
        >>> main(["chat", "--mock", "Hello"])  # doctest: +SKIP
    """
    if argv is None:
        argv = sys.argv[1:]
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(mock_options=command == "mock")
    if command == "bench":  # everything bench does not know goes to the benchmarks
        args, extra = parser.parse_known_args(argv)
        args.args = extra
    else:
        args = parser.parse_args(argv)
    try:
        if args.command == "chat":
            return _run(_chat(args))
        if args.command == "batch":
            return _run(_batch(args))
        if args.command == "mock":
            from .testing import serve

            return serve(args)
        if args.command == "bench":
            return _bench(args)
    except _UsageError as exc:
        _err(f"rawllm: error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    parser.print_help()
    return EXIT_USAGE


class _UsageError(Exception):
    """A problem with the command line or the files it names (exit status 2)."""


def _run(coro: Any) -> int:
    result: int = asyncio.run(coro)
    return result


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# -- clients -----------------------------------------------------------------


def _make_client(
    args: argparse.Namespace,
    *,
    base_url: str | None,
    rate_limit: Any = None,
    on_retry: Callable[[RetryEvent], Any] | None = None,
) -> BaseClient:
    api_key = MOCK_KEY if args.mock else args.api_key
    if args.max_retries < 0:
        raise _UsageError("--max-retries must be >= 0")
    try:
        if args.provider == "anthropic":
            return Anthropic(
                api_key=api_key,
                base_url=base_url,
                timeout=args.timeout,
                max_retries=args.max_retries,
                rate_limit=rate_limit,
                on_retry=on_retry,
            )
        return OpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=args.timeout,
            max_retries=args.max_retries,
            rate_limit=rate_limit,
            on_retry=on_retry,
        )
    except APIError as exc:  # no API key
        raise _UsageError(f"{exc} (or use --mock to try rawllm without a key)") from None


def _mock_base_url(server: Any, provider: str) -> str:
    return str(server.anthropic_base_url if provider == "anthropic" else server.openai_base_url)


# -- chat ----------------------------------------------------------------------


def _read_prompt(args: argparse.Namespace) -> str:
    prompt = args.prompt
    if prompt is None or prompt == "-":
        if prompt is None and sys.stdin.isatty():
            raise _UsageError('no prompt: give one as an argument, or "-" to read stdin')
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise _UsageError("the prompt is empty")
    return str(prompt)


async def _chat(args: argparse.Namespace) -> int:
    prompt = _read_prompt(args)
    if args.mock:
        from .testing import MockServer

        async with MockServer(tokens_per_second=200.0, record=False) as server:
            return await _chat_with(args, prompt, _mock_base_url(server, args.provider))
    return await _chat_with(args, prompt, args.base_url)


async def _chat_with(args: argparse.Namespace, prompt: str, base_url: str | None) -> int:
    anthropic = args.provider == "anthropic"
    model = args.model or DEFAULT_MODELS[args.provider]
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    params: dict[str, Any] = {"model": model, "stream": True}
    if args.temperature is not None:
        params["temperature"] = args.temperature
    if anthropic:
        params["max_tokens"] = args.max_tokens or 1024
        if args.system:
            params["system"] = args.system
    else:
        if args.max_tokens:
            params["max_tokens"] = args.max_tokens
        if args.system:
            messages.insert(0, {"role": "system", "content": args.system})
        params["stream_options"] = {"include_usage": True}
    params["messages"] = messages
    client = _make_client(args, base_url=base_url)
    out = sys.stdout
    started = time.perf_counter()
    first: float | None = None
    chunks = 0
    try:
        async with client:
            resource = client.messages if anthropic else client.chat.completions  # type: ignore[attr-defined]
            create = resource.create
            async with await create(**params) as stream:
                async for text in stream.text_deltas():
                    if first is None:
                        first = time.perf_counter()
                    chunks += 1
                    out.write(text)
                    out.flush()
                final = stream.final()
    except APIError as exc:
        if first is not None:
            out.write("\n")
            out.flush()
        _err(f"rawllm: error: {exc}")
        return EXIT_FAILED
    end = time.perf_counter()
    out.write("\n")
    out.flush()
    if not args.quiet:
        _err(_chat_stats(final, started, first, end, chunks))
    return EXIT_OK


def _chat_stats(final: Any, started: float, first: float | None, end: float, chunks: int) -> str:
    usage = getattr(final, "usage", None)
    p_in = getattr(usage, "prompt_tokens", None) or getattr(usage, "input_tokens", None)
    p_out = getattr(usage, "completion_tokens", None) or getattr(usage, "output_tokens", None)
    parts = []
    if p_in is not None or p_out is not None:
        parts.append(f"tokens: {p_in or 0} in, {p_out or 0} out")
    else:
        parts.append(f"tokens: unknown ({chunks} chunks)")
    if first is not None:
        parts.append(f"first token {1000 * (first - started):.0f} ms")
        gen = end - first
        n = p_out if p_out else chunks
        if gen > 0 and n:
            parts.append(f"{n / gen:.1f} tokens/s")
    parts.append(f"total {end - started:.2f} s")
    return "rawllm: " + " · ".join(parts)


# -- batch: progress -------------------------------------------------------------


class _Progress:
    """Plain progress: a line every ``interval`` seconds on stderr (and messages)."""

    def __init__(self, tally: Tally, started: float, interval: float | None) -> None:
        self.tally = tally
        self.started = started
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval is not None:
            self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        assert self.interval is not None
        while True:
            await asyncio.sleep(self.interval)
            self.log(progress_line(self.tally, time.monotonic() - self.started))

    def update(self) -> None:
        pass

    def log(self, text: str) -> None:
        _err(text)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


class _RichProgress(_Progress):
    """A live display (rich): a bar with done/total and ETA, and a line of counters below.

    Rendering happens in rich's refresh thread (a few times a second); ``update()``
    only moves the bar, and the counters line reads the tally when drawn.
    """

    def __init__(self, tally: Tally, started: float, console: Any) -> None:
        super().__init__(tally, started, None)
        from rich.console import Group
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]rawllm batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task_id = self._progress.add_task("batch", total=self._total())
        self._live = Live(
            Group(self._progress, _Counters(self)), console=console, refresh_per_second=8
        )

    def _total(self) -> int | None:
        t = self.tally
        return None if t.total is None else max(t.total - t.skipped - t.malformed, 0)

    def counters(self) -> str:
        t = self.tally
        elapsed = time.monotonic() - self.started
        rate = t.done / elapsed if elapsed > 0 else 0.0
        failed = f"[red]{t.failed_total} failed[/]" if t.failed_total else "0 failed"
        return (
            f"{failed} · {t.retries} retries · {t.rate_limited}×429 · {rate:.1f} req/s · "
            f"{t.prompt_tokens + t.completion_tokens:,} tokens · {_clock(elapsed)} elapsed"
        )

    def start(self) -> None:
        self._live.start()

    def update(self) -> None:
        self._progress.update(self._task_id, completed=self.tally.done, total=self._total())

    def log(self, text: str) -> None:
        self._live.console.print(text, markup=False, highlight=False)

    async def stop(self) -> None:
        self.update()
        self._live.stop()


class _Counters:
    """The counters line under the bar, computed when rich draws it."""

    def __init__(self, owner: _RichProgress) -> None:
        self._owner = owner

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text.from_markup(self._owner.counters())


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _progress_for(args: argparse.Namespace, tally: Tally, started: float) -> _Progress:
    mode = args.progress
    if mode in ("auto", "rich"):
        if mode == "rich" or sys.stderr.isatty():
            try:
                from rich.console import Console
            except ImportError:
                if mode == "rich":
                    _err("rawllm: rich is not installed (pip install 'rawllm[cli]'); plain lines")
            else:
                return _RichProgress(tally, started, Console(stderr=True))
        return _Progress(tally, started, args.progress_interval)
    if mode == "plain":
        return _Progress(tally, started, args.progress_interval)
    return _Progress(tally, started, None)


# -- batch: files ------------------------------------------------------------------


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
        raise _UsageError(f"input file not found: {args.input}")
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        raise _UsageError("the output file must not be the input file")
    if args.mock:
        from .testing import MockServer

        try:
            server = MockServer(
                latency=args.mock_latency, faults=args.mock_faults, tokens=16, record=False
            )
        except ValueError as exc:
            raise _UsageError(f"--mock-faults: {exc}") from None
        async with server:
            return await _batch_with(args, _mock_base_url(server, args.provider))
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
    client = _make_client(args, base_url=base_url, rate_limit=rate_limit, on_retry=on_retry)

    try:
        scan = _prepare_output(args.output, args.keep_failed)
        tally.total = _count_input(args.input)
        writer = _Writer(args.output)
    except OSError as exc:
        await client.close()
        raise _UsageError(str(exc)) from None
    if scan.kept or scan.needs_rewrite or scan.partial_tail:
        _err(_resume_note(scan, args.output))

    started = time.monotonic()
    progress = _progress_for(args, tally, started)
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
    _err(summary_text(tally, elapsed, interrupted=interrupted))
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


# -- bench -----------------------------------------------------------------------------


def _bench(args: argparse.Namespace) -> int:
    import importlib
    import subprocess

    argv: list[str] = list(args.args)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not args.full and "--quick" not in argv:
        argv.insert(0, "--quick")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    try:
        module = importlib.import_module("benchmarks.__main__")
    except ModuleNotFoundError as exc:
        if exc.name not in ("benchmarks", "benchmarks.__main__"):
            raise
        module = None
    entry = getattr(module, "main", None)
    if callable(entry):
        code = entry(argv)
        return int(code or 0)
    if module is None and not os.path.isdir(os.path.join(cwd, "benchmarks")):
        raise _UsageError(
            "the benchmarks live in a rawllm source checkout: run 'rawllm bench' from its root"
        )
    return subprocess.call([sys.executable, "-m", "benchmarks", *argv], cwd=cwd)
