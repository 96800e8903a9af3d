"""The ``rawllm`` command (also ``python -m rawllm``): chat, batch, mock, bench.

Configuration comes from flags and the providers' standard environment
variables only (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``ANTHROPIC_API_KEY``,
``ANTHROPIC_BASE_URL``).  ``rich`` (extra ``[cli]``) is imported only when a
live progress display is drawn; without it, plain lines are printed.

One module per subcommand, each with ``add_parser(subparsers)`` (its
arguments) and ``run(args) -> exit status``; ``_common`` holds what they share.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from .._version import __version__
from . import _batch, _bench, _chat, _mock
from ._common import EXIT_INTERRUPTED, EXIT_USAGE, UsageError, err

__all__ = ["build_parser", "main"]

_RUNNERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "chat": _chat.run,
    "batch": _batch.run,
    "mock": _mock.run,
    "bench": _bench.run,
}


class _Parser(argparse.ArgumentParser):
    """argparse, with every usage error on one ``rawllm: error:`` line (exit status 2).

    The subcommands' parsers are of this class too (``add_subparsers`` copies it).
    """

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"rawllm: error: {message}\n")


def build_parser(*, mock_options: bool = True) -> argparse.ArgumentParser:
    """The ``rawllm`` argument parser (every subcommand with its help).

    Args:
        mock_options: add ``rawllm mock``'s options (this imports ``rawllm.testing``;
            ``main()`` skips it for the other commands, to start faster).

    Example:
        >>> build_parser().parse_args(["batch", "in.jsonl", "-o", "out.jsonl"]).concurrency
        16
    """
    parser = _Parser(
        prog="rawllm",
        description="rawllm: a thin, fast client for LLM HTTP APIs (OpenAI wire format and "
        "Anthropic).",
        epilog="Run 'rawllm COMMAND --help' for a command's options. Exit status: 0 done, "
        "1 a request or the server failed, 2 a usage error, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"rawllm {__version__}")
    sub: argparse._SubParsersAction[argparse.ArgumentParser]
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")  # type: ignore[assignment]
    _chat.add_parser(sub)
    _batch.add_parser(sub)
    _mock.add_parser(sub, options=mock_options)
    _bench.add_parser(sub)
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
    run = _RUNNERS.get(args.command) if args.command else None
    try:
        if run is not None:
            return run(args)
    except UsageError as exc:
        err(f"rawllm: error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    parser.print_help()
    return EXIT_USAGE
