"""RedisStore against a real redis-server that this file starts on 127.0.0.1.

Skipped with a reason when ``redis-server`` or the ``redis`` package is
missing, unless ``RAWLLM_REQUIRE_REDIS=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import math
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from rawllm import APIConnectionError, RateLimit
from rawllm._limiter import Limiter

pytestmark = pytest.mark.redis

REQUIRE = os.environ.get("RAWLLM_REQUIRE_REDIS") == "1"


def _missing() -> str | None:
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


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    reason = _missing()
    if reason is not None:
        if REQUIRE:
            pytest.fail(f"RAWLLM_REQUIRE_REDIS=1 but {reason}")
        pytest.skip(reason)
    port = _free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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


def _max_in_closed_window(starts: list[float], width: float = 1.0) -> int:
    starts = sorted(starts)
    return max(bisect.bisect_right(starts, s + width) - i for i, s in enumerate(starts))


async def test_reserve_spaces_starts_with_the_server_clock(redis_url: str) -> None:
    from rawllm import RedisStore

    store = RedisStore(redis_url, key="t:spacing")
    try:
        first = await store.reserve(1, 600.0, None)
        assert first is not None and first[0] == 0.0
        second = await store.reserve(1, 600.0, None)
        assert second is not None
        wait, receipt = second
        assert receipt is None and 0.05 < wait <= 0.1  # nothing consumed, come back later
        again = await store.reserve(1, 600.0, None)
        assert again is not None and again[1] is None and again[0] <= wait
        # a refund of the latest start gives its slot back
        await store.refund(first[1])
        after = await store.reserve(1, 600.0, None)
        assert after is not None and after[0] == 0.0
    finally:
        await store.aclose()


async def test_tokens_adjust_and_shared_pause(redis_url: str) -> None:
    from rawllm import RedisStore

    store = RedisStore(redis_url, key="t:tokens")
    try:
        got = await store.reserve(500, None, 60_000.0)  # 1000 tokens / s
        assert got is not None and got[0] == 0.0
        wait = (await store.reserve(1, None, 60_000.0))[0]  # type: ignore[index]
        assert 0.4 < wait <= 0.5
        await store.adjust(-400, 60_000.0)  # usage was 100
        wait = (await store.reserve(1, None, 60_000.0))[0]  # type: ignore[index]
        assert wait <= 0.1
        await asyncio.sleep(wait)
        assert (await store.reserve(1, None, 60_000.0))[0] == 0.0  # type: ignore[index]
        await store.pause(0.3)
        wait = (await store.reserve(1, None, None))[0]  # type: ignore[index]
        assert 0.2 < wait <= 0.3
    finally:
        await store.aclose()


async def test_limiter_with_store_and_shared_429(redis_url: str) -> None:
    from rawllm import RedisStore

    a_store = RedisStore(redis_url, key="t:limiter")
    b_store = RedisStore(redis_url, key="t:limiter")
    cfg = dict(requests_per_minute=1200)
    a = Limiter(RateLimit(**cfg, store=a_store))
    b = Limiter(RateLimit(**cfg, store=b_store))
    try:
        t0 = time.monotonic()
        times: list[float] = []

        async def one(lim: Limiter) -> None:
            (await lim.acquire(1)).release()
            times.append(time.monotonic() - t0)

        await asyncio.gather(*(one(a if i % 2 else b) for i in range(20)))
        # two limiters, one budget: 20 starts at 20 / s take ~0.95 s, not half of it
        assert max(times) >= 0.9
        # a slowdown opened by a (a run of 429s: a limit overshot) pauses b as well
        while not a.state.slowdowns:
            a.observe(429, {"retry-after": "0.5"})
        await asyncio.sleep(0.05)
        t1 = time.monotonic()
        (await b.acquire(1)).release()
        assert time.monotonic() - t1 >= 0.35
    finally:
        await a_store.aclose()
        await b_store.aclose()


async def test_many_concurrent_calls_queue_for_connections(redis_url: str) -> None:
    # redis-py's default pool raises MaxConnectionsError past its limit, which
    # must not be mistaken for "Redis is down" (and fail open).
    from rawllm import RedisStore

    store = RedisStore(redis_url, key="t:many", max_connections=4)
    try:
        answers = await asyncio.gather(*(store.reserve(1, None, None) for _ in range(300)))
        assert all(a is not None and a[0] == 0.0 for a in answers)
    finally:
        await store.aclose()


async def test_fail_open_and_fail_closed(caplog: pytest.LogCaptureFixture) -> None:
    if _missing() is not None and not REQUIRE:
        pytest.skip(_missing() or "")
    from rawllm import RedisStore

    dead = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    open_store = RedisStore(dead, key="t:dead", timeout=0.2)
    assert "fail_open" in repr(open_store)
    with caplog.at_level(logging.WARNING, logger="rawllm"):
        assert await open_store.reserve(1, 60.0, None) is None
        assert await open_store.reserve(1, 60.0, None) is None
    assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1  # warned once
    lim = Limiter(RateLimit(requests_per_minute=6000, store=open_store))
    (await lim.acquire(1)).release()  # proceeds on the local budget
    assert not lim.state.store_available
    await open_store.aclose()

    closed = RedisStore(dead, key="t:dead", fail_open=False, timeout=0.2)
    with pytest.raises(APIConnectionError):
        await closed.reserve(1, 60.0, None)
    lim = Limiter(RateLimit(requests_per_minute=60, store=closed))
    with pytest.raises(APIConnectionError):
        await lim.acquire(1)
    await closed.aclose()


def test_repr_hides_password() -> None:
    from rawllm._redis_store import RedisStore

    s = RedisStore("redis://user:s3cret@10.0.0.1:6379/0", key="k")
    assert "s3cret" not in repr(s) and "10.0.0.1" in repr(s)


_WORKER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from rawllm import RateLimit, RedisStore
    from rawllm._limiter import Limiter

    async def main(url, key, rpm, n, t_start):
        granted, seen = [], []

        class Spy(RedisStore):
            async def reserve(self, cost, r, t):
                answer = await super().reserve(cost, r, t)
                if answer is not None and answer[1] is not None:
                    granted.append(answer[1][0] / 1e6)  # the Redis clock at the grant
                return answer

        store = Spy(url, key=key)
        lim = Limiter(RateLimit(requests_per_minute=rpm, store=store))
        while time.time() < t_start:
            await asyncio.sleep(0.005)

        async def call():
            permit = await lim.acquire(1)
            seen.append(time.time())
            permit.release()

        await asyncio.gather(*(call() for _ in range(n)))
        await store.aclose()
        print(json.dumps({"granted": granted, "seen": seen}))

    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]),
                     float(sys.argv[5])))
    """
)


def test_processes_sharing_one_key_respect_the_budget(redis_url: str) -> None:
    procs_n, per_proc, rpm = 4, 40, 1800.0  # 30 / s shared: 160 starts take ~5.3 s
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t_start = time.time() + 1.5  # all begin together, after their imports
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                redis_url,
                "t:procs",
                str(rpm),
                str(per_proc),
                str(t_start),
            ],
            stdout=subprocess.PIPE,
            env=env,
        )
        for _ in range(procs_n)
    ]
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        results.append(json.loads(out))
    granted = sorted(t for r in results for t in r["granted"])
    seen = sorted(t for r in results for t in r["seen"])
    assert len(granted) == len(seen) == procs_n * per_proc
    bound = math.ceil(rpm / 60) + 1
    # the budget as Redis granted it: exact
    assert _max_in_closed_window(granted) <= bound
    ideal = (len(granted) - 1) * 60 / rpm
    # never faster than the budget; close to it (5 processes share 2 cores in CI)
    assert ideal * 0.999 <= granted[-1] - granted[0] <= ideal * 1.15
    # as the processes saw it (scheduling noise of a few ms allowed for)
    assert _max_in_closed_window(seen) <= bound + 1
    assert (seen[-1] - seen[0]) >= (len(seen) - 1) * 60 / rpm * 0.95
