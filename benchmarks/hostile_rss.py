"""Peak memory of a client facing a hostile server: a benchmark-style script, not a test.

Three servers on 127.0.0.1 (run by this process) send what no API should:

- ``body-200MB``: a 200 MB JSON body (with Content-Length);
- ``sse-line-1GiB``: a stream whose first line is 1 GiB with no line end;
- ``gzip-bomb``: a ~1 MiB gzip body that inflates to 1 GiB.

Each case runs in a fresh child process (so its peak RSS is its own) with the
rawllm found at ``--rawllm PATH`` (default: this checkout), and reports how
the call ended and the child's peak RSS.  Point ``--rawllm`` at an older
checkout to compare.

Examples::

    python -m benchmarks.hostile_rss
    python -m benchmarks.hostile_rss --rawllm /path/to/older/checkout --json before.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20

Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]


async def _body_200mb(w: asyncio.StreamWriter) -> None:
    size = 200 * 10**6
    head = b'{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[],"pad":"'
    tail = b'"}'
    pad = size - len(head) - len(tail)
    w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    w.write(b"Content-Length: %d\r\n\r\n" % size + head)
    block = b"x" * MiB
    while pad > 0:
        w.write(block[: min(pad, MiB)])
        pad -= MiB
        await w.drain()
    w.write(tail)
    await w.drain()


async def _sse_line_1gib(w: asyncio.StreamWriter) -> None:
    w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: ")
    block = b"x" * MiB
    for _ in range(1024):
        w.write(block)
        await w.drain()


_BOMB: list[bytes] = []


def _bomb() -> bytes:
    """~1 MiB of gzip that inflates to 1 GiB of JSON whitespace (made once)."""
    if not _BOMB:
        c = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
        block = b" " * (16 * MiB)
        parts = [c.compress(block) for _ in range(64)]
        parts.append(c.flush())
        _BOMB.append(b"".join(parts))
    return _BOMB[0]


async def _gzip_bomb(w: asyncio.StreamWriter) -> None:
    body = _bomb()
    w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n")
    w.write(b"Content-Length: %d\r\n\r\n" % len(body))
    w.write(body)
    await w.drain()


CASES: dict[str, tuple[Writer, bool]] = {
    "body-200MB": (_body_200mb, False),
    "sse-line-1GiB": (_sse_line_1gib, True),
    "gzip-bomb": (_gzip_bomb, False),
}

CHILD = r"""
import asyncio, json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import rawllm
url, stream = sys.argv[2], sys.argv[3] == "1"

async def main():
    t = time.monotonic()
    outcome = "returned"
    try:
        async with rawllm.OpenAI(api_key="sk-x", base_url=url, max_retries=0,
                                 timeout=rawllm.Timeout(read=60, total=120)) as c:
            msgs = [{"role": "user", "content": "hi"}]
            if stream:
                s = await c.chat.completions.create(model="m", messages=msgs, stream=True)
                async with s:
                    async for _ in s:
                        pass
            else:
                await c.chat.completions.create(model="m", messages=msgs)
    except BaseException as exc:
        outcome = f"{type(exc).__name__}: {str(exc)[:90]}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"outcome": outcome, "peak_rss_mb": round(peak),
                      "seconds": round(time.monotonic() - t, 1)}))

asyncio.run(main())
"""


def _serve(writers: dict[str, Writer]) -> tuple[dict[str, int], asyncio.AbstractEventLoop]:
    """Start one server per case in a background thread; return their ports."""
    loop = asyncio.new_event_loop()
    ports: dict[str, int] = {}
    ready = threading.Event()

    def handler(write: Writer) -> Callable[..., Awaitable[None]]:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                await r.readuntil(b"\r\n\r\n")
                await write(w)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                w.close()

        return handle

    async def start() -> None:
        for name, write in writers.items():
            server = await asyncio.start_server(handler(write), "127.0.0.1", 0)
            ports[name] = server.sockets[0].getsockname()[1]
        ready.set()

    def run() -> None:
        loop.run_until_complete(start())
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(30)
    return ports, loop


def measure(rawllm_path: str, only: list[str] | None = None) -> dict[str, dict[str, object]]:
    names = only or list(CASES)
    _bomb()
    ports, _ = _serve({n: CASES[n][0] for n in names})
    results: dict[str, dict[str, object]] = {}
    for name in names:
        stream = CASES[name][1]
        url = f"http://127.0.0.1:{ports[name]}/v1"
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, rawllm_path, url, "1" if stream else "0"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        line = (proc.stdout.strip().splitlines() or ["{}"])[-1]
        try:
            results[name] = json.loads(line)
        except json.JSONDecodeError:
            results[name] = {"outcome": f"child failed: {proc.stderr.strip()[-200:]}"}
        print(f"{name:14} {json.dumps(results[name])}", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.hostile_rss", description=__doc__)
    p.add_argument("--rawllm", default=str(ROOT), help="checkout whose rawllm to measure")
    p.add_argument("--only", nargs="*", choices=list(CASES))
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    results = measure(args.rawllm, args.only)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
