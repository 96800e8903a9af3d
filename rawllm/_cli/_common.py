"""What the ``rawllm`` subcommands share: exit statuses, argument types, connection options,
client construction, and the usage error."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._exceptions import APIError
from .._providers import Anthropic, OpenAI

if TYPE_CHECKING:
    from .._client import BaseClient, RetryEvent

__all__ = [
    "DEFAULT_MODELS",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "MOCK_KEY",
    "UsageError",
    "add_connection",
    "http_url",
    "err",
    "make_client",
    "mock_base_url",
    "non_negative_float",
    "positive_float",
    "positive_int",
    "run_async",
]

DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}
MOCK_KEY = "rawllm-mock-key"  # sent to the embedded MockServer; never a real key
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == math.inf:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == math.inf:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def http_url(text: str) -> str:
    """An argparse type: an absolute http(s) URL with a host (a usage error otherwise)."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"not an http(s) URL: {text!r} (e.g. http://localhost:8000/v1)"
        )
    return text


def add_connection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--provider",
        choices=("openai", "anthropic"),
        default="openai",
        help="wire format: openai (any OpenAI-compatible server) or anthropic (default: openai)",
    )
    p.add_argument(
        "--base-url",
        type=http_url,
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
        type=positive_float,
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


class UsageError(Exception):
    """A problem with the command line or the files it names (exit status 2)."""


def run_async(coro: Any) -> int:
    """Run a command's coroutine: on uvloop when it is installed (``rawllm[speed]``).

    The CLI owns its process, so it may choose the event loop; the library
    never does (see docs/benchmarks.md, "uvloop").
    """
    try:
        import uvloop
    except ImportError:
        result: int = asyncio.run(coro)
    else:
        result = uvloop.run(coro)
    return result


def err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# -- clients -----------------------------------------------------------------


def make_client(
    args: argparse.Namespace,
    *,
    base_url: str | None,
    rate_limit: Any = None,
    on_retry: Callable[[RetryEvent], Any] | None = None,
) -> BaseClient:
    api_key = MOCK_KEY if args.mock else args.api_key
    if args.max_retries < 0:
        raise UsageError("--max-retries must be >= 0")
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
        raise UsageError(f"{exc} (or use --mock to try rawllm without a key)") from None
    except ValueError as exc:  # a configuration the client refuses (a bad header, URL, ...)
        raise UsageError(str(exc)) from None


def mock_base_url(server: Any, provider: str) -> str:
    return str(server.anthropic_base_url if provider == "anthropic" else server.openai_base_url)
