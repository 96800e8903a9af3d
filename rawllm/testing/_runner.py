"""Serve MockServer from a command line: ``rawllm mock`` and ``python -m rawllm.testing``.

Prints the server URL as the first stdout line (flushed), so a parent process
can wait for it, then serves until SIGINT or SIGTERM and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import math
import signal
import sys

from . import _faults
from ._app import MockServer
from ._planning import DEFAULT_TOKENS

__all__ = ["DEFAULT_PORT", "add_arguments", "check_arguments", "run_cli", "serve"]

# Not 8000 (vLLM's), 8080 (llama.cpp's, TGI's), 4000 (LiteLLM's) nor 11434 (Ollama's):
# the mock stands in for those servers and may run beside them.
DEFAULT_PORT = 8100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add MockServer's options to ``parser`` (for ``rawllm mock``).

    Example:
        >>> p = argparse.ArgumentParser(); add_arguments(p)
        >>> p.parse_args(["--port", "0"]).port
        0
    """
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port, 0 picks one (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--strict-models",
        action="store_true",
        help="answer 404 for a model the provider's /v1/models does not list (as real "
        "providers do); by default any model name is served",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before headers")
    parser.add_argument(
        "--tokens",
        "--chunks",
        dest="tokens",
        type=int,
        default=DEFAULT_TOKENS,
        help="words per answer, one stream delta each (default 16)",
    )
    parser.add_argument(
        "--tokens-per-second", type=float, default=None, help="stream pacing (default: no pause)"
    )
    parser.add_argument(
        "--keepalive-every", type=int, default=0, help="keep-alive comment every N events"
    )
    parser.add_argument(
        "--big-event", type=int, default=0, help="bytes of one extra text delta per answer"
    )
    parser.add_argument("--faults", default=None, help='fault script, e.g. "429,500,ok"')
    parser.add_argument("--rpm", type=float, default=None, help="strict requests per minute")
    parser.add_argument("--tpm", type=float, default=None, help="strict tokens per minute")
    limits = parser.add_argument_group("enforcement, as real providers do it (docs/testing.md)")
    limits.add_argument(
        "--window",
        type=float,
        default=None,
        help="enforce --rpm/--tpm over fixed windows of this many seconds (OpenAI, Azure: 1)",
    )
    limits.add_argument(
        "--charge-rejected", action="store_true", help="refused requests count against the budget"
    )
    limits.add_argument(
        "--gateway-429",
        type=float,
        default=0.0,
        metavar="P",
        help="answer this share of requests 429 without rate headers (a gateway)",
    )
    limits.add_argument(
        "--gateway-retry-after",
        type=float,
        default=0.2,
        metavar="SECONDS",
        help="Retry-After of those 429s; a negative value sends none (default 0.2)",
    )
    limits.add_argument(
        "--max-concurrency",
        type=int,
        default=None,
        help='requests in flight above this get 429 "too many concurrent requests" (529 on '
        "Anthropic routes)",
    )
    limits.add_argument(
        "--concurrency-retry-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="refuse --max-concurrency overflows as a LiteLLM proxy does: 429 with this "
        "Retry-After and rate_limit_type: max_parallel_requests (LiteLLM: 60)",
    )
    limits.add_argument(
        "--concurrency-headers",
        action="store_true",
        help="state --max-concurrency on non-streaming successes as LiteLLM v3 does "
        "(x-ratelimit-api_key-limit-max_parallel_requests)",
    )
    limits.add_argument(
        "--queue-503",
        action="store_true",
        help="refuse --max-concurrency overflows as Ollama does when its queue is full: "
        '503 "server busy, please try again.  maximum pending requests exceeded"',
    )
    limits.add_argument(
        "--change-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="multiply --rpm/--tpm by --change-factor this long after the first request",
    )
    limits.add_argument("--change-factor", type=float, default=0.5, help="(default 0.5: halve)")
    limits.add_argument("--seed", type=int, default=0, help="seed of the gateway's random 429s")
    parser.add_argument("--api-key", default=None, help="require this API key (401 otherwise)")
    parser.add_argument(
        "--record", action="store_true", help="keep every request in memory (off by default)"
    )
    parser.add_argument(
        "--batch-phase",
        type=float,
        default=0.2,
        help="seconds each Batch API phase lasts: validating, in progress, finalizing "
        "(default 0.2)",
    )
    parser.add_argument(
        "--batch-window",
        type=float,
        default=3600.0,
        help="seconds standing for a batch's 24 h completion window (default 3600)",
    )


def _server(args: argparse.Namespace) -> MockServer:
    return MockServer(
        host=args.host,
        port=args.port,
        strict_models=args.strict_models,
        latency=args.latency,
        tokens=args.tokens,
        tokens_per_second=args.tokens_per_second,
        keepalive_every=args.keepalive_every,
        big_event=args.big_event,
        faults=args.faults,
        rpm=args.rpm,
        tpm=args.tpm,
        window=args.window,
        charge_rejected=args.charge_rejected,
        gateway_429=args.gateway_429,
        gateway_retry_after=None if args.gateway_retry_after < 0 else args.gateway_retry_after,
        max_concurrency=args.max_concurrency,
        concurrency_retry_after=args.concurrency_retry_after,
        concurrency_headers=args.concurrency_headers,
        queue_503=args.queue_503,
        change_after=args.change_after,
        change_factor=args.change_factor,
        seed=args.seed,
        api_key=args.api_key,
        record=args.record,
        batch_phase=args.batch_phase,
        batch_window=args.batch_window,
    )


async def _serve(server: MockServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            pass
    async with server:
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        await stop.wait()


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse option values the server cannot run with (argparse only checks the types).

    Raises:
        ValueError: naming the option and the accepted range.

    Example:
        >>> check_arguments(argparse.Namespace(port=99999))
        Traceback (most recent call last):
        ValueError: --port must be between 0 and 65535, got 99999
    """

    def need(name: str, ok: bool, rule: str) -> None:
        if not ok:
            raise ValueError(f"--{name.replace('_', '-')} {rule}, got {getattr(args, name)}")

    def positive(value: float | None) -> bool:
        return value is None or (math.isfinite(value) and value > 0)

    need("port", 0 <= args.port <= 65535, "must be between 0 and 65535")
    need("tokens", args.tokens >= 1, "must be >= 1")
    need("latency", math.isfinite(args.latency) and args.latency >= 0, "must be >= 0")
    need("tokens_per_second", positive(args.tokens_per_second), "must be > 0")
    need("keepalive_every", args.keepalive_every >= 0, "must be >= 0")
    need("big_event", args.big_event >= 0, "must be >= 0")
    need("rpm", positive(args.rpm), "must be > 0")
    need("tpm", positive(args.tpm), "must be > 0")
    need("gateway_retry_after", not math.isnan(args.gateway_retry_after), "must be a number")
    need(
        "concurrency_retry_after",
        args.concurrency_retry_after is None
        or (math.isfinite(args.concurrency_retry_after) and args.concurrency_retry_after >= 0),
        "must be >= 0",
    )
    need("batch_phase", math.isfinite(args.batch_phase) and args.batch_phase >= 0, "must be >= 0")
    need("batch_window", positive(args.batch_window), "must be > 0")
    try:
        _faults.parse_script(args.faults)
    except ValueError as exc:
        raise ValueError(f"--faults: {exc}") from None


def serve(args: argparse.Namespace) -> int:
    """Run MockServer with parsed ``args`` until SIGINT/SIGTERM; return the exit code.

    A bad option value is one ``rawllm: error:`` line and exit status 2; a socket
    that cannot be bound (port in use, an address this host does not have) one
    such line and exit status 1.
    """
    try:
        check_arguments(args)
        server = _server(args)  # the server checks the values of its other options
    except ValueError as exc:
        return _fail(str(exc), 2)
    try:
        asyncio.run(_serve(server))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        return _fail(_bind_error(args.host, args.port, exc), 1)
    return 0


def _fail(message: str, status: int) -> int:
    sys.stderr.write(f"rawllm: error: {message}\n")
    sys.stderr.flush()
    return status


def _bind_error(host: str, port: int, exc: OSError) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is in use (try --port 0 for a free one)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: this machine has no such address"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot listen on {where}: permission denied (ports below 1024 need privileges)"
    reason = exc.strerror or str(exc)
    return f"cannot listen on {where}: {reason}"


def run_cli(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and serve; return the exit code.

    Example:
        >>> run_cli(["--port", "8100", "--faults", "429,ok"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(
        prog="python -m rawllm.testing", description="Serve rawllm's mock LLM provider."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return serve(args)
