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
from typing import Any

from . import _faults
from ._app import MockServer
from ._planning import DEFAULT_TOKENS

__all__ = ["DEFAULT_PORT", "add_arguments", "run_cli", "serve"]


# Not 8000 (vLLM's), 8080 (llama.cpp's, TGI's), 4000 (LiteLLM's) nor 11434 (Ollama's):
# the mock stands in for those servers and may run beside them.
DEFAULT_PORT = 8100


def _int_in(low: int, high: int | None = None) -> Any:
    """An argparse type: an int in [low, high], else a usage error naming the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _positive(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _fault_script(text: str) -> str:
    try:
        _faults.parse_script(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add MockServer's options to ``parser`` (for ``rawllm mock``).

    Every value is checked here, so a bad one is a usage error (exit status 2).

    Example:
        >>> p = argparse.ArgumentParser(); add_arguments(p)
        >>> p.parse_args(["--port", "0"]).port
        0
    """
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=_int_in(0, 65535),
        default=DEFAULT_PORT,
        help=f"port, 0 picks one (default {DEFAULT_PORT})",
    )
    parser.add_argument("--latency", type=_non_negative, default=0.0, help="seconds before headers")
    parser.add_argument(
        "--tokens",
        "--chunks",
        dest="tokens",
        type=_int_in(1),
        default=DEFAULT_TOKENS,
        help="words per answer, one stream delta each (default 16)",
    )
    parser.add_argument(
        "--tokens-per-second",
        type=_positive,
        default=None,
        help="stream pacing (default: no pause)",
    )
    parser.add_argument(
        "--keepalive-every",
        type=_int_in(0),
        default=0,
        help="keep-alive comment every N events",
    )
    parser.add_argument(
        "--big-event",
        type=_int_in(0),
        default=0,
        help="bytes of one extra text delta per answer",
    )
    parser.add_argument(
        "--faults", type=_fault_script, default=None, help='fault script, e.g. "429,500,ok"'
    )
    parser.add_argument("--rpm", type=_positive, default=None, help="strict requests per minute")
    parser.add_argument("--tpm", type=_positive, default=None, help="strict tokens per minute")
    parser.add_argument("--api-key", default=None, help="require this API key (401 otherwise)")
    parser.add_argument(
        "--record", action="store_true", help="keep every request in memory (off by default)"
    )
    parser.add_argument(
        "--strict-models",
        action="store_true",
        help="answer 404 for a model the provider's /v1/models does not list (as real "
        "providers do); by default any model name is served",
    )


async def _serve(args: argparse.Namespace) -> None:
    server = MockServer(
        host=args.host,
        port=args.port,
        latency=args.latency,
        tokens=args.tokens,
        tokens_per_second=args.tokens_per_second,
        keepalive_every=args.keepalive_every,
        big_event=args.big_event,
        faults=args.faults,
        rpm=args.rpm,
        tpm=args.tpm,
        api_key=args.api_key,
        record=args.record,
        strict_models=args.strict_models,
    )
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


def serve(args: argparse.Namespace) -> int:
    """Run MockServer with parsed ``args`` until SIGINT/SIGTERM; return the exit code.

    A socket that cannot be bound (port in use, an address this host does not
    have) is reported on stderr as one ``rawllm: error:`` line, exit status 1.
    """
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        sys.stderr.write(f"rawllm: error: {_bind_error(args.host, args.port, exc)}\n")
        sys.stderr.flush()
        return 1
    return 0


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
