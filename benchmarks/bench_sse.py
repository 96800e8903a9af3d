"""SSE decoding speed: rawllm.sse against openai-python, httpx-sse and a minimal splitter.

Run ``python -m benchmarks.bench_sse`` (``--quick`` for a short run, ``--json``
for machine-readable output).  Every contender decodes the same bytes (the
200-chunk chat stream of ``benchmarks.chat_stream``, 201 events) cut into
pieces of the same size, in the same process, interleaved round by round so
that machine noise hits all of them alike; the best round counts.  Time is
the process's CPU time (``time.process_time``): these loops are
single-threaded and CPU-bound, so on an idle machine it equals wall time, and
on a busy one it leaves out the time other processes held the CPU.

Contenders:

* ``rawllm``: ``SSEDecoder.feed`` for each piece (WHATWG-exact).
* ``openai``: ``openai._streaming.SSEDecoder().iter_bytes`` (what the official
  SDK runs on every stream).
* ``httpx-sse``: what ``EventSource.iter_sse`` does: an incremental UTF-8
  decoder (httpx's ``iter_text``), ``httpx_sse._decoders.SSELineDecoder``, then
  ``SSEDecoder.decode`` per line.
* ``minimal``: a hand-written splitter that is *not* spec-exact (split on
  ``b"\\n\\n"``, drop ``"data: "``); the floor a Python decoder can hope for.

The ``openai`` and ``httpx-sse`` packages come from the ``[bench]`` extra; a
missing one is reported and skipped.
"""

from __future__ import annotations

import argparse
import codecs
import importlib.metadata
import json
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from benchmarks.chat_stream import chat_stream, chunked
from rawllm.sse import SSEDecoder

Decoder = Callable[[Sequence[bytes]], list[str]]

PIECE_SIZES = (1024, 7, 65536)
TARGETS = {  # piece size -> contender -> minimum rawllm speed-up (issue 3)
    1024: {"openai": 3.0, "httpx-sse": 1.3},
    7: {"openai": 4.0, "httpx-sse": 3.0},
}


def decode_rawllm(chunks: Sequence[bytes]) -> list[str]:
    dec = SSEDecoder()
    out: list[str] = []
    for chunk in chunks:
        for event in dec.feed(chunk):
            out.append(event.data)
    for event in dec.close():
        out.append(event.data)
    return out


def decode_minimal(chunks: Sequence[bytes]) -> list[str]:
    # Not spec-exact: LF only, one data line per event, no fields, no BOM.
    buf = b""
    out: list[str] = []
    for chunk in chunks:
        buf += chunk
        if 10 in chunk:
            *blocks, buf = buf.split(b"\n\n")
            for block in blocks:
                out.append(block[6:].decode())
    return out


def _openai() -> Decoder | None:
    try:
        from openai._streaming import SSEDecoder as OpenAIDecoder
    except ImportError:
        return None

    def decode_openai(chunks: Sequence[bytes]) -> list[str]:
        return [event.data for event in OpenAIDecoder().iter_bytes(iter(chunks))]

    return decode_openai


def _httpx_sse() -> Decoder | None:
    try:
        from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
        from httpx_sse._decoders import SSELineDecoder
    except ImportError:
        return None

    def decode_httpx_sse(chunks: Sequence[bytes]) -> list[str]:
        text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        lines = SSELineDecoder()
        dec = HttpxSSEDecoder()
        out: list[str] = []
        for chunk in chunks:
            for line in lines.decode(text.decode(chunk)):
                event = dec.decode(line.rstrip("\n"))
                if event is not None:
                    out.append(event.data)
        for line in lines.flush():
            event = dec.decode(line.rstrip("\n"))
            if event is not None:
                out.append(event.data)
        return out

    return decode_httpx_sse


def contenders() -> dict[str, Decoder | None]:
    return {
        "rawllm": decode_rawllm,
        "openai": _openai(),
        "httpx-sse": _httpx_sse(),
        "minimal": decode_minimal,
    }


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("rawllm", "openai", "httpx-sse", "msgspec"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _time(fn: Decoder, chunks: Sequence[bytes], passes: int) -> float:
    start = time.process_time()
    for _ in range(passes):
        fn(chunks)
    return (time.process_time() - start) / passes


def run(quick: bool = False) -> dict[str, Any]:
    """Measure every contender at every piece size.

    Args:
        quick: a few short rounds (a smoke run) instead of the full measurement.

    Returns:
        ``{"stream": {...}, "versions": {...}, "results": {size: {name: {...}}},
        "targets": {...}}``; each result has ``events_per_s``, ``mb_per_s`` and
        ``rawllm_speedup`` (rawllm's events/s divided by this contender's).

    Example:
        >>> figures = run(quick=True)  # doctest: +SKIP
        >>> figures["results"]["1024"]["rawllm"]["events_per_s"] > 0  # doctest: +SKIP
        True
    """
    body = chat_stream()
    available = {name: fn for name, fn in contenders().items() if fn is not None}
    expected = decode_rawllm([body])
    rounds = 3 if quick else 15
    budget = 0.02 if quick else 0.2  # seconds per timing sample
    results: dict[str, dict[str, dict[str, float]]] = {}
    for size in PIECE_SIZES:
        chunks = chunked(body, size)
        passes: dict[str, int] = {}
        for name, fn in available.items():
            got = fn(chunks)
            if got != expected:  # every contender must see the same 201 events
                raise AssertionError(f"{name} decoded {len(got)} events at {size}-byte pieces")
            one = _time(fn, chunks, 1)
            passes[name] = max(1, int(budget / max(one, 1e-9)))
        best = dict.fromkeys(available, float("inf"))
        for _ in range(rounds):
            for name, fn in available.items():
                best[name] = min(best[name], _time(fn, chunks, passes[name]))
        ours = len(expected) / best["rawllm"]
        results[str(size)] = {
            name: {
                "events_per_s": len(expected) / seconds,
                "mb_per_s": len(body) / seconds / 1e6,
                "rawllm_speedup": ours / (len(expected) / seconds),
            }
            for name, seconds in best.items()
        }
    return {
        "stream": {"events": len(expected), "bytes": len(body), "piece_sizes": list(PIECE_SIZES)},
        "versions": versions(),
        "skipped": sorted(name for name, fn in contenders().items() if fn is None),
        "results": results,
        "targets": {str(k): v for k, v in TARGETS.items()},
    }


def _rows(figures: dict[str, Any]) -> Iterator[str]:
    stream = figures["stream"]
    yield (
        f"SSE decode: {stream['events']} events, {stream['bytes']:,} bytes "
        f"(benchmarks.chat_stream), best of interleaved rounds, CPU time"
    )
    yield "  ".join(f"{k} {v}" for k, v in figures["versions"].items())
    header = (
        f"{'pieces':>8}  {'decoder':<10} {'events/s':>12} {'MB/s':>8} {'rawllm is':>10}  target"
    )
    yield header
    yield "-" * len(header)
    for size, by_name in figures["results"].items():
        for name, r in by_name.items():
            target = figures["targets"].get(size, {}).get(name)
            verdict = ""
            if target is not None:
                ok = r["rawllm_speedup"] >= target
                verdict = f">= {target:.1f}x {'ok' if ok else 'MISSED'}"
            yield (
                f"{size + ' B':>8}  {name:<10} {r['events_per_s']:>12,.0f} {r['mb_per_s']:>8.1f} "
                f"{r['rawllm_speedup']:>9.2f}x  {verdict}"
            )
    if figures["skipped"]:
        missing = ", ".join(figures["skipped"])
        yield f"skipped (not installed; pip install 'rawllm[bench]'): {missing}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_sse", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = run(quick=args.quick)
    if args.json:
        json.dump(figures, sys.stdout, indent=2)
        print()
    else:
        for row in _rows(figures):
            print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
