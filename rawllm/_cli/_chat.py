"""``rawllm chat``: send one prompt and stream the answer to stdout."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .._exceptions import APIError
from ._common import (
    DEFAULT_MODELS,
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_connection,
    err,
    make_client,
    mock_base_url,
    positive_int,
    run_async,
)

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``chat`` and its options."""
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
        type=positive_int,
        help="answer length cap (default: none for OpenAI, 1024 for Anthropic, which needs one)",
    )
    chat.add_argument("--temperature", type=float, help="sampling temperature")
    chat.add_argument("--quiet", "-q", action="store_true", help="do not print the usage line")
    add_connection(chat)


def run(args: argparse.Namespace) -> int:
    """Run ``rawllm chat``; return its exit status."""
    return run_async(_chat(args))


def _read_prompt(args: argparse.Namespace) -> str:
    prompt = args.prompt
    if prompt is None or prompt == "-":
        if prompt is None and sys.stdin.isatty():
            raise UsageError('no prompt: give one as an argument, or "-" to read stdin')
        prompt = sys.stdin.read()
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    return str(prompt)


async def _chat(args: argparse.Namespace) -> int:
    prompt = _read_prompt(args)
    if args.mock:
        from ..testing import MockServer

        async with MockServer(tokens_per_second=200.0, record=False) as server:
            return await _chat_with(args, prompt, mock_base_url(server, args.provider))
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
    client = make_client(args, base_url=base_url)
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
        err(f"rawllm: error: {exc}")
        return EXIT_FAILED
    end = time.perf_counter()
    out.write("\n")
    out.flush()
    if not args.quiet:
        err(_chat_stats(final, started, first, end, chunks))
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
