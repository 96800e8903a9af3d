"""``rawllm mock``: serve rawllm.testing.MockServer until Ctrl-C."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], *, options: bool = True
) -> None:
    """Register ``mock``; ``options`` adds its flags (this imports ``rawllm.testing``)."""
    mock = sub.add_parser(
        "mock",
        help="run the mock LLM server (OpenAI and Anthropic wire formats)",
        description="Serve rawllm.testing.MockServer until Ctrl-C.  Point a client at "
        "http://HOST:PORT/v1 (OpenAI) or http://HOST:PORT (Anthropic).  The URL is printed "
        "on the first stdout line.",
    )
    if options:
        from ..testing import add_arguments

        add_arguments(mock)


def run(args: argparse.Namespace) -> int:
    """Run ``rawllm mock``; return its exit status."""
    from ..testing import serve

    return serve(args)
