"""A fleet sharing one budget: 8 processes, one ``RedisStore`` key, the budget changed
mid-run, one process killed (issue 17, item 5).

Each worker process runs ``concurrency`` loops of chat calls against one
MockServer through ``rawllm.OpenAI(rate_limit=RateLimit(requests_per_minute=R,
store=RedisStore(url, key=K)))``; at the planned times every worker switches
to the next budget (a new client with the new R, same store and key), and at
``kill_at`` the parent sends SIGKILL to worker 0.

Recorded per worker (a line per event, flushed at once, so a killed worker's
record survives it): each start Redis granted (Redis's clock, the instant the
budget was charged), each grant given back (a call cancelled before it
sent), each answered call.  Reported:

* ``max_window_excess``: in every closed one-second window, combined starts
  minus the bound the budget allows (``ceil(R / 60) + 1``, R the larger
  budget when a window spans a change); <= 0 means the budget held;
* ``goodput_ratio``: answered calls / what the budget allows over the run;
* ``after_kill_ratio``: the survivors' combined start rate after the kill /
  the budget (they take the freed share: close to 1).

Usage::

    python -m benchmarks.bench_fleet              # 8 processes, 600 -> 1200 -> 480 RPM, 12 s
    python -m benchmarks.bench_fleet --quick      # 8 processes, 6 s
    python -m benchmarks.bench_fleet --json
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# -- redis-server ---------------------------------------------------------------------


def redis_missing() -> str | None:
    """Why the fleet cannot run here (None: it can)."""
    if shutil.which("redis-server") is None:
        return "redis-server binary not found (apt-get install redis-server)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "redis package not installed (pip install 'rawllm[redis]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1; yields its URL."""
    port = _free_port()
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    proc = subprocess.Popen(
        [*args, "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


# -- one worker process -------------------------------------------------------------------


async def _worker(cfg: dict[str, Any]) -> None:
    import rawllm
    from rawllm import RateLimit, RedisStore

    log = open(cfg["events"], "w", buffering=1)  # noqa: SIM115 (a line each, kept on SIGKILL)

    class Recording(RedisStore):
        async def reserve(self, cost: int, rpm: float | None, tpm: float | None) -> Any:
            answer = await super().reserve(cost, rpm, tpm)
            if answer is not None and answer[1] is not None:
                log.write(f"g {answer[1][0] / 1e6:.6f}\n")
            return answer

        async def refund(self, receipt: Any) -> None:
            await super().refund(receipt)
            log.write(f"r {receipt[0] / 1e6:.6f}\n")

    store = Recording(cfg["redis"], key=cfg["key"], max_connections=8)
    schedule: list[tuple[float, float]] = cfg["schedule"]
    messages = [{"role": "user", "content": "hello fleet"}]
    # Warm up off the budget: Redis connection and script, the HTTP stack.
    warm = RedisStore(cfg["redis"], key=cfg["key"] + ":warmup")
    await warm.reserve(1, None, None)
    await warm.aclose()
    await store._call("pause", 0)  # this store's connection and script, no budget used
    async with rawllm.OpenAI(api_key="k", base_url=cfg["base_url"]) as client:
        await client.chat.completions.create(model="m", messages=messages)
    log.write(f"w {time.time():.6f}\n")
    # The parent writes the common start time once every worker is warm.
    go = Path(cfg["go"])
    while not go.exists():
        await asyncio.sleep(0.01)
    t0 = float(go.read_text())
    while time.time() < t0:
        await asyncio.sleep(0.002)
    for i, (_start, rpm) in enumerate(schedule):
        end = t0 + (schedule[i + 1][0] if i + 1 < len(schedule) else cfg["duration"])
        limit = RateLimit(requests_per_minute=rpm, store=store)
        async with rawllm.OpenAI(
            api_key="k", base_url=cfg["base_url"], rate_limit=limit, max_retries=0
        ) as client:

            async def calls(c: Any = client) -> None:
                while True:
                    try:
                        await c.chat.completions.create(model="m", messages=messages)
                    except rawllm.APIError:
                        log.write(f"e {time.time():.6f}\n")
                    else:
                        log.write(f"d {time.time():.6f}\n")

            tasks = [asyncio.ensure_future(calls()) for _ in range(cfg["concurrency"])]
            await asyncio.sleep(max(0.0, end - time.time()))
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0.05)  # refunds of cancelled waiters reach Redis
    await store.aclose()
    log.close()


# -- the fleet ------------------------------------------------------------------------------


def _max_excess(starts: list[float], schedule: list[tuple[float, float]], t0: float) -> int:
    """Largest (starts in a closed 1 s window) - (the bound of the budget in that window)."""

    def bound(a: float, b: float) -> int:
        rpms = [
            rpm
            for i, (s, rpm) in enumerate(schedule)
            if t0 + s <= b and (i + 1 == len(schedule) or t0 + schedule[i + 1][0] >= a)
        ]
        return math.ceil(max(rpms) / 60) + 1

    worst = -(10**9)
    for i, s in enumerate(starts):
        n = bisect.bisect_right(starts, s + 1.0) - i
        worst = max(worst, n - bound(s, s + 1.0))
    return worst


def run_fleet(
    redis_url: str,
    *,
    processes: int = 8,
    schedule: list[tuple[float, float]],
    duration: float,
    kill_at: float | None,
    concurrency: int = 4,
    key: str | None = None,
) -> dict[str, Any]:
    """Run the fleet once; return the figures (see the module docstring).

    Args:
        redis_url: the shared Redis.
        processes: worker processes.
        schedule: ``[(seconds from start, requests per minute), ...]``; the first at 0.
        duration: seconds from start to the end.
        kill_at: seconds from start when worker 0 gets SIGKILL (None: never).
        concurrency: call loops per worker.
    """
    from rawllm.testing import MockServer

    key = key or f"fleet:{os.getpid()}:{time.time_ns()}"
    server = MockServer(record=False).start_in_thread()
    tmp = tempfile.mkdtemp(prefix="rawllm-fleet-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        go = os.path.join(tmp, "go")
        for w in range(processes):
            cfg = {
                "redis": redis_url,
                "key": key,
                "base_url": server.openai_base_url,
                "go": go,
                "schedule": schedule,
                "duration": duration,
                "concurrency": concurrency,
                "events": os.path.join(tmp, f"w{w}.log"),
            }
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.bench_fleet", "--worker", json.dumps(cfg)],
                    cwd=ROOT,
                    env=env,
                )
            )
        logs = [os.path.join(tmp, f"w{w}.log") for w in range(processes)]
        deadline = time.monotonic() + 120
        while not all(os.path.exists(p) and "w " in Path(p).read_text() for p in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("fleet workers did not start")
            time.sleep(0.05)
        t0 = time.time() + 0.5
        Path(go + ".tmp").write_text(repr(t0))
        os.replace(go + ".tmp", go)
        if kill_at is not None:
            time.sleep(max(0.0, t0 + kill_at - time.time()))
            procs[0].send_signal(signal.SIGKILL)
            killed_at = time.time()
        for p in procs:
            p.wait(timeout=duration + 60)
        codes = [p.returncode for p in procs]
        events: list[dict[str, list[float]]] = []
        for w in range(processes):
            per: dict[str, list[float]] = {"g": [], "r": [], "d": [], "e": [], "w": []}
            with open(os.path.join(tmp, f"w{w}.log")) as f:
                for line in f:
                    kind, _, value = line.partition(" ")
                    if kind in per and value.endswith("\n"):
                        per[kind].append(float(value))
            events.append(per)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        server.stop_thread()
        shutil.rmtree(tmp, ignore_errors=True)

    starts: list[float] = []
    for per in events:
        refunded = sorted(per["r"])
        for g in per["g"]:
            i = bisect.bisect_left(refunded, g - 1e-6)
            if i < len(refunded) and abs(refunded[i] - g) <= 1e-6:
                refunded.pop(i)  # a grant given back is not a start
            else:
                starts.append(g)
    starts.sort()
    allowed = 0.0
    for i, (s, rpm) in enumerate(schedule):
        e = schedule[i + 1][0] if i + 1 < len(schedule) else duration
        allowed += rpm / 60 * (e - s)
    answered = sum(len(per["d"]) for per in events)
    out: dict[str, Any] = {
        "processes": processes,
        "schedule_rpm": [rpm for _, rpm in schedule],
        "duration_s": duration,
        "starts": len(starts),
        "answered": answered,
        "errors": sum(len(per["e"]) for per in events),
        "allowed_by_budget": round(allowed, 1),
        "goodput_ratio": round(answered / allowed, 4),
        "max_window_excess": _max_excess(starts, schedule, t0),
        "exit_codes": codes,
    }
    if kill_at is not None:
        # The survivors' starts after the kill, until the next budget change or the end.
        phase = max(i for i, (s, _) in enumerate(schedule) if s <= kill_at)
        end = t0 + (schedule[phase + 1][0] if phase + 1 < len(schedule) else duration)
        a = killed_at + 0.5
        n = bisect.bisect_left(starts, end) - bisect.bisect_left(starts, a)
        rate = n / (end - a) if end > a else 0.0
        out["after_kill_ratio"] = round(rate / (schedule[phase][1] / 60), 4)
        out["killed_starts_after_kill"] = sum(1 for g in events[0]["g"] if g > killed_at + 0.05)
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """The benchmark as ``python -m benchmarks`` runs it."""
    reason = redis_missing()
    if reason is not None:
        return {"skipped": reason}
    if quick:
        schedule, duration, kill = [(0.0, 600.0), (2.0, 1200.0), (4.0, 480.0)], 6.0, 3.0
    else:
        schedule, duration, kill = [(0.0, 600.0), (4.0, 1200.0), (8.0, 480.0)], 12.0, 6.0
    with redis_server() as url:
        return run_fleet(url, schedule=schedule, duration=duration, kill_at=kill)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        asyncio.run(_worker(json.loads(args.worker)))
        return 0
    result = run(quick=args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:>26}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
