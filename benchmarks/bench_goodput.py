"""Goodput against a strict provider (issue 6, item 5).

N chat requests against ``python -m rawllm.testing --rpm R --tpm T`` (the
MockServer refusing like a real provider: continuous refill, one second of
burst, 429 with Retry-After and ``x-ratelimit-*`` headers), each contender in
a fresh process against a fresh server:

* ``rawllm-limits``:  rawllm with ``RateLimit(requests_per_minute=R, tokens_per_minute=T,
  max_concurrency=64)``;
* ``rawllm-learn``:   rawllm with ``RateLimit(max_concurrency=64)`` only: no
  numbers, it learns them from the headers (its first call probes);
* ``openai``:         the official SDK, default retries (2), ``asyncio.gather`` +
  ``Semaphore(64)``, the pattern users write by hand;
* ``openai-tenacity``: the same wrapped in tenacity's cookbook recipe
  (``wait_random_exponential(min=1, max=60)``, ``stop_after_attempt(6)``);
* ``rawllm-redis-4p``: 4 processes, N / 4 requests each, sharing one
  ``RedisStore`` budget of R and T (needs ``redis-server`` and ``redis``).

Every request has a 40-word prompt and a ``max_tokens`` drawn from 20..120
(seeded; the server charges prompt + max_tokens when a request starts, as
OpenAI does, and answers exactly max_tokens words).  "ideal" is the time the
budget's rates impose: max(N / request rate, tokens / token rate), plus one
latency (the server's one-second burst is not counted as saving time).
Reported per contender: wall time, ratio to ideal, requests answered 429
(counted on the client's side of the wire), failed calls.

Usage::

    python -m benchmarks.bench_goodput                 # full: 2,000 requests at 600 RPM
    python -m benchmarks.bench_goodput --quick         # 300 requests at 3,000 RPM
    python -m benchmarks.bench_goodput --json --only rawllm-limits,openai
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROMPT_WORDS = 40
LATENCY = 0.3  # seconds the server takes before answering
CONCURRENCY = 64
CONTENDERS = ("rawllm-limits", "rawllm-learn", "openai", "openai-tenacity", "rawllm-redis-4p")


def plan(n: int, seed: int = 6) -> list[int]:
    """max_tokens of each request (the same plan for every contender)."""
    rng = random.Random(seed)
    return [rng.randint(20, 120) for _ in range(n)]


def messages(i: int) -> list[dict[str, str]]:
    words = " ".join(f"w{(i + k) % 97}" for k in range(PROMPT_WORDS))
    return [{"role": "user", "content": words}]


def ideal_seconds(caps: list[int], rpm: float, tpm: float) -> float:
    """Seconds the budget's *rates* impose (the server's one-second burst not counted:
    spending it is what a smooth client must not do)."""
    tokens = sum(PROMPT_WORDS + c for c in caps)
    return max(len(caps) * 60 / rpm, tokens * 60 / tpm)


# ------------------------------------------------------------------ children


async def _child_rawllm(url: str, caps: list[int], args: argparse.Namespace) -> dict[str, Any]:
    import rawllm

    store = None
    if args.contender == "rawllm-learn":
        limit = rawllm.RateLimit(max_concurrency=CONCURRENCY)
    else:
        if args.redis:
            store = rawllm.RedisStore(args.redis, key=args.redis_key)
        limit = rawllm.RateLimit(
            requests_per_minute=args.rpm,
            tokens_per_minute=args.tpm,
            max_concurrency=CONCURRENCY,
            store=store,
        )
    failed = 0
    async with rawllm.OpenAI(
        api_key="sk-bench", base_url=url + "/v1", rate_limit=limit, max_retries=5
    ) as client:

        async def one(i: int) -> None:
            nonlocal failed
            try:
                await client.chat.completions.create(
                    model="gpt-4o-mini", messages=messages(i), max_tokens=caps[i]
                )
            except rawllm.APIError:
                failed += 1

        t0 = time.time()
        await asyncio.gather(*(one(i) for i in range(args.first, args.first + args.count)))
        t1 = time.time()
        r429 = client.limiter.state.rate_limited
        if args.verbose:
            print(client.limiter.state, file=sys.stderr)
    if store is not None:
        await store.aclose()
    return {"start": t0, "end": t1, "failed": failed, "r429": r429}


async def _child_openai(url: str, caps: list[int], args: argparse.Namespace) -> dict[str, Any]:
    import httpx
    import openai

    r429 = 0

    async def hook(response: httpx.Response) -> None:
        nonlocal r429
        if response.status_code == 429:
            r429 += 1

    http = httpx.AsyncClient(
        event_hooks={"response": [hook]},
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=1000),
        timeout=60,
    )
    client = openai.AsyncOpenAI(api_key="sk-bench", base_url=url + "/v1", http_client=http)
    sem = asyncio.Semaphore(CONCURRENCY)
    failed = 0

    async def call(i: int) -> None:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=messages(i), max_tokens=caps[i]
        )

    if args.contender == "openai-tenacity":
        from tenacity import retry, stop_after_attempt, wait_random_exponential

        call = retry(wait=wait_random_exponential(min=1, max=60), stop=stop_after_attempt(6))(call)

    async def one(i: int) -> None:
        nonlocal failed
        async with sem:
            try:
                await call(i)
            except Exception:
                failed += 1

    t0 = time.time()
    await asyncio.gather(*(one(i) for i in range(args.first, args.first + args.count)))
    t1 = time.time()
    await client.close()
    return {"start": t0, "end": t1, "failed": failed, "r429": r429}


def child_main(args: argparse.Namespace) -> None:
    caps = plan(args.n)
    fn = _child_openai if args.contender.startswith("openai") else _child_rawllm
    result = asyncio.run(fn(args.url, caps, args))
    print(json.dumps(result))


# ------------------------------------------------------------------ parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server process exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env.pop(k, None)
    return env


def _start_server(rpm: float, tpm: float) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    cmd = [
        sys.executable, "-m", "rawllm.testing", "--port", str(port), "--rpm", str(rpm),
        "--tpm", str(tpm), "--latency", str(LATENCY), "--tokens", "200",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_port(port, proc)
    return proc, f"http://127.0.0.1:{port}"


def _start_redis() -> tuple[subprocess.Popen[bytes], str] | None:
    if shutil.which("redis-server") is None:
        return None
    try:
        import redis  # noqa: F401
    except ImportError:
        return None
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_port(port, proc)
    return proc, f"redis://127.0.0.1:{port}/0"


def _child(contender: str, url: str, args: argparse.Namespace, first: int, count: int,
           redis_url: str | None = None, key: str = "") -> subprocess.Popen[bytes]:  # fmt: skip
    cmd = [
        sys.executable, "-m", "benchmarks.bench_goodput", "--child", contender, "--url", url,
        "--n", str(args.n), "--rpm", str(args.rpm), "--tpm", str(args.tpm),
        "--first", str(first), "--count", str(count),
    ]  # fmt: skip
    if args.verbose:
        cmd.append("--verbose")
    if redis_url:
        cmd += ["--redis", redis_url, "--redis-key", key]
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, cwd=ROOT)


def run_one(contender: str, args: argparse.Namespace, redis_url: str | None) -> dict[str, Any]:
    server, url = _start_server(args.rpm, args.tpm)
    try:
        if contender == "rawllm-redis-4p":
            if redis_url is None:
                return {"contender": contender, "skipped": "redis-server or redis missing"}
            per = args.n // 4
            key = f"bench:{time.time_ns()}"
            procs = [
                _child("rawllm-redis-4p", url, args, k * per, per, redis_url, key) for k in range(4)
            ]
            outs = [json.loads(p.communicate()[0]) for p in procs]
            start = min(o["start"] for o in outs)
            end = max(o["end"] for o in outs)
            failed = sum(o["failed"] for o in outs)
            r429 = sum(o["r429"] for o in outs)
            n = per * 4
        else:
            out = json.loads(_child(contender, url, args, 0, args.n).communicate()[0])
            start, end, n = out["start"], out["end"], args.n
            failed, r429 = out["failed"], out["r429"]
    finally:
        server.terminate()
        server.wait(10)
    caps = plan(args.n)[:n]
    ideal = ideal_seconds(caps, args.rpm, args.tpm) + LATENCY
    elapsed = end - start
    return {
        "contender": contender,
        "requests": n,
        "seconds": round(elapsed, 2),
        "ideal": round(ideal, 2),
        "vs_ideal": round(elapsed / ideal, 3),
        "answered_429": r429,
        "failed": failed,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """The goodput scenario for ``python -m benchmarks`` (``{"results": {name: row}}``).

    Both the quick and the full suite use the short configuration (300
    requests at 3,000 RPM, about a minute for all contenders) so the full
    suite stays near ten minutes; ``python -m benchmarks.bench_goodput`` runs
    the issue's 2,000 requests at 600 RPM (about 17 minutes).
    """
    args = _parse(["--quick"])
    names = [n for n in CONTENDERS if not (quick and n == "openai-tenacity")]
    redis = _start_redis() if "rawllm-redis-4p" in names else None
    results: dict[str, Any] = {}
    try:
        for name in names:
            row = run_one(name, args, redis[1] if redis else None)
            results[name] = {k: v for k, v in row.items() if k != "contender"}
    finally:
        if redis is not None:
            redis[0].terminate()
            redis[0].wait(10)
    return {
        "requests": args.n,
        "rpm": args.rpm,
        "tpm": args.tpm,
        "latency": LATENCY,
        "results": results,
    }


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="300 requests at 3,000 RPM")
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--rpm", type=float, default=None)
    p.add_argument("--tpm", type=float, default=None)
    p.add_argument("--only", default=None, help="comma-separated contenders")
    p.add_argument("--json", action="store_true")
    p.add_argument("--verbose", action="store_true", help="children print the limiter state")
    # child mode
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--url", default=None, help=argparse.SUPPRESS)
    p.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--redis", default=None, help=argparse.SUPPRESS)
    p.add_argument("--redis-key", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.n = args.n or 300
        args.rpm = args.rpm or 3000.0
    args.n = args.n or 2000
    args.rpm = args.rpm or 600.0
    # tokens: about 90% of what the request budget lets through on average
    args.tpm = args.tpm or round(args.rpm * (PROMPT_WORDS + 70) / 0.9, -2)
    return args


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    if args.child:
        args.contender = args.child
        child_main(args)
        return
    names = args.only.split(",") if args.only else list(CONTENDERS)
    redis = _start_redis() if "rawllm-redis-4p" in names else None
    rows = []
    try:
        for name in names:
            row = run_one(name, args, redis[1] if redis else None)
            rows.append(row)
            if not args.json:
                print(json.dumps(row), flush=True)
    finally:
        if redis is not None:
            redis[0].terminate()
            redis[0].wait(10)
    if args.json:
        print(json.dumps({"n": args.n, "rpm": args.rpm, "tpm": args.tpm, "results": rows}))
        return
    print(f"\n{args.n} requests, {args.rpm:.0f} RPM, {args.tpm:.0f} TPM, latency {LATENCY}s")
    head = ("contender", "seconds", "ideal", "vs ideal", "429 answers", "failed")
    print("{:18} {:>8} {:>7} {:>9} {:>12} {:>7}".format(*head))
    for r in rows:
        if "skipped" in r:
            print(f"{r['contender']:18} skipped: {r['skipped']}")
            continue
        print(
            f"{r['contender']:18} {r['seconds']:8.2f} {r['ideal']:7.2f} {r['vs_ideal']:9.3f} "
            f"{r['answered_429']:12d} {r['failed']:7d}"
        )


if __name__ == "__main__":
    main()
