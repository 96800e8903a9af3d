"""Child process: run one contender's scenarios and print one JSON line.

Usage: ``python -m benchmarks.contenders NAME SPEC_JSON``; ``NAME+uvloop`` runs
contender NAME on uvloop's event loop.  The parent
(`benchmarks._harness`) starts a fresh process per contender and repetition,
pinned to the client core.  Everything measured here is this process's own
cost: CPU from ``time.process_time()`` (user + system, all threads), wall from
``time.perf_counter()``, memory from the resident set size.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import os
import resource
import sys
import time
import traceback
from typing import Any

from benchmarks.contenders import MODULES

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Current resident set size (Linux /proc; elsewhere the peak, which is the best we have)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def _drive(fn: Any, concurrency: int, count: int) -> int:
    """Run ``count`` calls of ``fn`` with ``concurrency`` workers; return items consumed."""
    remaining = count
    items = 0

    async def worker() -> None:
        nonlocal remaining, items
        while remaining > 0:
            remaining -= 1
            got = await fn()  # not `items += await fn()`: that reads items before awaiting
            items += got

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    return items


async def _start(fn: Any, n: int, batch: int, gap: float = 0.05) -> list[asyncio.Future[Any]]:
    """Start ``n`` calls, ``batch`` at a time ``gap`` seconds apart (a ramp, not a storm)."""
    tasks: list[asyncio.Future[Any]] = []
    for i in range(0, n, batch):
        if i:
            await asyncio.sleep(gap)
        tasks += [asyncio.ensure_future(fn()) for _ in range(min(batch, n - i))]
    return tasks


async def run_throughput(client: Any, sc: dict[str, Any]) -> dict[str, Any]:
    fn = getattr(client, sc["op"])
    await _drive(fn, sc["concurrency"], sc["warmup"])
    gc.collect()
    c0 = time.process_time()
    w0 = time.perf_counter()
    items = await _drive(fn, sc["concurrency"], sc["requests"])
    wall = time.perf_counter() - w0
    cpu = time.process_time() - c0
    return {"cpu_s": cpu, "wall_s": wall, "requests": sc["requests"], "items": items}


async def run_memory(client: Any, sc: dict[str, Any], warm: Any) -> dict[str, Any]:
    """RSS growth per call while ``inflight`` calls wait on a server that never answers in time.

    A second client of the same kind warms up against the fast server (imports,
    caches), then this client starts ``inflight`` calls against a server that
    holds each answer for a long time.  Once the process goes idle (no CPU spent
    for 0.3 s: every call is sent and waiting) the RSS is read, and the calls
    are cancelled.
    """
    fn = getattr(client, sc["op"])
    await warm.start()
    await _drive(getattr(warm, sc["op"]), sc["warmup"], sc["warmup"])
    await warm.aclose()
    gc.collect()
    base = rss_bytes()
    n = sc["inflight"]
    w0 = time.perf_counter()
    tasks = await _start(fn, n, sc.get("batch", n))
    last_cpu, idle_since = time.process_time(), time.perf_counter()
    while time.perf_counter() - w0 < 120:
        await asyncio.sleep(0.05)
        cpu = time.process_time()
        if cpu - last_cpu > 0.005:  # still sending
            idle_since = time.perf_counter()
        last_cpu = cpu
        if time.perf_counter() - idle_since >= 0.3:
            break
    rss = rss_bytes()
    wall = time.perf_counter() - w0
    pending = sum(1 for t in tasks if not t.done())
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if pending != n:
        raise RuntimeError(f"only {pending} of {n} calls were in flight when measured")
    return {
        "rss_base": base,
        "rss_inflight": rss,
        "inflight": n,
        "wall_s": wall,
        "bytes_per_request": (rss - base) / n,
    }


async def run_swarm(client: Any, sc: dict[str, Any]) -> dict[str, Any]:
    """``streams`` streams open at once: CPU per event, peak RSS, time to first event.

    The streams are started ``batch`` at a time, 50 ms apart (a ramp: a storm of
    connects beyond the server's accept backlog would measure the backlog), and
    each stream's time to first event runs from its own start to its first
    decoded event; the peak RSS is sampled every 50 ms while they run.
    """
    fn = getattr(client, sc["op"] + "_ttfe")
    await _drive(getattr(client, sc["op"]), sc["warmup"], sc["warmup"])
    gc.collect()
    base = peak = rss_bytes()
    done = False

    async def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, rss_bytes())
            await asyncio.sleep(0.05)

    async def one() -> tuple[int, float]:
        t = time.perf_counter()
        n, first = await fn()
        return n, first - t

    sampler = asyncio.ensure_future(sample())
    c0 = time.process_time()
    w0 = time.perf_counter()
    tasks = await _start(one, sc["streams"], sc.get("batch", sc["streams"]))
    answers = await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - w0
    cpu = time.process_time() - c0
    done = True
    await sampler
    ok = [a for a in answers if isinstance(a, tuple)]
    errors = [a for a in answers if not isinstance(a, tuple)]
    ttfe = sorted(t for _, t in ok)
    events = sum(n for n, _ in ok)

    def pct(q: float) -> float | None:
        return ttfe[min(len(ttfe) - 1, int(q * len(ttfe)))] if ttfe else None

    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "streams": sc["streams"],
        "completed": len(ok),
        "errors": len(errors),
        "first_error": repr(errors[0])[:200] if errors else None,
        "events": events,
        "rss_base": base,
        "rss_peak": peak,
        "ttfe_p50_s": pct(0.5),
        "ttfe_p99_s": pct(0.99),
    }


async def main_async(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"contender": name, "results": {}}
    try:
        mod = importlib.import_module("benchmarks.contenders." + MODULES[name.partition("+")[0]])
    except Exception as exc:  # not installed, or not runnable in this tree
        out["skipped"] = f"{type(exc).__name__}: {exc}"
        return out
    out["versions"] = mod.versions()
    kwargs = {"pace": spec["pace"]} if getattr(mod, "PACED", False) else {}
    client = mod.Client(spec["root"], spec["pool"], **kwargs)
    await client.start()
    try:
        for sc in spec["scenarios"]:
            api = "messages" if sc["op"].startswith("messages") else "chat"
            if api not in mod.APIS:
                if not sc.get("alt_op"):
                    continue
                sc = {**sc, "op": sc["alt_op"]}  # memory: messages for a messages-only SDK
            try:
                if sc["kind"] == "swarm":
                    res = await run_swarm(client, sc)
                elif sc["kind"] == "memory":
                    warm = mod.Client(spec["warm_root"], spec["pool"], **kwargs)
                    res = await run_memory(client, sc, warm)
                else:
                    res = await run_throughput(client, sc)
            except Exception as exc:
                tb = traceback.format_exc(limit=3)
                print(tb, file=sys.stderr)
                res = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            out["results"][sc["id"]] = res
    finally:
        await client.aclose()
    return out


def main() -> None:
    name, spec_json = sys.argv[1], sys.argv[2]
    spec = json.loads(spec_json)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 <= hard or (soft < 4096 and hard == resource.RLIM_INFINITY):
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    run: Any = asyncio.run
    if name.endswith("+uvloop"):  # the same contender on uvloop's event loop
        import uvloop

        run = uvloop.run
    out = run(main_async(name, spec))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
